import Foundation
import KallimaCore

/// The conditions of a Hugging Face `imagefolder` dataset
/// (https://huggingface.co/docs/datasets/image_dataset#imagefolder): `metadata.jsonl` files in
/// the image folder or its subfolders, one JSON object per line with `file_name` (the image's
/// path relative to the metadata file's folder) and condition columns:
///
///     {"file_name": "0001.png", "label": "cat", "tags": ["blue hair", "red eyes"], "text": "a cat on a mat"}
///
/// `label` is a string (class name) or a non-negative integer (class index), one type for all
/// lines; `tags` an array of strings or one comma-separated string; `text` a string. A null or
/// absent column means the image has no such condition. Blank lines are ignored. Only the
/// column the condition asks for is checked; other columns may hold anything.
struct ImageFolderMetadata {
  /// One line's condition, already checked.
  enum Value {
    case name(String)
    case number(Int)
    case tags([String])
    case text(String)
  }

  struct Row {
    /// "path:line" of the line, for messages.
    var location: String
    /// The requested column, nil when absent, null or an empty string.
    var value: Value?
  }

  /// Integer labels are class indices below this (a vocabulary of 0...label is built from them).
  static let maximumClassIndex = 1 << 20

  /// The metadata files, sorted.
  var files: [String]
  /// Rows by image path relative to the image folder ("sub/0001.png").
  var rows: [String: Row]

  /// The `metadata.jsonl` files under `root` (recursively), sorted by path.
  static func files(in root: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
    var found: [String] = []
    while let relative = walker.nextObject() as? String {
      if (relative as NSString).lastPathComponent == "metadata.jsonl" {
        found.append((root as NSString).appendingPathComponent(relative))
      }
    }
    return found.sorted()
  }

  /// The column `kind` reads: `label`, `tags` or `text`.
  static func column(for kind: ConditionKind) -> String {
    switch kind {
    case .class: return "label"
    case .tags: return "tags"
    case .text, .embedding: return "text"
    }
  }

