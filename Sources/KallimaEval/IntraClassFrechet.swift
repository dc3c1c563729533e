import Foundation
import KallimaCore
import KallimaGAN

/// The intra-class Fréchet distance of a class-conditional generator (Miyato & Koyama 2018
/// report intra-FID): for every class k, the Fréchet distance between the features of real
/// class-k images and of images generated for class k. Features are the `ModeClassifier`'s
/// penultimate activations (128 values; trained by Kallima on the same data), so this is a
/// Fréchet classifier distance, comparable between runs on one dataset and classifier, not an
/// Inception FID. A generator that draws the right class but one mode of it scores worse
/// than one that covers the class.
public struct IntraClassFrechet: Sendable, CustomStringConvertible {
  /// Per class, in class order.
  public var perClass: [Double]
  public var mean: Double { perClass.reduce(0, +) / Double(max(perClass.count, 1)) }

  public var description: String {
    String(format: "intra-class Fréchet (classifier features) mean %.3f; per class %@", mean,
      perClass.map { String(format: "%.2f", $0) }.joined(separator: " "))
  }

  /// Per-class statistics of real images: `images` NCHW in [−1, 1] with `labels`; at most
  /// `limit` images of each class are used. Each class needs more images than features (129).
  public static func realStatistics(
    classifier: ModeClassifier, images: [Float], labels: [Int], limit: Int = 1000
  ) throws -> [FeatureStatistics] {
    let k = classifier.config.classes
    let image = classifier.config.channels * classifier.config.imageSize * classifier.config.imageSize
    guard images.count == labels.count * image else {
      throw KallimaError.shapeMismatch(op: "intra-class Fréchet", message: "\(images.count) values for \(labels.count) images")
    }
    return try (0..<k).map { c in
      let members = labels.indices.filter { labels[$0] == c }.prefix(limit)
      guard members.count > ModeClassifier.featureWidth else {
        throw KallimaError.invalidArgument(
          op: "intra-class Fréchet",
          message: "class \(c) has \(members.count) images; its covariance needs more than \(ModeClassifier.featureWidth)")
      }
      var picked: [Float] = []
      picked.reserveCapacity(members.count * image)
      for i in members { picked += images[(i * image)..<((i + 1) * image)] }
      let f = try classifier.features(images: picked, count: members.count)
      return try FeatureStatistics(features: f, count: members.count, dimension: ModeClassifier.featureWidth)
    }
  }

  /// Generates `perClass` images of every class (one-hot conditions, the same latent vectors
  /// for every class) and compares each class's features with `real[k]`.
  public static func measure(
    sampler: Sampler, classifier: ModeClassifier, real: [FeatureStatistics], perClass: Int, seed: UInt64 = 0xF1D
  ) throws -> IntraClassFrechet {
    let k = classifier.config.classes
    guard sampler.conditionWidth == k, real.count == k, perClass > ModeClassifier.featureWidth else {
      throw KallimaError.invalidArgument(
        op: "intra-class Fréchet",
        message: "needs a generator of \(k) one-hot classes, real statistics per class, and more than "
          + "\(ModeClassifier.featureWidth) images per class (got \(perClass))")
    }
    let z = Sampler.latents(count: perClass, nz: sampler.nz, seed: seed)
    var distances: [Double] = []
    for c in 0..<k {
      let row = (0..<k).map { $0 == c ? Float(1) : 0 }
      var features: [Float] = []
      try sampler.forEachBatch(latents: z, conditions: Array(repeatElement(row, count: perClass).joined())) { images, count in
        features += try classifier.features(images: images, count: count)
      }
      let generated = try FeatureStatistics(features: features, count: perClass, dimension: ModeClassifier.featureWidth)
      distances.append(try FrechetDistance.compute(real[c], generated).value)
    }
    return IntraClassFrechet(perClass: distances)
  }
}
