/// The random choices of the data ops `random_crop` and `image_pool`, one Philox block per
/// stream item, as Kernels/data.cl draws them: every backend makes the same choices.
extension Philox {
  /// The top-left corner (row, column) of `random_crop`'s window for stream item `item`, when
  /// `rows` and `columns` origins are possible (H − h + 1, W − w + 1).
  public static func cropOrigin(seed: UInt64, item: UInt64, rows: Int, columns: Int) -> (row: Int, column: Int) {
    let b = block(seed: seed, counter: item)
    return (Int(b.0 % UInt32(rows)), Int(b.1 % UInt32(columns)))
  }

  /// `image_pool`'s choice for stream item `item` once the pool of `slots` images is full: the
  /// slot whose image D is shown instead (and which the new image takes), or nil to show the
  /// new image and leave the pool alone. A swap when the block's first word, as a 24-bit
  /// uniform in [0, 1), exceeds ½: the reference's `random.uniform(0, 1) > 0.5`.
  public static func poolSwap(seed: UInt64, item: UInt64, slots: Int) -> Int? {
    let b = block(seed: seed, counter: item)
    return unitOpen(b.0) > 0.5 ? Int(b.1 % UInt32(slots)) : nil
  }
}
