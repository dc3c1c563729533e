/// Whole-signature checks for pooling and resizing, so every backend validates with one call
/// and throws the same messages.
extension ShapeCheck {
  /// Pooling: x [N,C,H,W] and y [N,C,OH,OW] with OH, OW from `params` (PyTorch's rules:
  /// positive kernel and stride, padding at most half the kernel; ceil_mode as asked).
  public static func pool2d(_ op: String, x: Shape, y: Shape, params p: Pool2dParams) throws -> PoolGeometry {
    let (n, c, h, w) = try x.nchw(op, "x")
    try expect(op, p.kernel.h > 0 && p.kernel.w > 0, "kernel must be positive, got \(p)")
    try expect(op, p.stride.h > 0 && p.stride.w > 0, "stride must be positive, got \(p)")
    try expect(
      op, p.padding.h >= 0 && p.padding.w >= 0 && 2 * p.padding.h <= p.kernel.h && 2 * p.padding.w <= p.kernel.w,
      "padding must be between 0 and half the kernel, got \(p)")
    try expect(
      op, h + 2 * p.padding.h >= p.kernel.h && w + 2 * p.padding.w >= p.kernel.w,
      "kernel \(p.kernel.h)x\(p.kernel.w) larger than padded input \(x)")
    let expected = p.outputShape(x)
    try expect(op, y == expected, "y is \(y), expected \(expected) for x \(x) and \(p)")
    return PoolGeometry(n: n, c: c, h: h, w: w, oh: expected[2], ow: expected[3], params: p)
  }

  /// Resizing: x [N,C,H,W] to y [N,C,OH,OW], any positive sizes.
  public static func resize2d(_ op: String, x: Shape, y: Shape) throws -> ResizeGeometry {
    let (n, c, h, w) = try x.nchw(op, "x")
    let (yn, yc, oh, ow) = try y.nchw(op, "y")
    try expect(op, yn == n && yc == c, "y \(y) and x \(x) differ in batch or channels")
    try expect(op, h > 0 && w > 0 && oh > 0 && ow > 0, "sizes must be positive: x \(x), y \(y)")
    return ResizeGeometry(n: n, c: c, h: h, w: w, oh: oh, ow: ow)
  }

  public static func max_pool2d_fwd(x: Tensor, y: Tensor, params: Pool2dParams) throws -> PoolGeometry {
    try pool2d("max_pool2d_fwd", x: x.shape, y: y.shape, params: params)
  }

  public static func max_pool2d_bwd(x: Tensor, dy: Tensor, dx: Tensor, params: Pool2dParams) throws
    -> PoolGeometry
  {
    try allSame("max_pool2d_bwd", [("x", x), ("dx", dx)])
    return try pool2d("max_pool2d_bwd", x: x.shape, y: dy.shape, params: params)
  }

  public static func max_pool2d_gather(x: Tensor, g: Tensor, y: Tensor, params: Pool2dParams) throws
    -> PoolGeometry
  {
    try allSame("max_pool2d_gather", [("x", x), ("g", g)])
    return try pool2d("max_pool2d_gather", x: x.shape, y: y.shape, params: params)
  }

  public static func avg_pool2d_fwd(x: Tensor, y: Tensor, params: Pool2dParams) throws -> PoolGeometry {
    try pool2d("avg_pool2d_fwd", x: x.shape, y: y.shape, params: params)
  }

  public static func avg_pool2d_bwd(dy: Tensor, dx: Tensor, params: Pool2dParams) throws -> PoolGeometry {
    try pool2d("avg_pool2d_bwd", x: dx.shape, y: dy.shape, params: params)
  }

  public static func upsample_bilinear2d_fwd(x: Tensor, y: Tensor) throws -> ResizeGeometry {
    try resize2d("upsample_bilinear2d_fwd", x: x.shape, y: y.shape)
  }

  public static func upsample_bilinear2d_bwd(dy: Tensor, dx: Tensor) throws -> ResizeGeometry {
    try resize2d("upsample_bilinear2d_bwd", x: dx.shape, y: dy.shape)
  }
}
