import Foundation
import KallimaCore

/// What a condition is (`kallima train --condition class|tags|text|embedding`).
public enum ConditionKind: String, Codable, CaseIterable, Sendable {
  /// One class per image: a torchvision ImageFolder subfolder, a `label` column, idx labels.
  case `class`
  /// Any number of tags per image (`tags` column).
  case tags
  /// A caption per image (`text` column), as a bag of words.
  case text
  /// A precomputed vector per image (a .npy file of rows).
  case embedding
}

/// How conditions become vectors: the kind, the column names and the row width. Codable, so a
/// checkpoint records it and `kallima sample --label/--tags/--text` can encode without the dataset.
///
/// Names are what a user types: class names as written in the source; tags and words
/// lowercased (tags are matched case-insensitively and never contain a comma; words are
/// lowercased runs of letters and digits, see `words(in:)`).
public struct ConditionVocabulary: Codable, Equatable, Sendable {
  public var kind: ConditionKind
  /// class names (class), tags (tags), words (text), [] (embedding)
  public var names: [String]
  /// vector length: classes / tags / words / embedding size
  public var width: Int

  /// Checks that `width` is `names.count` (class, tags, text; names distinct and not empty)
  /// or, for an embedding, positive with no names.
  public init(kind: ConditionKind, names: [String], width: Int) throws {
    if let problem = Self.problem(kind: kind, names: names, width: width) {
      throw KallimaError.invalidArgument(op: "ConditionVocabulary", message: problem)
    }
    (self.kind, self.names, self.width) = (kind, names, width)
  }

