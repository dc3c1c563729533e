/// The binary attributes of the synthetic StarGAN set (`TranslationFashion`, kind `attributes`):
/// each is a deterministic edit of a gray garment, any subset can be on together, and
/// `TranslationFashion.render` applies a subset, so the ground truth of translating an image to
/// any target attributes is computable.
public enum GarmentAttribute: Int, CaseIterable, Codable, Sendable {
  /// Tinted red: (R, G, B) = (v, v / 4, v / 4) with integer division.
  case red = 0
  /// Negative: v -> 255 - v (Fashion-MNIST's black background turns white, the garment dark).
  case inverted = 1
  /// Thicker: a 3x3 dilation of the gray garment (each pixel the maximum of its 3x3
  /// neighbourhood, borders clamped).
  case thick = 2

  /// The name in list_attr_celeba.txt (capitalised as CelebA's names are).
  public var name: String {
    switch self {
    case .red: return "Red"
    case .inverted: return "Inverted"
    case .thick: return "Thick"
    }
  }

  /// The attribute called `name` (as in list_attr_celeba.txt, any case), nil when none is.
  public init?(name: String) {
    guard let found = Self.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
    self = found
  }
}

extension TranslationFashion {
  /// `base` (a gray garment; RGB is converted by BT.601 luma) under `attributes`: the edits are
  /// applied in the order thick, inverted, red, whatever the set's order. The result is RGB.
  public static func render(_ base: RGBImage, _ attributes: Set<GarmentAttribute>) -> RGBImage {
    var gray = base.luma()
    if attributes.contains(.thick) { gray = dilate(gray) }
    if attributes.contains(.inverted) {
      gray = RGBImage(unchecked: gray.width, gray.height, 1, gray.pixels.map { 255 - $0 })
    }
    guard attributes.contains(.red) else { return gray.rgb() }
    var pixels = [UInt8](repeating: 0, count: gray.pixels.count * 3)
    for (i, v) in gray.pixels.enumerated() {
      pixels[3 * i] = v
      pixels[3 * i + 1] = v / 4
      pixels[3 * i + 2] = v / 4
    }
    return RGBImage(unchecked: gray.width, gray.height, 3, pixels)
  }

  /// 3x3 grey-level dilation (maximum over the neighbourhood, clamped at the borders).
  static func dilate(_ gray: RGBImage) -> RGBImage {
    let (w, h) = (gray.width, gray.height)
    var out = [UInt8](repeating: 0, count: w * h)
    for y in 0..<h {
      for x in 0..<w {
        var m: UInt8 = 0
        for yy in max(0, y - 1)...min(h - 1, y + 1) {
          for xx in max(0, x - 1)...min(w - 1, x + 1) { m = max(m, gray.pixels[yy * w + xx]) }
        }
        out[y * w + x] = m
      }
    }
    return RGBImage(unchecked: w, h, 1, out)
  }
}
