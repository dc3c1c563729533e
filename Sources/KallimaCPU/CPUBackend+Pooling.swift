import KallimaCore

/// Pooling and bilinear resizing, written as the plain loops of their definitions (PyTorch's
/// CPU kernels read the same way). Backward passes scatter from each output, the direct
/// transpose of the forward loop; the OpenCL kernels gather instead, so parity checks two
/// independent derivations.
extension CPUBackend {
  /// Calls body(plane, oy, ox, output index) for every output position.
  func forEachWindow(_ g: PoolGeometry, _ body: (Int, Int, Int, Int) -> Void) {
    for plane in 0..<g.planes {
      for oy in 0..<g.oh {
        for ox in 0..<g.ow { body(plane, oy, ox, (plane * g.oh + oy) * g.ow + ox) }
      }
    }
  }

  /// Index into x of the element window (oy, ox) of `plane` routes to: the first maximal
  /// element in row-major order, a later one only when strictly greater or NaN (PyTorch's
  /// rule, so a NaN wins and propagates).
  func maxRoute(_ g: PoolGeometry, _ x: [Double], plane: Int, oy: Int, ox: Int) -> Int {
    let (rows, cols) = (g.rows(oy).range, g.columns(ox).range)
    let base = plane * g.h * g.w
    var best = -Double.infinity
    var route = base + rows.lowerBound * g.w + cols.lowerBound
    for iy in rows {
      for ix in cols {
        let i = base + iy * g.w + ix
        if x[i] > best || x[i].isNaN {
          best = x[i]
          route = i
        }
      }
    }
    return route
  }

  public func max_pool2d_fwd(x: Tensor, y: Tensor, params: Pool2dParams) throws {
    let op = "max_pool2d_fwd"
    let g = try ShapeCheck.max_pool2d_fwd(x: x, y: y, params: params)
    let xs = try buf(x, op).values
    var out = [Double](repeating: 0, count: y.count)
    forEachWindow(g) { plane, oy, ox, o in out[o] = xs[maxRoute(g, xs, plane: plane, oy: oy, ox: ox)] }
    try store(out, y, op)
  }

  public func max_pool2d_bwd(x: Tensor, dy: Tensor, dx: Tensor, params: Pool2dParams) throws {
    let op = "max_pool2d_bwd"
    let g = try ShapeCheck.max_pool2d_bwd(x: x, dy: dy, dx: dx, params: params)
    let (xs, dys) = (try buf(x, op).values, try buf(dy, op).values)
    var out = [Double](repeating: 0, count: dx.count)
    forEachWindow(g) { plane, oy, ox, o in out[maxRoute(g, xs, plane: plane, oy: oy, ox: ox)] += dys[o] }
    try store(out, dx, op)
  }

  /// The divisor of window (oy, ox): its area through the padding, or inside the image only.
  func poolDivisor(_ g: PoolGeometry, oy: Int, ox: Int, countIncludePad: Bool) -> Double {
    let (r, c) = (g.rows(oy), g.columns(ox))
    return Double(countIncludePad ? r.padded * c.padded : r.range.count * c.range.count)
  }

  public func avg_pool2d_fwd(x: Tensor, y: Tensor, params: Pool2dParams, countIncludePad: Bool) throws {
    let op = "avg_pool2d_fwd"
    let g = try ShapeCheck.avg_pool2d_fwd(x: x, y: y, params: params)
    let xs = try buf(x, op).values
    var out = [Double](repeating: 0, count: y.count)
    forEachWindow(g) { plane, oy, ox, o in
      var s = 0.0
      for iy in g.rows(oy).range {
        for ix in g.columns(ox).range { s += xs[(plane * g.h + iy) * g.w + ix] }
      }
      out[o] = s / poolDivisor(g, oy: oy, ox: ox, countIncludePad: countIncludePad)
    }
    try store(out, y, op)
  }

