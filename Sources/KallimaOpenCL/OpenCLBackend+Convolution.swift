import KallimaCore

/// Convolutions as im2col/col2im + no-transpose GEMMs (Kernels/gemm.cl or CLBlast, as the
/// GEMM selection says per shape; see Kernels/conv.cl for the scheme). conv2d and its
/// transpose share three routines over `ConvGeometry`, exactly as the CPU reference does:
/// gridFromImage, imageFromGrid and weightGradient.
extension OpenCLBackend {
  /// Workspace slots: 0 holds the column matrix (or its transpose), 1 a channel-major
  /// [K, N*OH*OW] tensor, 5 a transposed weight matrix (4: GEMM partial sums).
  static let columnsSlot = 0
  static let channelMajorSlot = 1
  static let transposedWeightSlot = 5

  /// The layer geometry as compile-time constants of Kernels/conv.cl.
  func geometryDefines(_ g: ConvGeometry) -> [(String, Int)] {
    [("IMG_C", g.c), ("IMG_H", g.h), ("IMG_W", g.w), ("KH", g.kh), ("KW", g.kw), ("SH", g.sh), ("SW", g.sw),
     ("PH", g.ph), ("PW", g.pw), ("OH", g.oh), ("OW", g.ow), ("NB", g.n)]
  }

  /// cols [patchSize, patchCount] with row stride `ld`.
  func im2col(_ g: ConvGeometry, image: CLBuffer, ld: Int) throws -> CLBuffer {
    let cols = try workspace(OpenCLBackend.columnsSlot, count: g.patchSize * ld)
    try launch(
      "im2col", items: g.patchSize * g.n, defines: geometryDefines(g) + [("COLS_LD", ld)],
      [.buffer(image), .buffer(cols)])
    return cols
  }

  func permuteDefines(n: Int, c: Int, p: Int, ld: Int) -> [(String, Int)] {
    [("NB", n), ("PERM_C", c), ("PERM_P", p), ("PERM_LD", ld)]
  }

  /// [N, K, P] -> [K, N*P] with row stride `ld` in the channel-major workspace.
  func toChannelMajor(_ g: ConvGeometry, grid: CLBuffer, ld: Int) throws -> CLBuffer {
    let p = g.oh * g.ow
    let out = try workspace(OpenCLBackend.channelMajorSlot, count: g.k * ld)
    try launch(
      "nchw_to_cnhw", items: g.n * g.k * p, defines: permuteDefines(n: g.n, c: g.k, p: p, ld: ld),
      [.buffer(grid), .buffer(out)])
    return out
  }

  /// grid[n,k,oy,ox] = Σ image·w (+ bias[k]): conv2d forward, conv-transpose data gradient.
  func gridFromImage(_ g: ConvGeometry, image: CLBuffer, weight: CLBuffer, bias: CLBuffer?, grid: CLBuffer) throws {
    try locked {
      let ld = OpenCLBackend.leadingDimension(g.patchCount)
      let cols = try im2col(g, image: image, ld: ld)
      let p = g.oh * g.ow
      if g.n == 1 {
        // [K, 1*P] is already NCHW: GEMM straight into the output.
        try gemm(
          m: g.k, n: g.patchCount, k: g.patchSize, a: weight, lda: g.patchSize, b: cols, ldb: ld, c: grid,
          ldc: g.patchCount)
        if let bias {
          try launchRowRuns(
            "add_channel_planes", rowLength: p, rows: g.k,
            [.buffer(grid), .buffer(bias), .buffer(grid), .int(g.k), .int(p), .int(g.k)])
        }
        return
      }
      let channelMajor = try workspace(OpenCLBackend.channelMajorSlot, count: g.k * ld)
      try gemm(
        m: g.k, n: g.patchCount, k: g.patchSize, a: weight, lda: g.patchSize, b: cols, ldb: ld, c: channelMajor,
        ldc: ld)
      try launch(
        "cnhw_to_nchw", items: g.n * g.k * p, defines: permuteDefines(n: g.n, c: g.k, p: p, ld: ld),
        [.buffer(channelMajor), .buffer(grid), .optional(bias)])
    }
  }

  /// image[n,c,iy,ix] = Σ grid·w (+ bias[c]): conv2d data gradient, conv-transpose forward.
  func imageFromGrid(_ g: ConvGeometry, grid: CLBuffer, weight: CLBuffer, bias: CLBuffer?, image: CLBuffer) throws {
    try locked {
      let ld = OpenCLBackend.leadingDimension(g.patchCount)
      let gridMajor = g.n == 1 ? grid : try toChannelMajor(g, grid: grid, ld: ld)
      let weightT = try workspace(OpenCLBackend.transposedWeightSlot, count: g.patchSize * g.k)
      try transpose(weight, rows: g.k, columns: g.patchSize, ldSource: g.patchSize, into: weightT, ldDestination: g.k)
      let cols = try workspace(OpenCLBackend.columnsSlot, count: g.patchSize * ld)
      try gemm(
        m: g.patchSize, n: g.patchCount, k: g.k, a: weightT, lda: g.k, b: gridMajor,
        ldb: g.n == 1 ? g.patchCount : ld, c: cols, ldc: ld)
      try launch(
        "col2im", items: g.n * g.c * g.h,
        defines: geometryDefines(g) + [("COLS_LD", ld), ("COL2IM_GATHER", col2imGathers ? 1 : 0)],
        [.buffer(cols), .buffer(image), .optional(bias)])
    }
  }

