import Foundation
import KallimaCore

/// Where a backend's tuning came from.
public enum TuningSource: Equatable, Sendable, CustomStringConvertible {
  /// A table `kallima tune` wrote: its path and measurement date.
  case user(path: String, date: String)
  /// A table compiled into Kallima, named by the device and driver it was measured on.
  case shipped(String)
  /// No table for this device: the generic choices (`GemmSelection.untuned`, and CLBlast
  /// overrides for PoCL CPUs).
  case untuned
  /// `KALLIMA_TUNING=off`: no table consulted (generic choices, as untuned).
  case disabled

  /// Whether a measured table is in use.
  public var isTuned: Bool {
    switch self {
    case .user, .shipped: true
    case .untuned, .disabled: false
    }
  }

  public var description: String {
    switch self {
    case .user(let path, let date): "tuned \(date) (\(path))"
    case .shipped(let name): "shipped table (\(name))"
    case .untuned: "untuned"
    case .disabled: "tuning off (KALLIMA_TUNING=off)"
    }
  }

  /// A table column: "tuned 2026-11-29", "shipped", "untuned" or "off".
  public var summary: String {
    switch self {
    case .user(_, let date): "tuned \(date.prefix(10))"
    case .shipped: "shipped"
    case .untuned: "untuned"
    case .disabled: "off"
    }
  }
}

/// Finds, reads and writes per-device tuning tables.
///
/// Order: `KALLIMA_TUNING=off` consults none; else the user's table in `tuning/` under the
/// cache folder (`$KALLIMA_CACHE_DIR`, else `$XDG_CACHE_HOME/kallima`, else
/// `~/.cache/kallima`), one file per device; else a table shipped in the binary for the
/// same platform and device name; else untuned. A file that cannot be read, is not a
/// `kallima-tuning-1` table, or was measured on another device is ignored with a one-line
/// warning (never a crash, never another device's table).
public enum DeviceTuning {
  /// `tuning/` under the cache folder; nil when the cache is off (`KALLIMA_CACHE_DIR=off`).
  public static func defaultDirectory() -> URL? {
    ProgramCache.defaultDirectory()?.appendingPathComponent("tuning")
  }

  /// Whether `KALLIMA_TUNING=off` is set in `environment`.
  public static func isDisabled(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    environment["KALLIMA_TUNING"] == "off"
  }

  /// The file name of a device's table: platform and device name, lower-cased, with every
  /// run of other characters made one "-" ("portable-computing-language--pthread-skylake-avx512.json").
  public static func fileName(for identity: TuningTable.DeviceIdentity) -> String {
    func slug(_ text: String) -> String {
      var result = ""
      for scalar in text.lowercased().unicodeScalars {
        if scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar)) {
          result.unicodeScalars.append(scalar)
        } else if !result.hasSuffix("-") && !result.isEmpty {
          result += "-"
        }
      }
      return result.hasSuffix("-") ? String(result.dropLast()) : result
    }
    return "\(slug(identity.platform))--\(slug(identity.device)).json"
  }

  /// The table a device uses, where it came from, and warnings about files passed over.
  public struct Resolution {
    public var table: TuningTable?
    public var source: TuningSource
    public var warnings: [String]
  }

  /// Finds the table for `device` (see the type's documentation for the order).
  /// `directory` is the `tuning/` folder (nil: no user tables).
  public static func resolve(
    for device: OpenCLDeviceInfo, directory: URL? = defaultDirectory(),
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> Resolution {
    if isDisabled(environment) { return Resolution(table: nil, source: .disabled, warnings: []) }
    var warnings: [String] = []
    if let directory {
      let url = directory.appendingPathComponent(fileName(for: .init(device)))
      switch readUserTable(url, for: device) {
      case .success(let table?):
        if table.device.driverVersion != device.driverVersion {
          warnings.append(
            "kallima: \(url.path) was measured under driver \(table.device.driverVersion); this device has "
              + "\(device.driverVersion): using it, but `kallima tune --device \(device.selector)` would refresh it")
        }
        return Resolution(
          table: table, source: .user(path: url.path, date: table.measured.date), warnings: warnings)
      case .success(nil): break
      case .failure(let reason):
        warnings.append("kallima: ignoring tuning table \(url.path): \(reason)")
      }
    }
    if let shipped = ShippedTuning.tables.first(where: { $0.device.matches(device) }) {
      return Resolution(table: shipped, source: .shipped(shipped.device.description), warnings: warnings)
    }
    return Resolution(table: nil, source: .untuned, warnings: warnings)
  }

  /// Where `device`'s tuning comes from (as a backend made now would load it), saying once
  /// on stderr why a file was passed over.
  public static func source(for device: OpenCLDeviceInfo) -> TuningSource {
    let resolution = resolve(for: device)
    resolution.warnings.forEach(warnOnce)
    return resolution.source
  }

  /// A one-line reason a file is passed over.
  struct Refusal: Error, CustomStringConvertible {
    var description: String
  }

  /// The table at `url` when it exists and is `device`'s; nil when there is no file.
  static func readUserTable(_ url: URL, for device: OpenCLDeviceInfo) -> Result<TuningTable?, Refusal> {
    guard FileManager.default.fileExists(atPath: url.path) else { return .success(nil) }
    let table: TuningTable
    do {
      table = try TuningTable.decode(try Data(contentsOf: url), origin: url.path)
    } catch let error as KallimaError {
      if case .io(_, let message) = error { return .failure(Refusal(description: message)) }
      return .failure(Refusal(description: error.description))
    } catch {
      return .failure(Refusal(description: error.localizedDescription))
    }
    guard table.device.matches(device) else {
      return .failure(Refusal(description: "it was measured on \(table.device), not \(TuningTable.DeviceIdentity(device))"))
    }
    return .success(table)
  }

  /// Writes `table` as its device's file in `directory` (created if need be), atomically
  /// (a temporary file renamed over the old one); returns the path.
  @discardableResult
  public static func write(_ table: TuningTable, directory: URL) throws -> URL {
    let url = directory.appendingPathComponent(fileName(for: table.device))
    do {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      try table.encoded().write(to: url, options: .atomic)
    } catch {
      throw KallimaError.io(path: url.path, message: "cannot write the tuning table: \(error.localizedDescription)")
    }
    return url
  }

  private static let warnedLock = NSLock()
  nonisolated(unsafe) private static var warned: Set<String> = []

  /// Prints `message` on stderr unless this process printed it already (each backend on
  /// the device resolves its table again).
  static func warnOnce(_ message: String) {
    warnedLock.lock()
    let first = warned.insert(message).inserted
    warnedLock.unlock()
    if first { FileHandle.standardError.write(Data((message + "\n").utf8)) }
  }
}
