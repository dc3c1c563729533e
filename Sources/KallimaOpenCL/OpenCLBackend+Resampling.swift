import KallimaCore

/// Nearest upsampling (Kernels/resize.cl) and reflection padding (Kernels/pad.cl): gathers,
/// one work-item per output forward and per input backward, geometry as run-time arguments.
extension OpenCLBackend {
  public func upsample_nearest2d_fwd(x: Tensor, y: Tensor, scale: Int) throws {
    let op = "upsample_nearest2d_fwd"
    let (_, h, w) = try ShapeCheck.upsampleNearest2d(op, x: x.shape, y: y.shape, scale: scale)
    try launch(op, items: y.count, [.buffer(mem(x, op)), .buffer(mem(y, op)), .int(h), .int(w), .int(scale), .int(y.count)])
  }

  public func upsample_nearest2d_bwd(dy: Tensor, dx: Tensor, scale: Int) throws {
    let op = "upsample_nearest2d_bwd"
    let (_, h, w) = try ShapeCheck.upsampleNearest2d(op, x: dx.shape, y: dy.shape, scale: scale)
    try launch(
      op, items: dx.count, [.buffer(mem(dy, op)), .buffer(mem(dx, op)), .int(h), .int(w), .int(scale), .int(dx.count)])
  }

  public func reflection_pad2d_fwd(x: Tensor, y: Tensor, padding p: Padding2d) throws {
    let op = "reflection_pad2d_fwd"
    let (_, h, w, oh, ow) = try ShapeCheck.reflectionPad2d(op, x: x.shape, y: y.shape, padding: p)
    try launch(
      op, items: y.count,
      [
        .buffer(mem(x, op)), .buffer(mem(y, op)), .int(h), .int(w), .int(p.top), .int(p.left), .int(oh), .int(ow),
        .int(y.count),
      ])
  }

  public func reflection_pad2d_bwd(dy: Tensor, dx: Tensor, padding p: Padding2d) throws {
    let op = "reflection_pad2d_bwd"
    let (_, h, w, oh, ow) = try ShapeCheck.reflectionPad2d(op, x: dx.shape, y: dy.shape, padding: p)
    try launch(
      op, items: dx.count,
      [
        .buffer(mem(dy, op)), .buffer(mem(dx, op)), .int(h), .int(w), .int(p.top), .int(p.left), .int(oh), .int(ow),
        .int(dx.count),
      ])
  }
}