  /// dw[k,c,i,j] = Σ grid·image over batch and positions: dW = grid' · colsT.
  func weightGradient(_ g: ConvGeometry, image: CLBuffer, grid: CLBuffer, dweight: CLBuffer) throws {
    try locked {
      let ldCols = OpenCLBackend.leadingDimension(g.patchSize)
      let colsT = try workspace(OpenCLBackend.columnsSlot, count: g.patchCount * ldCols)
      try launch(
        "im2col_t", items: g.patchCount * g.c, defines: geometryDefines(g) + [("COLS_LD", ldCols)],
        [.buffer(image), .buffer(colsT)])
      let ldGrid = g.n == 1 ? g.patchCount : OpenCLBackend.leadingDimension(g.patchCount)
      let gridMajor = g.n == 1 ? grid : try toChannelMajor(g, grid: grid, ld: ldGrid)
      try gemm(
        m: g.k, n: g.patchSize, k: g.patchCount, a: gridMajor, lda: ldGrid, b: colsT, ldb: ldCols, c: dweight,
        ldc: g.patchSize)
    }
  }

  public func conv2d_fwd(x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor, params: Conv2dParams) throws {
    let op = "conv2d_fwd"
    let g = try ShapeCheck.conv2d(op, x: x.shape, weight: weight.shape, y: y.shape, bias: bias?.shape, params: params)
    try gridFromImage(g, image: mem(x, op), weight: mem(weight, op), bias: bias.map { try mem($0, op) }, grid: mem(y, op))
  }

  public func conv2d_bwd_data(dy: Tensor, weight: Tensor, dx: Tensor, params: Conv2dParams) throws {
    let op = "conv2d_bwd_data"
    let g = try ShapeCheck.conv2d(op, x: dx.shape, weight: weight.shape, y: dy.shape, bias: nil, params: params)
    try imageFromGrid(g, grid: mem(dy, op), weight: mem(weight, op), bias: nil, image: mem(dx, op))
  }

  public func conv2d_bwd_weight(x: Tensor, dy: Tensor, dweight: Tensor, params: Conv2dParams) throws {
    let op = "conv2d_bwd_weight"
    let g = try ShapeCheck.conv2d(op, x: x.shape, weight: dweight.shape, y: dy.shape, bias: nil, params: params)
    try weightGradient(g, image: mem(x, op), grid: mem(dy, op), dweight: mem(dweight, op))
  }

  public func conv_transpose2d_fwd(
    x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor, params: ConvTranspose2dParams
  ) throws {
    let op = "conv_transpose2d_fwd"
    let g = try ShapeCheck.convTranspose2d(
      op, x: x.shape, weight: weight.shape, y: y.shape, bias: bias?.shape, params: params)
    try imageFromGrid(g, grid: mem(x, op), weight: mem(weight, op), bias: bias.map { try mem($0, op) }, image: mem(y, op))
  }

  public func conv_transpose2d_bwd_data(dy: Tensor, weight: Tensor, dx: Tensor, params: ConvTranspose2dParams) throws {
    let op = "conv_transpose2d_bwd_data"
    let g = try ShapeCheck.convTranspose2d(op, x: dx.shape, weight: weight.shape, y: dy.shape, bias: nil, params: params)
    try gridFromImage(g, image: mem(dy, op), weight: mem(weight, op), bias: nil, grid: mem(dx, op))
  }

  public func conv_transpose2d_bwd_weight(
    x: Tensor, dy: Tensor, dweight: Tensor, params: ConvTranspose2dParams
  ) throws {
    let op = "conv_transpose2d_bwd_weight"
    let g = try ShapeCheck.convTranspose2d(op, x: x.shape, weight: dweight.shape, y: dy.shape, bias: nil, params: params)
    try weightGradient(g, image: mem(dy, op), grid: mem(x, op), dweight: mem(dweight, op))
  }

  // MARK: Matrix

  public func matmul(
    _ a: Tensor, transposeA: Bool, _ b: Tensor, transposeB: Bool, c: Tensor, alpha: Float, beta: Float
  ) throws {
    let op = "matmul"
    let (m, n, k) = try ShapeCheck.matmul(
      op, a: a.shape, transposeA: transposeA, b: b.shape, transposeB: transposeB, c: c.shape)
    let shape = GemmShape(m: m, n: n, k: k)
    guard case .kernel = gemmSelection.algorithm(for: shape) else {
      try sgemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
        a: mem(a, op), lda: a.shape[1], b: mem(b, op), ldb: b.shape[1], beta: beta, c: mem(c, op), ldc: n)
      return
    }
    // gemm.cl multiplies untransposed operands: a transposed one is transposed into a
    // workspace first (O(m·k) or O(k·n) next to the O(m·n·k) product; a linear layer's
    // x·Wᵀ went from 14.3 ms through CLBlast to DCGAN-scale kernel speed).
    try locked {
      var (aBuffer, bBuffer) = (try mem(a, op), try mem(b, op))
      if transposeA {
        let t = try workspace(OpenCLBackend.transposedASlot, count: m * k)
        try transpose(aBuffer, rows: k, columns: m, ldSource: m, into: t, ldDestination: k)
        aBuffer = t
      }
      var ldb = n
      if transposeB {
        ldb = OpenCLBackend.leadingDimension(n)
        let t = try workspace(OpenCLBackend.paddedOperandSlot, count: k * ldb)
        try transpose(bBuffer, rows: n, columns: k, ldSource: k, into: t, ldDestination: ldb)
        bBuffer = t
      } else {
        (bBuffer, ldb) = try paddedRows(bBuffer, of: shape)
      }
      try gemm(
        m: m, n: n, k: k, alpha: alpha, a: aBuffer, lda: k, b: bBuffer, ldb: ldb, beta: beta, c: mem(c, op), ldc: n)
    }
  }
}
