import Foundation
import KallimaCore

/// One condition vector per image of a dataset, in the dataset's image order.
public struct ConditionSet: Sendable {
  public var vocabulary: ConditionVocabulary
  public var count: Int
  /// count × width, row-major: image n's vector is `vectors[(n * width)..<((n + 1) * width)]`.
  public var vectors: [Float]
  /// Per image, the condition as written in the source (class name, "a, b", the text), for captions/reports.
  public var captions: [String]
  /// Class kind: per-image class index; nil otherwise.
  public var classIndices: [Int]?

  /// Checks the sizes: `vectors` holds `count * vocabulary.width` values, `captions` `count`,
  /// and `classIndices` (class kind only) `count` indices below the width.
  public init(
    vocabulary: ConditionVocabulary, count: Int, vectors: [Float], captions: [String], classIndices: [Int]? = nil
  ) throws {
    let op = "ConditionSet"
    guard count >= 0, vectors.count == count * vocabulary.width, captions.count == count else {
      throw KallimaError.shapeMismatch(
        op: op,
        message: "\(vectors.count) values and \(captions.count) captions for \(count) conditions of width "
          + "\(vocabulary.width); expected \(count * vocabulary.width) and \(count)")
    }
    if let classIndices {
      guard vocabulary.kind == .class, classIndices.count == count,
        classIndices.allSatisfy({ (0..<vocabulary.width).contains($0) })
      else {
        throw KallimaError.invalidArgument(
          op: op, message: "class indices are for a class vocabulary, one per image, each below \(vocabulary.width)")
      }
    }
    (self.vocabulary, self.count, self.vectors, self.captions, self.classIndices) =
      (vocabulary, count, vectors, captions, classIndices)
  }

  /// Image `n`'s condition vector.
  public func vector(_ n: Int) -> ArraySlice<Float> {
    vectors[(n * vocabulary.width)..<((n + 1) * vocabulary.width)]
  }

  /// The conditions of the images at `indices`, in that order.
  public func subset(_ indices: [Int]) -> ConditionSet {
    var copy = self
    copy.count = indices.count
    copy.vectors = indices.flatMap { vector($0) }
    copy.captions = indices.map { captions[$0] }
    copy.classIndices = classIndices.map { all in indices.map { all[$0] } }
    return copy
  }

  /// "fnv1a64:" + 16 hex digits of the vocabulary (kind, names, width) and every row's
  /// values: a resumed run compares it (with the images' fingerprint) to notice conditions
  /// that changed while the images did not (an edited metadata.jsonl).
  public var fingerprint: String {
    var hash = FNV1a64()
    hash.add(vocabulary.kind.rawValue)
    for name in vocabulary.names { hash.add(name) }
    hash.add(UInt64(vocabulary.width))
    vectors.withUnsafeBytes { hash.add(bytes: $0) }
    return "fnv1a64:" + String(format: "%016llx", hash.value)
  }
}
