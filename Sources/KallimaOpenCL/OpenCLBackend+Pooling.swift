import KallimaCore

/// Pooling (Kernels/pool.cl) and bilinear resizing (Kernels/resize.cl). Forward kernels run
/// one work-item per output; backward kernels gather, one work-item per input pixel, so no
/// atomics are needed and results are deterministic. Geometry is compiled in, as for conv.
extension OpenCLBackend {
  /// Workspace slot for max pooling's routes (one int per output window).
  static let poolRouteSlot = 5

  /// The pooling geometry as compile-time constants of Kernels/pool.cl.
  func poolDefines(_ g: PoolGeometry, countIncludePad: Bool = true) -> [(String, Int)] {
    [("NC", g.planes), ("IH", g.h), ("IW", g.w), ("OH", g.oh), ("OW", g.ow), ("KH", g.kh), ("KW", g.kw),
     ("SH", g.sh), ("SW", g.sw), ("PH", g.ph), ("PW", g.pw), ("COUNT_INCLUDE_PAD", countIncludePad ? 1 : 0)]
  }

  public func max_pool2d_fwd(x: Tensor, y: Tensor, params: Pool2dParams) throws {
    let op = "max_pool2d_fwd"
    let g = try ShapeCheck.max_pool2d_fwd(x: x, y: y, params: params)
    try launch(op, items: y.count, defines: poolDefines(g), [.buffer(mem(x, op)), .buffer(mem(y, op))])
  }

  public func max_pool2d_bwd(x: Tensor, dy: Tensor, dx: Tensor, params: Pool2dParams) throws {
    let op = "max_pool2d_bwd"
    let g = try ShapeCheck.max_pool2d_bwd(x: x, dy: dy, dx: dx, params: params)
    let defines = poolDefines(g)
    try locked {
      // Int32 routes in a float workspace: the same four bytes per element.
      let route = try workspace(OpenCLBackend.poolRouteSlot, count: dy.count)
      try launch("max_pool2d_route", items: dy.count, defines: defines, [.buffer(mem(x, op)), .buffer(route)])
      try launch(op, items: dx.count, defines: defines, [.buffer(route), .buffer(mem(dy, op)), .buffer(mem(dx, op))])
    }
  }

  public func avg_pool2d_fwd(x: Tensor, y: Tensor, params: Pool2dParams, countIncludePad: Bool) throws {
    let op = "avg_pool2d_fwd"
    let g = try ShapeCheck.avg_pool2d_fwd(x: x, y: y, params: params)
    try launch(
      op, items: y.count, defines: poolDefines(g, countIncludePad: countIncludePad),
      [.buffer(mem(x, op)), .buffer(mem(y, op))])
  }

  public func avg_pool2d_bwd(dy: Tensor, dx: Tensor, params: Pool2dParams, countIncludePad: Bool) throws {
    let op = "avg_pool2d_bwd"
    let g = try ShapeCheck.avg_pool2d_bwd(dy: dy, dx: dx, params: params)
    try launch(
      op, items: dx.count, defines: poolDefines(g, countIncludePad: countIncludePad),
      [.buffer(mem(dy, op)), .buffer(mem(dx, op))])
  }

  /// The resize geometry as compile-time constants of Kernels/resize.cl.
  func resizeDefines(_ g: ResizeGeometry) -> [(String, Int)] {
    [("NC", g.planes), ("IH", g.h), ("IW", g.w), ("OH", g.oh), ("OW", g.ow)]
  }

  public func upsample_bilinear2d_fwd(x: Tensor, y: Tensor) throws {
    let op = "upsample_bilinear2d_fwd"
    let g = try ShapeCheck.upsample_bilinear2d_fwd(x: x, y: y)
    try launch(op, items: y.count, defines: resizeDefines(g), [.buffer(mem(x, op)), .buffer(mem(y, op))])
  }

  public func upsample_bilinear2d_bwd(dy: Tensor, dx: Tensor) throws {
    let op = "upsample_bilinear2d_bwd"
    let g = try ShapeCheck.upsample_bilinear2d_bwd(dy: dy, dx: dx)
    try launch(op, items: dx.count, defines: resizeDefines(g), [.buffer(mem(dy, op)), .buffer(mem(dx, op))])
  }
}

extension OpenCLBackend {
  public func max_pool2d_gather(x: Tensor, g: Tensor, y: Tensor, params: Pool2dParams) throws {
    let op = "max_pool2d_gather"
    let geo = try ShapeCheck.max_pool2d_gather(x: x, g: g, y: y, params: params)
    try launch(
      op, items: y.count, defines: poolDefines(geo), [.buffer(mem(x, op)), .buffer(mem(g, op)), .buffer(mem(y, op))])
  }
}
