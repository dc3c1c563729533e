import KallimaCore

/// Nearest upsampling (Kernels/resize.cl) and reflection padding (Kernels/pad.cl): gathers in
/// row runs (`launchRowRuns`), geometry as run-time arguments.
extension OpenCLBackend {
  public func upsample_nearest2d_fwd(x: Tensor, y: Tensor, scale: Int) throws {
    let op = "upsample_nearest2d_fwd"
    let (planes, h, w) = try ShapeCheck.upsampleNearest2d(op, x: x.shape, y: y.shape, scale: scale)
    try launchRowRuns(
      op, rowLength: w * scale, rows: planes * h * scale,
      [.buffer(mem(x, op)), .buffer(mem(y, op)), .int(w), .int(scale), .int(planes * h * scale)])
  }

  public func upsample_nearest2d_bwd(dy: Tensor, dx: Tensor, scale: Int) throws {
    let op = "upsample_nearest2d_bwd"
    let (planes, h, w) = try ShapeCheck.upsampleNearest2d(op, x: dx.shape, y: dy.shape, scale: scale)
    try launchRowRuns(
      op, rowLength: w, rows: planes * h, [.buffer(mem(dy, op)), .buffer(mem(dx, op)), .int(w), .int(scale), .int(planes * h)])
  }

  public func reflection_pad2d_fwd(x: Tensor, y: Tensor, padding p: Padding2d) throws {
    let op = "reflection_pad2d_fwd"
    let (planes, h, w, oh, ow) = try ShapeCheck.reflectionPad2d(op, x: x.shape, y: y.shape, padding: p)
    try launchRowRuns(
      op, rowLength: ow, rows: planes * oh,
      [
        .buffer(mem(x, op)), .buffer(mem(y, op)), .int(h), .int(w), .int(p.top), .int(p.left), .int(oh), .int(ow),
        .int(planes * oh),
      ])
  }

  public func reflection_pad2d_bwd(dy: Tensor, dx: Tensor, padding p: Padding2d) throws {
    let op = "reflection_pad2d_bwd"
    let (planes, h, w, oh, ow) = try ShapeCheck.reflectionPad2d(op, x: dx.shape, y: dy.shape, padding: p)
    try launchRowRuns(
      op, rowLength: w, rows: planes * h,
      [
        .buffer(mem(dy, op)), .buffer(mem(dx, op)), .int(h), .int(w), .int(p.top), .int(p.left), .int(oh), .int(ow),
        .int(planes * h),
      ])
  }
}
