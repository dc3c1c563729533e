import KallimaCore

extension OpCatalog {
  // MARK: Data ops of image-to-image translation

  /// `random_crop` of x [n, c, h, w] to `crop`, from stream item `position`. Exact: it copies.
  public static func randomCrop(n: Int, c: Int, h: Int, w: Int, crop: (Int, Int), position: UInt64 = 0) -> OpCase {
    OpCase(
      "random_crop", "x[\(n), \(c), \(h), \(w)] -> \(crop.0)x\(crop.1) from item \(position)",
      tensors: [.init("x", [n, c, h, w]), .init("y", [n, c, crop.0, crop.1], .output)], exact: true
    ) { be, t in try be.random_crop(x: t["x"]!, y: t["y"]!, seed: 0x5EED, position: position) }
  }

  /// `image_pool` with `slots` slots of [c, h, w] images and a batch of n, at stream item
  /// `position` (below `slots`: filling; at or past it: swapping). Exact: it copies, and the
  /// pool (updated in place) is compared too.
  public static func imagePool(slots: Int, n: Int, c: Int, h: Int, w: Int, position: UInt64) -> OpCase {
    OpCase(
      "image_pool", "pool \(slots), x[\(n), \(c), \(h), \(w)] at item \(position)",
      tensors: [.init("pool", [slots, c, h, w]), .init("x", [n, c, h, w]), .init("y", [n, c, h, w], .output)],
      exact: true
    ) { be, t in try be.image_pool(pool: t["pool"]!, x: t["x"]!, y: t["y"]!, seed: 0xB00C, position: position) }
  }

  /// Crops of 1 to 6 channels (a paired A|B image has 2C) at widths around the 32 edge, whole
  /// and 1-pixel-wide windows, from early and late stream items; pools of 1, 3 and 50 filling,
  /// straddling the fill boundary within one batch, and full, with batches of 1, 4 and 33.
  static func translationParityCases() -> [OpCase] {
    var cases: [OpCase] = []
    for (n, c, h, w, crop) in [
      (1, 1, 5, 5, (5, 5)), (2, 6, 9, 9, (8, 8)), (3, 3, 33, 33, (32, 32)), (4, 2, 36, 40, (32, 31)),
      (2, 6, 7, 65, (1, 64)), (5, 1, 16, 16, (1, 1)),
    ] {
      for position: UInt64 in [0, 1_000_003] { cases.append(randomCrop(n: n, c: c, h: h, w: w, crop: crop, position: position)) }
    }
    for (slots, n, position): (Int, Int, UInt64) in [
      (1, 1, 0), (1, 1, 7), (3, 4, 0), (3, 4, 1), (3, 4, 9), (50, 1, 0), (50, 1, 49), (50, 1, 50), (50, 4, 48),
      (50, 33, 100), (2, 33, 2),
    ] {
      cases.append(imagePool(slots: slots, n: n, c: 3, h: 5, w: 7, position: position))
    }
    cases.append(imagePool(slots: 4, n: 2, c: 6, h: 33, w: 33, position: 10))
    return cases
  }
}
