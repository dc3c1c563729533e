import CKallima
import Foundation
import KallimaCore

/// SGEMM dispatch: each no-transpose product C[m, n] = A[m, k]·B[k, n] runs through the
/// algorithm `gemmSelection` names for its shape, Kernels/gemm.cl or CLBlast.
extension OpenCLBackend {
  /// The algorithm per GEMM shape; `kallima tune` measures it, the tuning table sets it.
  public var gemmSelection: GemmSelection {
    get { locked { gemmChoices } }
    set { locked { gemmChoices = newValue } }
  }

  /// Runs `body` and returns the shapes of the no-transpose GEMMs it enqueued.
  public func recordingGemmShapes(_ body: () throws -> Void) rethrows -> Set<GemmShape> {
    locked { gemmShapeLog = [] }
    defer { locked { gemmShapeLog = nil } }
    try body()
    return locked { gemmShapeLog ?? [] }
  }

  /// A leading dimension for a row of `n` floats: whole 64-byte lines, and never a multiple
  /// of 1 KiB, so that the rows a GEMM work-item walks down do not all map to the same
  /// cache sets (at 4 KiB apart they did: 90 vs 164 GFLOP/s on PoCL at n = 1024).
  static func leadingDimension(_ n: Int) -> Int {
    let ld = (n + 15) / 16 * 16
    return ld % 256 == 0 ? ld + 16 : ld
  }

  /// Workspace slot of split-K partial products.
  static let partialsSlot = 4
  /// Workspace slot of a B operand copied with padded rows (`paddedRows`) or transposed.
  static let paddedOperandSlot = 6
  /// Workspace slot of a transposed A operand (`matmul` with transposeA).
  static let transposedASlot = 7

