/// Checks of the data ops (the gathers, mismatch_rows, random_crop, image_pool), shared by every backend so they throw the same messages.
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

extension ShapeCheck {
  /// `random_crop`: x [N, C, H, W] → y [N, C, h, w] with h ≤ H, w ≤ W.
  public static func randomCrop(_ op: String, x: Tensor, y: Tensor) throws -> (n: Int, c: Int, h: Int, w: Int, ys: Int, xs: Int) {
    let (n, c, h, w) = try x.shape.nchw(op, "x")
    let (yn, yc, yh, yw) = try y.shape.nchw(op, "y")
    try expect(op, yn == n && yc == c, "x \(x.shape) and y \(y.shape) must agree in batch and channels")
    try expect(
      op, yh <= h && yw <= w && yh > 0 && yw > 0,
      "the crop \(yh)x\(yw) must fit the images \(h)x\(w); load the images at least at the crop size")
    return (n, c, yh, yw, h, w)
  }

  /// `image_pool`: pool [P, C, H, W] (P ≥ 1), x and y [N, C, H, W], three distinct buffers.
  public static func imagePool(_ op: String, pool: Tensor, x: Tensor, y: Tensor) throws -> (slots: Int, n: Int, image: Int) {
    let (p, c, h, w) = try pool.shape.nchw(op, "pool")
    let (n, xc, xh, xw) = try x.shape.nchw(op, "x")
    try expect(op, p >= 1, "the pool needs at least one slot (a pool of 0 shows D the new images: skip the op)")
    try expect(op, (c, h, w) == (xc, xh, xw), "pool images \(pool.shape) and new images \(x.shape) differ")
    try same(op, "y", y, x.shape)
    try expect(
      op, pool.buffer !== x.buffer && pool.buffer !== y.buffer && x.buffer !== y.buffer,
      "pool, x and y must be distinct buffers")
    return (p, n, c * h * w)
  }
}

extension DataOrder {
  /// The training value of an 8-bit sample v: v / 127.5 − 1 in float32 (0 → −1, 255 → 1),
  /// the value every backend's gather produces bit for bit.
  @inline(__always)
  public static func unit(_ v: UInt8) -> Float { Float(v) / 127.5 - 1 }
}
