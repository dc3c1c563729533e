/// Checks of the gather ops, shared by every backend so they throw the same messages.
extension ShapeCheck {
  /// Geometry of a gather: y [N, C, H, W] from source [M, C, H, W]. A resident source holds
  /// the whole dataset (M = order.count); a streamed one holds exactly the batch, already in
  /// stream order (M = N).
  public struct Gather {
    public let n: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public var image: Int { channels * height * width }
  }

  public static func gatherImages(
    _ op: String, source: Tensor, y: Tensor, order: DataOrder, streamed: Bool = false
  ) throws -> Gather {
    let (m, c, h, w) = try source.shape.nchw(op, "source")
    let (n, yc, yh, yw) = try y.shape.nchw(op, "y")
    try expect(op, (c, h, w) == (yc, yh, yw), "source images \(source.shape) and batch \(y.shape) differ")
    if streamed {
      try expect(op, m == n, "a streamed source holds the batch: \(m) images for a batch of \(n)")
    } else {
      try expect(op, order.count == m, "data order covers \(order.count) images, source has \(m)")
    }
    return Gather(n: n, channels: c, height: h, width: w)
  }
}

extension DataOrder {
  /// The training value of an 8-bit sample v: v / 127.5 − 1 in float32 (0 → −1, 255 → 1),
  /// the value every backend's gather produces bit for bit.
  @inline(__always)
  public static func unit(_ v: UInt8) -> Float { Float(v) / 127.5 - 1 }
}