  /// Row-major C = alpha·A·B + beta·C (C's leading dimension `ldc`), with the algorithm
  /// the selection names for the shape: gemm.cl in k-slices (`kernelSlices`), CLBlast split
  /// into a batched call when the product is small (`clblastSplit`).
  func gemm(
    m: Int, n: Int, k: Int, alpha: Float = 1, a: CLBuffer, lda: Int, b: CLBuffer, ldb: Int, beta: Float = 0,
    c: CLBuffer, ldc: Int
  ) throws {
    guard m > 0, n > 0 else { return }
    let shape = GemmShape(m: m, n: n, k: k)
    try locked {
      gemmShapeLog?.insert(shape)
      let algorithm = gemmChoices.algorithm(for: shape)
      switch algorithm {
      case .kernel:
        // k-slices one after another, each adding its product into C (beta 1 after the
        // first): any k, any ldc, alpha and beta, and no partials buffer.
        let slices = OpenCLBackend.kernelSlices(k: k)
        for (index, slice) in slices.enumerated() {
          try gemm(
            algorithm, m: m, n: n, k: slice.count, alpha: alpha, a: a, lda: lda, offsetA: slice.lowerBound, b: b,
            ldb: ldb, offsetB: slice.lowerBound * ldb, beta: index == 0 ? beta : 1, c: c, ldc: ldc)
        }
      case .clblast:
        let slices = alpha == 1 && beta == 0 && ldc == n ? OpenCLBackend.clblastSplit(shape, device: device) : 1
        if slices == 1 {
          return try gemm(
            algorithm, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
        // Partial products of each k-slice in one batched call, then their sum in order.
        let chunk = k / slices
        let size = m * n
        let partials = try workspace(OpenCLBackend.partialsSlot, count: slices * size)
        try gemm(
          algorithm, m: m, n: n, k: chunk, alpha: 1, a: a, lda: lda, b: b, ldb: ldb, beta: 0, c: partials, ldc: n,
          batch: slices, strideA: chunk, strideB: chunk * ldb, strideC: size)
        try launch("sum_slices", items: size, [.buffer(partials), .buffer(c), .int(slices), .int(size)])
      }
    }
  }

  /// The longest k-slice gemm.cl runs in one launch. Each column of work-items reads a strip
  /// of B (k rows × its columns) once per row tile, so the strip must stay in the core's
  /// cache between row tiles: measured on PoCL (AVX-512, 2 MiB L2 per core) in a DCGAN-64
  /// step, 256x4096x2048 ran at 123 GFLOP/s whole and 128x1024x16384 at 15, against
  /// 200-240 and 66 in 1024-slices.
  static let kernelSliceLength = 1024

  /// gemm.cl's k-slices: of `kernelSliceLength`, the last one shorter; they run in order,
  /// so the sum is deterministic.
  static func kernelSlices(k: Int) -> [Range<Int>] {
    guard k > kernelSliceLength else { return [0..<k] }
    return stride(from: 0, to: k, by: kernelSliceLength).map { $0..<min($0 + kernelSliceLength, k) }
  }

  /// How many slices CLBlast splits a long reduction into (1: no split): only when the
  /// product is under 4 of its 128x128 tiles per compute unit (a first or last layer's
  /// small weight gradient), in slices of at least 1024 that divide k exactly, so the
  /// slices fill the device in one batched call.
  static func clblastSplit(_ shape: GemmShape, device: OpenCLDeviceInfo) -> Int {
    let tiles = ((shape.m + 127) / 128) * ((shape.n + 127) / 128)
    guard tiles < 4 * device.computeUnits else { return 1 }
    var slices = 1
    while slices < 16 && tiles * slices < 4 * device.computeUnits && shape.k % (slices * 2) == 0
      && shape.k / (slices * 2) >= 1024
    {
      slices *= 2
    }
    return slices
  }

  /// One algorithm's run of `batch` products whose operands start `strideA`, `strideB` and
  /// `strideC` floats after the previous one's.
  func gemm(
    _ algorithm: GemmAlgorithm, m: Int, n: Int, k: Int, alpha: Float, a: CLBuffer, lda: Int, offsetA: Int = 0,
    b: CLBuffer, ldb: Int, offsetB: Int = 0, beta: Float, c: CLBuffer, ldc: Int, batch: Int = 1, strideA: Int = 0,
    strideB: Int = 0, strideC: Int = 0
  ) throws {
    switch algorithm {
    case .clblast:
      if batch == 1 {
        try sgemm(
          transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
          beta: beta, c: c, ldc: ldc)
      } else {
        try sgemmStridedBatched(
          transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, strideA: strideA,
          b: b, ldb: ldb, strideB: strideB, beta: beta, c: c, ldc: ldc, strideC: strideC, batch: batch)
      }
    case .kernel(let tile):
      try launch(
        "gemm", global: [(m + tile.rows - 1) / tile.rows, (n + tile.columns - 1) / tile.columns, batch],
        local: [1, 1, 1], defines: tile.defines, label: "gemm \(batch)x(\(m)x\(n)x\(k)) \(tile)",
        [.int(m), .int(n), .int(k), .float(alpha), .buffer(a), .int(offsetA), .int(lda), .int(strideA), .buffer(b),
         .int(offsetB), .int(ldb), .int(strideB), .float(beta), .buffer(c), .int(ldc), .int(strideC)])
    }
  }

  /// The B operand [k, n] of `shape`, or a copy of it in a workspace with rows
  /// `leadingDimension(n)` apart when its own rows are a multiple of 1 KiB apart (a user's
  /// B of 1024 columns: 80 vs 250 GFLOP/s through gemm.cl on PoCL; the copy is O(k·n) next
  /// to the O(m·n·k) product). CLBlast copies its operands itself, so its B is passed as it is.
  func paddedRows(_ matrix: CLBuffer, of shape: GemmShape) throws -> (CLBuffer, Int) {
    let (rows, columns) = (shape.k, shape.n)
    let ld = OpenCLBackend.leadingDimension(columns)
    guard columns % 256 == 0, case .kernel = gemmChoices.algorithm(for: shape) else { return (matrix, columns) }
    let padded = try workspace(OpenCLBackend.paddedOperandSlot, count: rows * ld)
    let row = columns * MemoryLayout<Float>.size
    var origin = [0, 0, 0]
    var region = [row, rows, 1]
    try CLStatus.check(
      clEnqueueCopyBufferRect(
        queue.handle, matrix.handle, padded.handle, &origin, &origin, &region, row, 0,
        ld * MemoryLayout<Float>.size, 0, 0, nil, eventSlot("pad rows")),
      "clEnqueueCopyBufferRect(\(rows) rows of \(row) bytes)")
    try enqueued()
    return (padded, ld)
  }

  /// dst[c, r] = src[r, c] for src [rows, columns] with leading dimension `ldSource`,
  /// written with leading dimension `ldDestination`.
  func transpose(_ src: CLBuffer, rows: Int, columns: Int, ldSource: Int, into dst: CLBuffer, ldDestination: Int)
    throws
  {
    let block = 16  // TRANSPOSE_BLOCK in Kernels/gemm.cl
    try launch(
      "transpose", global: [(columns + block - 1) / block, (rows + block - 1) / block], local: [1, 1],
      [.buffer(src), .buffer(dst), .int(rows), .int(columns), .int(ldSource), .int(ldDestination)])
  }

  /// Seconds of the fastest of `repetitions` runs of `shape` with `algorithm`, on buffers
  /// laid out as the convolutions lay theirs (B with a padded leading dimension), split
  /// along k as the convolutions' products are.
  /// The first run (which compiles) is not counted. For `kallima tune`.
  public func timeGemm(_ shape: GemmShape, _ algorithm: GemmAlgorithm, repetitions: Int = 3) throws -> Double {
    let ldb = OpenCLBackend.leadingDimension(shape.n)
    let a = try makeCLBuffer(count: shape.m * shape.k)
    let b = try makeCLBuffer(count: shape.k * ldb)
    let c = try makeCLBuffer(count: shape.m * shape.n)
    for buffer in [a, b] {
      var pattern: Float = 0.5
      try CLStatus.check(
        clEnqueueFillBuffer(queue.handle, buffer.handle, &pattern, 4, 0, buffer.count * 4, 0, nil, nil),
        "clEnqueueFillBuffer")
    }
    let saved = gemmSelection
    defer { gemmSelection = saved }
    gemmSelection = GemmSelection(fallback: algorithm)
    var best = Double.infinity
    for run in 0...max(1, repetitions) {
      try synchronize()
      let start = DispatchTime.now().uptimeNanoseconds
      try gemm(m: shape.m, n: shape.n, k: shape.k, a: a, lda: shape.k, b: b, ldb: ldb, c: c, ldc: shape.n)
      try synchronize()
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
      if run > 0 { best = min(best, seconds) }
    }
    return best
  }
}
