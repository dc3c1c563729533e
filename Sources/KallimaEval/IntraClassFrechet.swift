import Foundation
import KallimaCore
import KallimaData

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

  public init(perClass: [Double]) { self.perClass = perClass }
  public var mean: Double { perClass.reduce(0, +) / Double(max(perClass.count, 1)) }

  public var description: String {
    String(format: "intra-class Fréchet (classifier features) mean %.3f; per class %@", mean,
      perClass.map { String(format: "%.2f", $0) }.joined(separator: " "))
  }

  /// Per-class statistics of real images: the first `limit` images of each class of
  /// `dataset` (8-bit, converted to [−1, 1] as training sees them) with `labels`. Each class
  /// needs more images than features (129).
  public static func realStatistics(
    classifier: ModeClassifier, dataset: ImageDataset, labels: [Int], limit: Int = 1000
  ) throws -> [FeatureStatistics] {
    let c = classifier.config
    guard dataset.channels == c.channels, dataset.size == c.imageSize, labels.count == dataset.count else {
      throw KallimaError.shapeMismatch(
        op: "intra-class Fréchet",
        message: "\(dataset.count) images of \(dataset.channels)x\(dataset.size) with \(labels.count) labels; the classifier takes \(c.channels)x\(c.imageSize)")
    }
    let image = dataset.imageBytes
    return try (0..<c.classes).map { k in
      let members = labels.indices.filter { labels[$0] == k }.prefix(limit)
      guard members.count > ModeClassifier.featureWidth else {
        throw KallimaError.invalidArgument(
          op: "intra-class Fréchet",
          message: "class \(k) has \(members.count) images; its covariance needs more than \(ModeClassifier.featureWidth)")
      }
      var picked: [Float] = []
      picked.reserveCapacity(members.count * image)
      dataset.bytes.withUnsafeBytes { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        for i in members { picked += bytes[(i * image)..<((i + 1) * image)].map(DataOrder.unit) }
      }
      let f = try classifier.features(images: picked, count: members.count)
      return try FeatureStatistics(features: f, count: members.count, dimension: ModeClassifier.featureWidth)
    }
  }

  /// The distance per class from generated features [K·perClass, 128], class by class (as
  /// `ConditionalAccuracy.measure(…, features: true)` gives them), to `real[k]`.
  public init(features: [Float], perClass: Int, real: [FeatureStatistics]) throws {
    let width = ModeClassifier.featureWidth
    guard perClass > width, features.count == real.count * perClass * width else {
      throw KallimaError.invalidArgument(
        op: "intra-class Fréchet",
        message: "needs more than \(width) images per class (got \(perClass)) and \(real.count) classes of features; "
          + "got \(features.count) values")
    }
    self.perClass = try real.indices.map { k in
      let rows = Array(features[(k * perClass * width)..<((k + 1) * perClass * width)])
      let generated = try FeatureStatistics(features: rows, count: perClass, dimension: width)
      return try FrechetDistance.compute(real[k], generated).value
    }
  }
}