  /// The vocabulary of `kind` over `names` (width `names.count`); embeddings use `init(kind:names:width:)`.
  public init(kind: ConditionKind, names: [String]) throws {
    try self.init(kind: kind, names: names, width: names.count)
  }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let kind = try container.decode(ConditionKind.self, forKey: .kind)
    let names = try container.decode([String].self, forKey: .names)
    let width = try container.decode(Int.self, forKey: .width)
    if let problem = Self.problem(kind: kind, names: names, width: width) {
      throw DecodingError.dataCorrupted(
        DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "condition vocabulary: \(problem)"))
    }
    (self.kind, self.names, self.width) = (kind, names, width)
  }

  private static func problem(kind: ConditionKind, names: [String], width: Int) -> String? {
    if kind == .embedding {
      if !names.isEmpty { return "an embedding vocabulary has no names (got \(names.count))" }
      return width >= 1 ? nil : "embedding width is \(width); it must be at least 1"
    }
    if names.isEmpty { return "a \(kind.rawValue) vocabulary needs at least one name" }
    if width != names.count {
      return "width \(width) differs from the \(names.count) names of a \(kind.rawValue) vocabulary"
    }
    if Set(names).count != names.count {
      var seen = Set<String>()
      let repeated = names.filter { !seen.insert($0).inserted }
      return "names repeat: \(repeated.prefix(5).joined(separator: ", "))"
    }
    if let empty = names.firstIndex(where: \.isEmpty) { return "name \(empty) is empty" }
    return nil
  }

  /// One condition as a vector of `width` floats:
  /// - class: one-hot; input is a class name (exact, else case-insensitive) or its index;
  /// - tags: multi-hot; input "blue hair, red eyes" (comma-separated, trimmed, case-insensitive);
  /// - text: bag of words, v[w] = count(w) / (number of in-vocabulary words) — the mean of the
  ///   words' one-hot rows, so a learned embedding applied to it is the mean word embedding;
  ///   tokens are lowercased runs of letters/digits (`words(in:)`);
  /// - embedding: throws (embeddings come as vectors).
  /// Unknown class/tag/word -> KallimaError.invalidArgument naming it and listing (some of) the vocabulary.
  public func encode(_ input: String) throws -> [Float] {
    let op = "ConditionVocabulary.encode"
    var vector = [Float](repeating: 0, count: width)
    switch kind {
    case .class:
      vector[try classIndex(input)] = 1
    case .tags:
      let tags = Self.tags(in: input)
      guard !tags.isEmpty else {
        throw KallimaError.invalidArgument(
          op: op, message: "no tags in '\(input)'; give tags separated by commas, \(listing)")
      }
      for tag in tags {
        guard let i = index[tag] else {
          throw KallimaError.invalidArgument(op: op, message: "unknown tag '\(tag)'; \(listing)")
        }
        vector[i] = 1
      }
    case .text:
      let words = Self.words(in: input)
      guard !words.isEmpty else {
        throw KallimaError.invalidArgument(op: op, message: "no words in '\(input)'; \(listing)")
      }
      for word in words {
        guard let i = index[word] else {
          throw KallimaError.invalidArgument(op: op, message: "unknown word '\(word)' (in '\(input)'); \(listing)")
        }
        vector[i] += 1
      }
      let total = Float(words.count)
      for i in vector.indices where vector[i] != 0 { vector[i] /= total }
    case .embedding:
      throw KallimaError.invalidArgument(
        op: op, message: "an embedding condition is a vector of \(width) values, not text; pass the vector itself")
    }
    return vector
  }

  /// The class index `input` names: an exact name, else the one name equal ignoring case,
  /// else a decimal index below `width`.
  public func classIndex(_ input: String) throws -> Int {
    let text = input.trimmingCharacters(in: .whitespaces)
    guard kind == .class else {
      throw KallimaError.invalidArgument(
        op: "ConditionVocabulary.classIndex", message: "the condition is \(kind.rawValue), not class")
    }
    if let i = names.firstIndex(of: text) { return i }
    let folded = names.indices.filter { names[$0].lowercased() == text.lowercased() }
    if folded.count == 1 { return folded[0] }
    if let i = Int(text), names.indices.contains(i) { return i }
    let why =
      folded.count > 1
      ? "'\(text)' matches \(folded.map { "'\(names[$0])'" }.joined(separator: " and ")) ignoring case; write it exactly"
      : "unknown class '\(text)'"
    throw KallimaError.invalidArgument(
      op: "ConditionVocabulary.encode", message: "\(why); \(listing), or an index 0...\(width - 1)")
  }

  /// Human-readable form of a vector (class name; tags joined by ", "; for text the words with
  /// nonzero weight, in vocabulary order; for embedding "embedding").
  public func describe(_ vector: [Float]) -> String {
    guard vector.count == width else { return "(a vector of \(vector.count) values; this vocabulary has \(width))" }
    switch kind {
    case .class:
      guard let best = vector.indices.max(by: { vector[$0] < vector[$1] }), vector[best] > 0 else {
        return "(no class)"
      }
      return names[best]
    case .tags:
      let on = vector.indices.filter { vector[$0] >= 0.5 }
      return on.isEmpty ? "(no tags)" : on.map { names[$0] }.joined(separator: ", ")
    case .text:
      let on = vector.indices.filter { vector[$0] != 0 }
      return on.isEmpty ? "(no words)" : on.map { names[$0] }.joined(separator: " ")
    case .embedding:
      return "embedding"
    }
  }

  /// "the N classes are: a, b, ... (and M more)" for errors.
  var listing: String {
    let what = ["class": "classes", "tags": "tags", "text": "words", "embedding": "values"][kind.rawValue]!
    let shown = names.prefix(20).joined(separator: ", ")
    return "the \(names.count) \(what) are: \(shown)" + (names.count > 20 ? " (and \(names.count - 20) more)" : "")
  }

  /// Name -> index (built on use; vocabularies are small).
  private var index: [String: Int] {
    Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
  }

  /// Tags of a comma-separated string: split at commas, trimmed, lowercased, empties dropped,
  /// repeats removed (first occurrence kept).
  public static func tags(in text: String) -> [String] {
    var seen = Set<String>()
    return text.split(separator: ",", omittingEmptySubsequences: false)
      .map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
      .filter { !$0.isEmpty && seen.insert($0).inserted }
  }

  /// Words of a caption: maximal runs of letters and digits (Unicode), lowercased, in order
  /// and with repeats. "A red T-shirt, 2 of them" -> a, red, t, shirt, 2, of, them.
  public static func words(in text: String) -> [String] {
    var words: [String] = []
    var current = ""
    for character in text.lowercased() {
      if character.isLetter || character.isNumber {
        current.append(character)
      } else if !current.isEmpty {
        words.append(current)
        current = ""
      }
    }
    if !current.isEmpty { words.append(current) }
    return words
  }
}
