/// Checks of the data ops (the gathers, mismatch_rows), shared by every backend so they throw the same messages.
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

extension ShapeCheck {
  /// `mismatch_rows`: x and y [N, D], distinct buffers (every row of y reads other rows of x).
  public static func mismatchRows(_ op: String, x: Tensor, y: Tensor) throws -> (rows: Int, width: Int) {
    try expect(
      op, x.shape.rank == 2,
      "x must be [N, D], one condition per row, got \(x.shape); reshape the conditions to [N, D] first")
    try same(op, "y", y, x.shape)
    try expect(op, x.buffer !== y.buffer, "y must not share x's buffer: each output row reads other rows of x")
    return (x.shape[0], x.shape[1])
  }
}

extension DataOrder {
  /// The training value of an 8-bit sample v: v / 127.5 − 1 in float32 (0 → −1, 255 → 1),
  /// the value every backend's gather produces bit for bit.
  @inline(__always)
  public static func unit(_ v: UInt8) -> Float { Float(v) / 127.5 - 1 }
}
