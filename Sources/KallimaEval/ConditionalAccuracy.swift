import Foundation
import KallimaCore
import KallimaGAN
import KallimaGraph

/// Whether a conditional generator obeys its condition (issue 10's obedience measure): for
/// every class k, `perClass` images are generated with condition k (one-hot) from fixed
/// latent vectors and classified by a `ModeClassifier` trained on the real data; the
/// conditional accuracy is the fraction assigned to the requested class. A generator that
/// ignores its condition scores about the share of its most common class (chance, 1/K, when
/// it covers the classes evenly); one that obeys scores near the classifier's own accuracy.
public struct ConditionalAccuracy: Sendable, CustomStringConvertible {
  /// confusion[k][j]: images asked for class k that the classifier put in class j.
  public var confusion: [[Int]]
  public var classes: Int { confusion.count }
  /// Fraction of images classified as the class they were generated for.
  public var accuracy: Double {
    let total = confusion.joined().reduce(0, +)
    return total == 0 ? 0 : Double((0..<classes).map { confusion[$0][$0] }.reduce(0, +)) / Double(total)
  }
  /// The same per requested class.
  public var perClass: [Double] {
    confusion.enumerated().map { k, row in
      let n = row.reduce(0, +)
      return n == 0 ? 0 : Double(row[k]) / Double(n)
    }
  }

  public init(confusion: [[Int]]) { self.confusion = confusion }

  /// Builds the confusion matrix from class probabilities [N, classes] of images generated
  /// for `requested` classes (N of them).
  public init(probabilities p: [Float], requested: [Int], classes: Int) throws {
    guard classes >= 2, p.count == requested.count * classes, requested.allSatisfy({ (0..<classes).contains($0) }) else {
      throw KallimaError.shapeMismatch(
        op: "conditional accuracy", message: "\(p.count) probabilities for \(requested.count) images of \(classes) classes")
    }
    var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
    for (i, j) in ModeCoverage.argmax(p, classes: classes).enumerated() { confusion[requested[i]][j] += 1 }
    self.confusion = confusion
  }

  public var description: String {
    String(
      format: "conditional accuracy %.3f over %d classes; per class %@", accuracy, classes,
      perClass.map { String(format: "%.2f", $0) }.joined(separator: " "))
  }

  /// What one pass over a class-conditional generator gives: `perClass` images of every
  /// class (one-hot conditions, the same latent vectors for every class), classified once.
  public struct Samples: Sendable {
    public var perClass: Int
    /// Class probabilities [K·perClass, K], class by class (`ModeCoverage` follows from them).
    public var probabilities: [Float]
    /// The classifier's penultimate activations [K·perClass, 128], class by class (empty
    /// unless asked for): `IntraClassFrechet(features:perClass:real:)` reads them.
    public var features: [Float]
    public var accuracy: ConditionalAccuracy
  }

  /// Generates `perClass` images of every class with `sampler` (a conditional G whose
  /// condition rows are one-hot classes) from latent vectors of `seed` and classifies them,
  /// keeping the classifier's features too when `features` is set.
  public static func measure(
    sampler: Sampler, classifier: ModeClassifier, perClass: Int, features: Bool = false, seed: UInt64 = 0xC1A55
  ) throws -> Samples {
    let classes = classifier.config.classes
    guard sampler.conditionWidth == classes, perClass >= 1 else {
      throw KallimaError.invalidArgument(
        op: "conditional accuracy",
        message: "the generator takes \(sampler.conditionWidth)-wide conditions; the classifier knows \(classes) classes (need one-hot classes, and perClass >= 1)")
    }
    let z = Sampler.latents(count: perClass, nz: sampler.nz, seed: seed)
    var latents: [Float] = []
    var rows: [Float] = []
    var requested: [Int] = []
    for k in 0..<classes {
      latents += z
      let row = (0..<classes).map { $0 == k ? Float(1) : 0 }
      for _ in 0..<perClass {
        rows += row
        requested.append(k)
      }
    }
    var probabilities: [Float] = []
    var activations: [Float] = []
    try sampler.forEachBatch(latents: latents, conditions: rows) { images, count in
      let out = try classifier.classify(images: images, count: count, features: features)
      probabilities += out.probabilities
      activations += out.features
    }
    return Samples(
      perClass: perClass, probabilities: probabilities, features: activations,
      accuracy: try ConditionalAccuracy(probabilities: probabilities, requested: requested, classes: classes))
  }
}
