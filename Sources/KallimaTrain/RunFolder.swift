import Foundation
import KallimaCore

/// What a run folder holds, read back for people: the log of metrics.jsonl (training lines
/// and evaluation lines), the sample grids, the interpolation strip and status.json. Used by
/// the run's `index.html` (RunReport) and by `kallima runs`.
///
/// Reading never stops at a damaged file: a line of metrics.jsonl that does not parse, or a
/// status.json that does not, is skipped and described in `problems` (naming the file and
/// the line), and the rest is read.
public struct RunFolder {
  /// One line of metrics.jsonl: its numeric fields (non-finite values logged as "nan"/"inf"
  /// become Double.nan/±infinity), with `metric` set on evaluation lines.
  public struct Record: Equatable {
    public var step: Int
    public var metric: String?
    public var values: [String: Double]
    public var best: Bool?
  }

  public let path: String
  /// Training lines (loss_d, loss_g, d_x, d_g_z, …), in file order.
  public private(set) var logs: [Record] = []
  /// Evaluation lines (mode_coverage: kl, modes, …), in file order.
  public private(set) var evaluations: [Record] = []
  /// Sample grids, `samples/step_NNNNNN.png` relative to the folder, by step.
  public private(set) var grids: [(step: Int, file: String)] = []
  public private(set) var status: RunStatus?
  /// Damaged or missing files, one message each.
  public private(set) var problems: [String] = []

  public static let metricsFile = "metrics.jsonl"
  public static let interpolationFile = "interpolation.png"

  public init(path: String) {
    self.path = path
    readMetrics()
    readGrids()
    do {
      status = try RunStatus.read(folder: path)
    } catch {
      problems.append("\(error)")
    }
  }

  /// True for a folder a run wrote into: it has metrics.jsonl, status.json or checkpoints/.
  public static func isRunFolder(_ path: String) -> Bool {
    [metricsFile, RunStatus.fileName, "checkpoints"].contains {
      FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent($0).path)
    }
  }

  /// Run folders at or under `root` (not inside another run folder), depth-first in name
  /// order, at most `depth` levels down.
  public static func find(under root: String, depth: Int = 3) -> [String] {
    if isRunFolder(root) { return [root] }
    guard depth > 0,
      let names = try? FileManager.default.contentsOfDirectory(atPath: root)
    else { return [] }
    return names.sorted().filter { !$0.hasPrefix(".") }.flatMap { name -> [String] in
      let sub = URL(fileURLWithPath: root).appendingPathComponent(name).path
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: sub, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
      return find(under: sub, depth: depth - 1)
    }
  }

  func file(_ name: String) -> String { URL(fileURLWithPath: path).appendingPathComponent(name).path }

  public var hasInterpolation: Bool { FileManager.default.fileExists(atPath: file(Self.interpolationFile)) }

  /// The evaluation field that ranks checkpoints (lower is better): the first of these
  /// present in the records (a conditional run's 1 − conditional accuracy before mode KL).
  public static let rankingFields = ["fid", "kid", "conditional_error", "kl"]

  /// The best evaluation: the last one flagged best by the run, else the lowest ranking
  /// value; nil when the run never evaluated.
  public var bestEvaluation: (record: Record, field: String)? {
    guard let field = Self.rankingFields.first(where: { f in evaluations.contains { $0.values[f] != nil } }) else {
      return nil
    }
    let ranked = evaluations.filter { $0.values[field]?.isFinite == true }
    if let flagged = ranked.last(where: { $0.best == true }) { return (flagged, field) }
    return ranked.min { $0.values[field]! < $1.values[field]! }.map { ($0, field) }
  }

  /// The state now: status.json's (see RunStatus.liveState); without one, "diverged" when
  /// the last log has a non-finite loss, else "unknown".
  public func state(now: Date = Date()) -> String {
    if let status { return status.liveState(now: now).rawValue }
    if let last = logs.last, ["loss_d", "loss_g"].contains(where: { last.values[$0].map { !$0.isFinite } ?? false }) {
      return RunStatus.State.diverged.rawValue
    }
    return "unknown"
  }

  /// When the run last wrote (seconds since 1970): status.json's time, else metrics.jsonl's
  /// modification time; nil when it has neither.
  public var updated: Double? {
    if let status { return status.updated }
    let attributes = try? FileManager.default.attributesOfItem(atPath: file(Self.metricsFile))
    return (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970
  }

  /// The latest step: status.json's, else the last logged one.
  public var step: Int { status?.step ?? logs.last?.step ?? 0 }

  mutating func readMetrics() {
    let name = file(Self.metricsFile)
    guard FileManager.default.fileExists(atPath: name) else {
      problems.append("\(name): missing (the run has not logged yet, or the file was removed)")
      return
    }
    guard let data = FileManager.default.contents(atPath: name) else {
      problems.append("\(name): unreadable; check its permissions")
      return
    }
    var bad: [Int] = []
    for (index, line) in data.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
      guard let record = Self.parse(Data(line)) else {
        bad.append(index + 1)
        continue
      }
      if record.metric == nil { logs.append(record) } else { evaluations.append(record) }
    }
    if !bad.isEmpty {
      let lines = bad.prefix(5).map(String.init).joined(separator: ", ") + (bad.count > 5 ? ", …" : "")
      problems.append("\(name): skipped \(bad.count) line(s) that are not a metrics record (line \(lines))")
    }
  }

  /// One metrics.jsonl line: a JSON object with an integer "step"; numbers and the strings
  /// "nan", "inf", "-inf" are values, "metric" names an evaluation, "best" flags one.
  static func parse(_ line: Data) -> Record? {
    guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
      let step = (object["step"] as? NSNumber)?.intValue
    else { return nil }
    var record = Record(step: step, metric: object["metric"] as? String, values: [:])
    for (key, value) in object where key != "step" && key != "metric" {
      if key == "best" {
        record.best = (value as? NSNumber)?.boolValue
      } else if let number = value as? NSNumber {
        record.values[key] = number.doubleValue
      } else if let text = value as? String, let number = ["nan": Double.nan, "inf": .infinity, "-inf": -.infinity][text] {
        record.values[key] = number
      }
    }
    return record
  }

  mutating func readGrids() {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: file("samples"))) ?? []
    grids = names.compactMap { name -> (Int, String)? in
      guard name.hasPrefix("step_"), name.hasSuffix(".png"), let step = Int(name.dropFirst(5).dropLast(4)) else { return nil }
      return (step, "samples/" + name)
    }.sorted { $0.0 < $1.0 }
  }
}
