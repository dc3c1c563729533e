import Foundation
import KallimaCore

/// A CelebA attribute file, `list_attr_celeba.txt` (Liu et al., "Deep Learning Face Attributes in
/// the Wild", ICCV 2015; the file StarGAN reads, Choi et al., CVPR 2018):
///
///     202599
///     5_o_Clock_Shadow Arched_Eyebrows Attractive ...
///     000001.jpg -1  1  1 -1 ...
///
/// Line 1: the number of images. Line 2: the attribute names. Then one line per image: its file
/// name, then one value per attribute, 1 (has it) or -1 (has not). Fields are separated by any
/// run of spaces or tabs (CelebA pads the values to width 2); CRLF line ends and blank lines
/// (anywhere after line 2) are accepted.
public struct AttributeList: Sendable, Equatable {
  /// The attribute names of line 2, in file order.
  public var names: [String]
  /// Per image line, in file order: the image file name as written.
  public var files: [String]
  /// files.count × names.count values, row-major, each true for 1 and false for -1.
  public var values: [Bool]
  /// Per image line, its 1-based line number in the file, for messages.
  public var lines: [Int]
  /// The file read.
  public var path: String

  /// Image `n`'s value of attribute `a`.
  public func value(_ n: Int, _ a: Int) -> Bool { values[n * names.count + a] }

  /// "path:line" of image `n`'s line.
  public func location(_ n: Int) -> String { "\(path):\(lines[n])" }

  /// At most this many problems are listed in an error, then a count.
  static let shownProblems = 10

