import Foundation
import KallimaCore
import KallimaData

/// A run described by a file: `kallima train --config run.json`. The file is a JSON object
/// whose keys are the long options of `kallima train` without their dashes, plus `method`
/// (gan, pix2pix, cyclegan, stargan) in place of the subcommand:
///
///     {"method": "gan", "data": "~/faces", "size": 64, "loss": "hinge", "spectral-norm": true}
///
/// Its options go before the command line's, so the command line overrides a value
/// (`--steps 10` after a config that says 5000). `true` gives a flag, `false` and `null`
/// leave it out, a string or number gives the option's value, an array repeats the option.
/// The file itself is copied into the run folder (`record`), so the folder says how the
/// run was started.
public enum RunConfig {
  /// The methods `kallima train` has, by subcommand name.
  public static let methods = ["gan", "pix2pix", "cyclegan", "stargan"]

  /// The file's method (nil when it names none) and its options as command-line arguments,
  /// in key order. `path` is named in every error.
  public static func arguments(fromJSON data: Data, path: String) throws -> (method: String?, arguments: [String]) {
    let options: [String: Value]
    do {
      options = try JSONDecoder().decode([String: Value].self, from: data)
    } catch DecodingError.dataCorrupted(let context) {
      throw KallimaError.io(path: path, message: "not valid JSON (\(context.underlyingError.map { "\($0)" } ?? context.debugDescription))")
    } catch {
      throw KallimaError.io(path: path, message: "a config is one JSON object of options, such as {\"steps\": 5000, \"loss\": \"hinge\"}")
    }
    var method: String?
    var arguments: [String] = []
    for key in options.keys.sorted() {
      let value = options[key]!
      if key == "method" {
        guard case .text(let name) = value, methods.contains(name) else {
          throw KallimaError.io(path: path, message: "\"method\" must be one of \(methods.joined(separator: ", "))")
        }
        method = name
        continue
      }
      let name = key.hasPrefix("--") ? String(key.dropFirst(2)) : key
      guard !name.isEmpty, !name.hasPrefix("-"), !name.contains(where: \.isWhitespace), name != "config" else {
        throw KallimaError.io(
          path: path, message: "\"\(key)\" is not an option name; keys are the long options without dashes (\"log-every\", \"lr\")")
      }
      let values: [Value]
      if case .list(let list) = value { values = list } else { values = [value] }
      for element in values {
        switch element {
        case .flag(true): arguments.append("--" + name)
        case .flag(false), .null: break
        case .text(let text): arguments += ["--" + name, text]
        case .list, .object:
          throw KallimaError.io(
            path: path, message: "\"\(key)\": a value is a string, a number, true/false, null or an array of those")
        }
      }
    }
    return (method, arguments)
  }

  /// One value of a config, numbers kept as the text that parses back to them. (Not
  /// KallimaData's `JSONValue`, whose numbers are Double: a 64-bit --seed would lose digits.)
  private enum Value: Decodable {
    case flag(Bool)
    case text(String)
    case list([Value])
    case object
    case null

    init(from decoder: Decoder) throws {
      let container = try decoder.singleValueContainer()
      if container.decodeNil() {
        self = .null
      } else if let flag = try? container.decode(Bool.self) {
        self = .flag(flag)
      } else if let integer = try? container.decode(Int64.self) {
        self = .text(String(integer))
      } else if let integer = try? container.decode(UInt64.self) {
        self = .text(String(integer))
      } else if let number = try? container.decode(Double.self) {
        self = .text(number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number))
      } else if let text = try? container.decode(String.self) {
        self = .text(text)
      } else if let list = try? container.decode([Value].self) {
        self = .list(list)
      } else {
        self = .object
      }
    }
  }

  /// Copies the config file `path` into `folder` (created if need be) as config.json,
  /// atomically. A folder that already has a different config.json (a resume with another
  /// file) keeps it and gets this one as config-step-NNNNNN.json, `step` being where the
  /// resumed run starts.
  /// Returns the path written, or nil when the folder already had this exact file.
  @discardableResult
  public static func record(_ path: String, in folder: URL, step: Int) throws -> String? {
    let contents: Data
    do { contents = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw KallimaError.io(path: path, message: "cannot read the config (\(error.localizedDescription))")
    }
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var target = folder.appendingPathComponent("config.json")
    if let existing = try? Data(contentsOf: target) {
      if existing == contents { return nil }
      target = folder.appendingPathComponent(String(format: "config-step-%06d.json", step))
    }
    try AtomicFile.write(contents, to: target.path)
    return target.path
  }
}
