import Foundation
import KallimaCore
import KallimaData

/// What a run folder's `status.json` says about the run: written atomically by the training
/// process when it starts, at each log interval and when it ends, so `kallima runs` and the
/// run's `index.html` can tell a live run from a stopped, diverged or finished one.
///
/// A process killed without warning (kill -9, a power cut) leaves `state` "running"; readers
/// therefore trust "running" only while the recorded process is alive (same host) or, for a
/// run on another host, while the file was updated recently (see `liveState`).
public struct RunStatus: Codable, Equatable, Sendable {
  public enum State: String, Codable, Sendable {
    /// The training loop is going (or was, until the process vanished: see `liveState`).
    case running
    /// Stopped before its target: SIGINT/SIGTERM, or a process that vanished.
    case stopped
    /// Stopped on a non-finite loss; the last good checkpoint is kept.
    case diverged
    /// Reached its target step count.
    case finished
    /// Stopped by an error other than divergence (message says which).
    case failed
  }

  public var state: State
  public var step: Int
  /// The step count the run trains to.
  public var steps: Int
  public var pid: Int32
  /// When `pid` started (Linux: clock ticks since boot, /proc/PID/stat), so that another
  /// process given the same pid after a kill -9 is not taken for the run; nil elsewhere and
  /// in status files written before it was recorded.
  public var started: UInt64?
  public var host: String
  /// Seconds since 1970 (UTC) of the last write.
  public var updated: Double
  /// Why the run stopped, for stopped/diverged/failed.
  public var message: String?

  public init(state: State, step: Int, steps: Int, message: String? = nil) {
    self.state = state
    self.step = step
    self.steps = steps
    self.message = message
    pid = getpid()
    started = Self.startTime(of: pid)
    host = ProcessInfo.processInfo.hostName
    updated = Date().timeIntervalSince1970
  }

  public static let fileName = "status.json"

  /// Writes `folder`/status.json atomically.
  public func write(toFolder folder: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    try AtomicFile.write(try encoder.encode(self), to: URL(fileURLWithPath: folder).appendingPathComponent(Self.fileName).path)
  }

  /// Reads `folder`/status.json; nil when there is none (a run folder from before status
  /// files). A file that does not parse is an error naming it.
  public static func read(folder: String) throws -> RunStatus? {
    let path = URL(fileURLWithPath: folder).appendingPathComponent(fileName).path
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    do {
      return try JSONDecoder().decode(RunStatus.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
      throw KallimaError.io(
        path: path, message: "not a readable run status (\(decodingProblem(error))); it is rewritten when the run next starts")
    }
  }

  /// A run on another host counts as running while its status is younger than this.
  public static let staleAfter: Double = 600

  /// The state as it stands now: "running" becomes "stopped" when the recorded process is
  /// gone (same host; a process now holding the pid that started at another time is not the
  /// run), or, for another host, when the file has not been updated for `staleAfter` seconds.
  public func liveState(now: Date = Date()) -> State {
    guard state == .running else { return state }
    if host == ProcessInfo.processInfo.hostName {
      // kill(pid, 0) checks that the process exists without signalling it; EPERM means it
      // exists but belongs to someone else.
      guard kill(pid, 0) == 0 || errno == EPERM else { return .stopped }
      if let started, let current = Self.startTime(of: pid), current != started { return .stopped }
      return .running
    }
    return now.timeIntervalSince1970 - updated < Self.staleAfter ? .running : .stopped
  }

  /// The start time of process `pid` in clock ticks since boot (field 22 of /proc/PID/stat,
  /// counted after the parenthesised command name, which may hold spaces); nil without /proc.
  static func startTime(of pid: Int32) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    // Fields from 3 (state) on follow ") "; starttime is field 22.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 19 ? UInt64(fields[19]) : nil
  }

}

/// What a JSONDecoder error says, in a line: the field path and what was wrong with it.
func decodingProblem(_ error: Error) -> String {
  switch error {
  case DecodingError.dataCorrupted(let c): return c.underlyingError.map { "\($0.localizedDescription)" } ?? c.debugDescription
  case DecodingError.keyNotFound(let key, let c):
    let field = c.codingPath.map(\.stringValue).joined(separator: ".")
    return field.isEmpty ? "no \"\(key.stringValue)\"" : "\(field): no \"\(key.stringValue)\""
  case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
    return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
  default: return "\(error)"
  }
}
