import Foundation
import KallimaCore
import KallimaData
import KallimaGAN

/// Whether a generator conditioned on captions of the captioned Fashion-MNIST set
/// (`CaptionedFashion`: "<colour> <item>") draws what a caption asks for, including
/// combinations it never saw in training (issue 10: generalisation to new tag
/// combinations). For each caption, images are generated from fixed latent vectors; the item
/// is read by a `ModeClassifier` trained on gray Fashion-MNIST (applied to the maximum over
/// the colour channels, which is the gray item for every palette colour, since each has a
/// channel at full strength), the colour by `CaptionedFashion.colour(ofPlanar:)` (pixel
/// statistics).
public struct CaptionAccuracy: Sendable {
  public struct Row: Sendable {
    public var combination: CaptionedFashion.Combination
    public var heldOut: Bool
    public var samples: Int
    /// Fractions of the samples whose item, colour, and both, are the caption's.
    public var item: Double
    public var colour: Double
    public var both: Double
  }

  public var rows: [Row]

  /// Mean of a field over the held-out (or the seen) rows.
  public func mean(heldOut: Bool, _ field: KeyPath<Row, Double>) -> Double {
    let picked = rows.filter { $0.heldOut == heldOut }
    return picked.isEmpty ? .nan : picked.map { $0[keyPath: field] }.reduce(0, +) / Double(picked.count)
  }

  /// Measures `combinations` with `perCaption` images each. `encode` turns a combination into
  /// the generator's condition row (a caption for text, a tag set for tags).
  public static func measure(
    sampler: Sampler, classifier: ModeClassifier, combinations: [CaptionedFashion.Combination],
    heldOut: Set<CaptionedFashion.Combination>, perCaption: Int, seed: UInt64 = 0xCA9,
    encode: (CaptionedFashion.Combination) throws -> [Float]
  ) throws -> CaptionAccuracy {
    let (channels, size) = (sampler.imageShape[0], sampler.imageShape[1])
    guard channels == 3, classifier.config.channels == 1, classifier.config.imageSize == size,
      classifier.config.classes == CaptionedFashion.items.count
    else {
      throw KallimaError.invalidArgument(
        op: "caption accuracy",
        message: "needs an RGB generator and a gray \(CaptionedFashion.items.count)-class classifier of the same size; got "
          + "\(channels) channels at \(size), classifier \(classifier.config)")
    }
    let z = Sampler.latents(count: perCaption, nz: sampler.nz, seed: seed)
    let plane = size * size
    var rows: [Row] = []
    for combination in combinations {
      let condition = try encode(combination)
      var images: [Float] = []
      try sampler.forEachBatch(latents: z, conditions: Array((0..<perCaption).map { _ in condition }.joined())) { batch, _ in
        images += batch
      }
      var gray = [Float](repeating: 0, count: perCaption * plane)
      var colours: [Int?] = []
      for i in 0..<perCaption {
        let base = i * 3 * plane
        for p in 0..<plane {
          gray[i * plane + p] = max(images[base + p], images[base + plane + p], images[base + 2 * plane + p])
        }
        colours.append(CaptionedFashion.colour(ofPlanar: images[base..<(base + 3 * plane)], size: size))
      }
      let items = ModeCoverage.argmax(
        try classifier.probabilities(images: gray, count: perCaption), classes: classifier.config.classes)
      let itemHits = items.filter { $0 == combination.item }.count
      let colourHits = colours.filter { $0 == combination.colour }.count
      let bothHits = zip(items, colours).filter { $0 == combination.item && $1 == combination.colour }.count
      let n = Double(perCaption)
      rows.append(
        Row(
          combination: combination, heldOut: heldOut.contains(combination), samples: perCaption,
          item: Double(itemHits) / n, colour: Double(colourHits) / n, both: Double(bothHits) / n))
    }
    return CaptionAccuracy(rows: rows)
  }
}