  /// Reads and checks `path`. Every malformed line is a problem, and all of them are reported in
  /// one `KallimaError.io` as `path:line: what is wrong` (up to 10, then a count): a first line that
  /// is not a count or disagrees with the number of image lines, no attribute names or a repeated
  /// one, an image line with the wrong number of values or a value other than 1 and -1, an image
  /// named twice.
  public static func read(_ path: String) throws -> AttributeList {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
      throw KallimaError.io(
        path: path,
        message: isDirectory.boolValue
          ? "is a folder; pass the attribute file itself (CelebA's list_attr_celeba.txt)"
          : "no such file; pass CelebA's list_attr_celeba.txt (line 1 the image count, line 2 the attribute names)")
    }
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw KallimaError.io(
        path: path, message: "cannot be read (\(error.localizedDescription)); check its permissions")
    }
    return try parse(data, path: path)
  }

  /// Parses the bytes of an attribute file; `path` names it in messages.
  public static func parse(_ data: Data, path: String) throws -> AttributeList {
    var problems: [String] = []
    func problem(_ line: Int, _ text: String) { problems.append("\(path):\(line): \(text)") }
    let rawLines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    /// Whitespace-separated fields of a line (bytes; not valid UTF-8 -> nil).
    func fields(_ raw: Data) -> [String]? {
      let bytes = raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw[...]
      guard let text = String(bytes: bytes, encoding: .utf8) else { return nil }
      return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
    }
    let expectation =
      "an attribute file has the image count on line 1, the attribute names on line 2, then "
      + "'<image> <1 or -1 per attribute>' per line (CelebA's list_attr_celeba.txt)"
    guard rawLines.count >= 2, let first = fields(rawLines[0]), let second = fields(rawLines[1]) else {
      throw KallimaError.io(
        path: path,
        message: rawLines.count < 2
          ? "has \(data.isEmpty ? "no lines" : "one line"); \(expectation)"
          : "line \(fields(rawLines[0]) == nil ? 1 : 2) is not UTF-8 text; \(expectation)")
    }
    var declared: Int? = nil
    if first.count == 1, let n = Int(first[0]), n >= 0 {
      declared = n
    } else {
      problem(1, "'\(first.joined(separator: " ").prefix(40))' is not the image count; \(expectation)")
    }
    let names = second
    if names.isEmpty { problem(2, "no attribute names; line 2 lists them, e.g. 'Black_Hair Blond_Hair Male'") }
    var seenNames: [String: Int] = [:]
    for (i, name) in names.enumerated() {
      if let earlier = seenNames[name] {
        problem(2, "attribute '\(name)' is named twice (columns \(earlier + 1) and \(i + 1)); names must be distinct")
      } else {
        seenNames[name] = i
      }
    }
    var files: [String] = []
    var values: [Bool] = []
    var lines: [Int] = []
    var seenFiles: [String: Int] = [:]
    var imageLines = 0
    for index in 2..<rawLines.count {
      let number = index + 1
      guard let parts = fields(rawLines[index]) else {
        problem(number, "not UTF-8 text")
        continue
      }
      if parts.isEmpty { continue }
      imageLines += 1
      let file = parts[0]
      let given = parts.count - 1
      guard given == names.count else {
        problem(
          number,
          "'\(file.prefix(40))' has \(given) value\(given == 1 ? "" : "s") for the \(names.count) attributes of "
            + "line 2; write one 1 or -1 per attribute")
        continue
      }
      var row: [Bool] = []
      row.reserveCapacity(given)
      var bad: (column: Int, text: String)? = nil
      for (column, text) in parts.dropFirst().enumerated() {
        switch text {
        case "1", "+1": row.append(true)
        case "-1": row.append(false)
        default: if bad == nil { bad = (column, text) }
        }
      }
      if let bad {
        problem(
          number,
          "'\(file.prefix(40))': value '\(bad.text.prefix(20))' for \(names[bad.column]) is not 1 or -1")
        continue
      }
      if let earlier = seenFiles[file] {
        problem(number, "'\(file.prefix(40))' is already listed on line \(earlier); keep one line per image")
        continue
      }
      seenFiles[file] = number
      files.append(file)
      values += row
      lines.append(number)
    }
    if let declared, declared != imageLines {
      problems.insert(
        "\(path):1: says \(declared) images but the file has \(imageLines) image lines; correct the count or the list",
        at: 0)
    }
    if problems.isEmpty, imageLines == 0 {
      problem(rawLines.count, "no image lines after the attribute names; \(expectation)")
    }
    if !problems.isEmpty { throw report(problems, path: path, what: "in the attribute file") }
    return AttributeList(names: names, files: files, values: values, lines: lines, path: path)
  }

  /// One error listing `problems` (up to 10, then a count).
  static func report(_ problems: [String], path: String, what: String) -> KallimaError {
    let shown = problems.prefix(shownProblems).map { "  " + $0 }.joined(separator: "\n")
    let more = problems.count - shownProblems
    return KallimaError.io(
      path: path,
      message: "\(problems.count) problem\(problems.count == 1 ? "" : "s") \(what); fix "
        + "\(problems.count == 1 ? "it" : "them"):\n" + shown + (more > 0 ? "\n  ... and \(more) more" : ""))
  }

  /// The indices of `selected` among `names`. An unknown name throws `KallimaError.invalidArgument`
  /// listing the file's attributes; so does an empty selection or a repeated name.
  public func columns(of selected: [String]) throws -> [Int] {
    let op = "AttributeList.columns"
    guard !selected.isEmpty else {
      throw KallimaError.invalidArgument(
        op: op, message: "no attributes selected; choose some of the \(names.count) in \(path): \(available)")
    }
    if let repeated = selected.first(where: { name in selected.filter { $0 == name }.count > 1 }) {
      throw KallimaError.invalidArgument(op: op, message: "attribute '\(repeated)' is selected twice; name each once")
    }
    let unknown = selected.filter { !names.contains($0) }
    guard unknown.isEmpty else {
      throw KallimaError.invalidArgument(
        op: op,
        message:
          "unknown attribute\(unknown.count == 1 ? "" : "s") \(unknown.map { "'\($0)'" }.joined(separator: ", ")) "
          + "(names are case-sensitive); \(path) has these \(names.count): \(available)")
    }
    return selected.map { names.firstIndex(of: $0)! }
  }

  /// The attribute names, space-separated.
  var available: String { names.joined(separator: " ") }
}