  /// Reads `files` (found under `root`) for the column of `kind`. Every malformed line is a
  /// problem; all are reported in one error (up to 10 shown, then a count).
  static func read(root: String, files: [String], kind: ConditionKind) throws -> ImageFolderMetadata {
    let column = column(for: kind)
    var rows: [String: Row] = [:]
    var problems: [String] = []
    var firstLabelType: (isNumber: Bool, location: String)? = nil
    let rootParts = components(root)
    let decoder = JSONDecoder()
    for file in files {
      let data: Data
      do {
        data = try Data(contentsOf: URL(fileURLWithPath: file))
      } catch {
        throw KallimaError.io(
          path: file, message: "cannot be read (\(error.localizedDescription)); check its permissions")
      }
      let folderParts = Array(components((file as NSString).deletingLastPathComponent).dropFirst(rootParts.count))
      let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
      for (number, raw) in zip(1..., lines) {
        let location = "\(file):\(number)"
        func problem(_ text: String) { problems.append("\(location): \(text)") }
        let line = raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw[...]
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
        guard let value = try? decoder.decode(JSONValue.self, from: Data(line)) else {
          problem(
            "not valid JSON; each line must be one JSON object such as {\"file_name\": \"a.png\", \"\(column)\": ...}")
          continue
        }
        guard case .object(let object) = value else {
          problem("a JSON \(value.typeName), not an object; each line must be one object with \"file_name\"")
          continue
        }
        guard let name = object["file_name"] else {
          problem("no \"file_name\"; add the image's path relative to \((file as NSString).deletingLastPathComponent)")
          continue
        }
        guard case .string(let fileName) = name, !fileName.isEmpty else {
          problem(
            "\"file_name\" is \(name.typeName == "string" ? "empty" : "a \(name.typeName)"); it must be the image's path"
          )
          continue
        }
        guard let key = normalise(folderParts + components(fileName)) else {
          problem("\"file_name\" '\(fileName)' points outside \(root); use a path inside the image folder")
          continue
        }
        if let earlier = rows[key] {
          problem(
            "\"file_name\" '\(fileName)' names \(key), already described on \(earlier.location); keep one line per image"
          )
          continue
        }
        var condition: Value? = nil
        switch (kind, object[column] ?? .null) {
        case (_, .null): break
        case (.class, .string(let s)):
          let trimmed = s.trimmingCharacters(in: .whitespaces)
          if !trimmed.isEmpty { condition = .name(trimmed) }
        case (.class, .number(let n)):
          guard let i = Int(exactly: n), i >= 0 else {
            problem("\"label\" \(n) is not a class index; integer labels must be 0, 1, 2, ... (or use class names)")
            continue
          }
          guard i < maximumClassIndex else {
            problem(
              "\"label\" \(i) would make over \(maximumClassIndex) classes; number classes from 0, or use class names")
            continue
          }
          condition = .number(i)
        case (.tags, .string(let s)):
          condition = .tags(ConditionVocabulary.tags(in: s))
        case (.tags, .array(let items)):
          var tags: [String] = []
          for item in items {
            guard case .string(let s) = item else { break }
            tags.append(s)
          }
          guard tags.count == items.count else {
            problem("\"tags\" holds a non-string; write tags as an array of strings or one comma-separated string")
            continue
          }
          condition = .tags(ConditionVocabulary.tags(in: tags.joined(separator: ",")))
        case (.text, .string(let s)):
          condition = .text(s)
        case (_, let other):
          let want = [
            "label": "a string (class name) or an integer (class index)",
            "tags": "an array of strings or one comma-separated string", "text": "a string",
          ][column]!
          problem("\"\(column)\" is a \(other.typeName); it must be \(want)")
          continue
        }
        if case .name = condition, let first = firstLabelType, first.isNumber {
          problem("\"label\" is a string here but an integer on \(first.location); use one type for all labels")
          continue
        }
        if case .number = condition, let first = firstLabelType, !first.isNumber {
          problem("\"label\" is an integer here but a string on \(first.location); use one type for all labels")
          continue
        }
        if firstLabelType == nil, let condition {
          if case .name = condition { firstLabelType = (false, location) }
          if case .number = condition { firstLabelType = (true, location) }
        }
        rows[key] = Row(location: location, value: condition)
      }
    }
    guard problems.isEmpty else {
      let shown = problems.prefix(10).map { "  " + $0 }.joined(separator: "\n")
      throw KallimaError.io(
        path: root,
        message: "\(problems.count) malformed line\(problems.count == 1 ? "" : "s") in metadata.jsonl "
          + "(Hugging Face imagefolder: one JSON object per line with \"file_name\" and the \"\(column)\" column); "
          + "fix \(problems.count == 1 ? "it" : "them"):\n" + shown
          + (problems.count > 10 ? "\n  ... and \(problems.count - 10) more" : ""))
    }
    return ImageFolderMetadata(files: files, rows: rows)
  }

  /// Path components without empty ones and ".".
  private static func components(_ path: String) -> [String] {
    path.split(separator: "/").map(String.init).filter { $0 != "." }
  }

  /// Components with ".." resolved, joined by "/"; nil when ".." climbs above the start.
  private static func normalise(_ parts: [String]) -> String? {
    var out: [String] = []
    for part in parts {
      if part == ".." {
        guard !out.isEmpty else { return nil }
        out.removeLast()
      } else {
        out.append(part)
      }
    }
    return out.isEmpty ? nil : out.joined(separator: "/")
  }
}

/// Any JSON value, for reading lines whose columns are checked by hand.
enum JSONValue: Decodable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  init(from decoder: Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let b = try? container.decode(Bool.self) {
      self = .bool(b)
    } else if let n = try? container.decode(Double.self) {
      self = .number(n)
    } else if let s = try? container.decode(String.self) {
      self = .string(s)
    } else if let a = try? container.decode([JSONValue].self) {
      self = .array(a)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  var typeName: String {
    switch self {
    case .null: return "null"
    case .bool: return "boolean"
    case .number: return "number"
    case .string: return "string"
    case .array: return "array"
    case .object: return "object"
    }
  }
}

extension ImageDataset {
  /// Reads one `metadata.jsonl` file as `loadConditioned` reads it for `condition` (the column
  /// it asks for; `file_name` relative to the file's folder) and returns how many lines describe
  /// an image. Throws the same errors (each malformed line as `file:line`). For tools and the fuzzer.
  @discardableResult
  public static func checkMetadata(_ file: String, condition: ConditionKind) throws -> Int {
    guard FileManager.default.fileExists(atPath: file) else {
      throw KallimaError.io(path: file, message: "no such file; check the path to metadata.jsonl")
    }
    let root = (file as NSString).deletingLastPathComponent
    return try ImageFolderMetadata.read(root: root.isEmpty ? "." : root, files: [file], kind: condition).rows.count
  }
}