  public func avg_pool2d_bwd(dy: Tensor, dx: Tensor, params: Pool2dParams, countIncludePad: Bool) throws {
    let op = "avg_pool2d_bwd"
    let g = try ShapeCheck.avg_pool2d_bwd(dy: dy, dx: dx, params: params)
    let dys = try buf(dy, op).values
    var out = [Double](repeating: 0, count: dx.count)
    forEachWindow(g) { plane, oy, ox, o in
      let share = dys[o] / poolDivisor(g, oy: oy, ox: ox, countIncludePad: countIncludePad)
      for iy in g.rows(oy).range {
        for ix in g.columns(ox).range { out[(plane * g.h + iy) * g.w + ix] += share }
      }
    }
    try store(out, dx, op)
  }

  /// The two source indices and weights of output index `dst` when resizing `input` to
  /// `output` samples, align_corners=False: src = max(0, (dst + 0.5)·input/output − 0.5).
  static func bilinearTaps(_ dst: Int, input: Int, output: Int) -> (i0: Int, i1: Int, w0: Double, w1: Double) {
    let scale = Double(input) / Double(output)
    let src = max(0, scale * (Double(dst) + 0.5) - 0.5)
    let i0 = min(Int(src), input - 1)
    let i1 = i0 < input - 1 ? i0 + 1 : i0
    let w1 = src - Double(i0)
    return (i0, i1, 1 - w1, w1)
  }

  /// Calls body(output index, [(index into x, weight)]) for every output: the four taps in
  /// PyTorch's order (row i0 with columns j0, j1; then row i1).
  func forEachBilinearOutput(_ g: ResizeGeometry, _ body: (Int, [(Int, Double)]) -> Void) {
    let rows = (0..<g.oh).map { CPUBackend.bilinearTaps($0, input: g.h, output: g.oh) }
    let cols = (0..<g.ow).map { CPUBackend.bilinearTaps($0, input: g.w, output: g.ow) }
    var taps = [(Int, Double)](repeating: (0, 0), count: 4)
    for plane in 0..<g.planes {
      for oy in 0..<g.oh {
        let r = rows[oy]
        let (row0, row1) = ((plane * g.h + r.i0) * g.w, (plane * g.h + r.i1) * g.w)
        for ox in 0..<g.ow {
          let c = cols[ox]
          taps[0] = (row0 + c.i0, r.w0 * c.w0)
          taps[1] = (row0 + c.i1, r.w0 * c.w1)
          taps[2] = (row1 + c.i0, r.w1 * c.w0)
          taps[3] = (row1 + c.i1, r.w1 * c.w1)
          body((plane * g.oh + oy) * g.ow + ox, taps)
        }
      }
    }
  }

  public func upsample_bilinear2d_fwd(x: Tensor, y: Tensor) throws {
    let op = "upsample_bilinear2d_fwd"
    let g = try ShapeCheck.upsample_bilinear2d_fwd(x: x, y: y)
    let xs = try buf(x, op).values
    var out = [Double](repeating: 0, count: y.count)
    forEachBilinearOutput(g) { o, taps in out[o] = taps.reduce(0) { $0 + $1.1 * xs[$1.0] } }
    try store(out, y, op)
  }

  public func upsample_bilinear2d_bwd(dy: Tensor, dx: Tensor) throws {
    let op = "upsample_bilinear2d_bwd"
    let g = try ShapeCheck.upsample_bilinear2d_bwd(dy: dy, dx: dx)
    let dys = try buf(dy, op).values
    var out = [Double](repeating: 0, count: dx.count)
    forEachBilinearOutput(g) { o, taps in
      for (i, weight) in taps { out[i] += weight * dys[o] }
    }
    try store(out, dx, op)
  }
}

extension CPUBackend {
  public func max_pool2d_gather(x: Tensor, g: Tensor, y: Tensor, params: Pool2dParams) throws {
    let op = "max_pool2d_gather"
    let geo = try ShapeCheck.max_pool2d_gather(x: x, g: g, y: y, params: params)
    let (xs, gs) = (try buf(x, op).values, try buf(g, op).values)
    var out = [Double](repeating: 0, count: y.count)
    forEachWindow(geo) { plane, oy, ox, o in out[o] = gs[maxRoute(geo, xs, plane: plane, oy: oy, ox: ox)] }
    try store(out, y, op)
  }
}
