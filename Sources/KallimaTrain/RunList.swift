import Foundation

/// The table of `kallima runs`: one row per run folder with its state, step, last losses
/// and best evaluation; damaged files are listed apart and the table goes on.
public enum RunList {
  public struct Listing {
    public var table: String
    /// One message per damaged or missing file, naming it.
    public var problems: [String]
    public var runs: [RunFolder]
  }

  /// Lists the run folders at or under `root` (see RunFolder.find).
  public static func list(under root: String, now: Date = Date()) -> Listing {
    let runs = RunFolder.find(under: root).map(RunFolder.init(path:))
    let base = URL(fileURLWithPath: root).standardizedFileURL.path
    func name(_ path: String) -> String {
      let full = URL(fileURLWithPath: path).standardizedFileURL.path
      if full == base { return URL(fileURLWithPath: full).lastPathComponent }
      return full.hasPrefix(base + "/") ? String(full.dropFirst(base.count + 1)) : full
    }
    func value(_ run: RunFolder, _ field: String) -> String {
      guard let v = run.logs.last?.values[field] else { return "–" }
      guard v.isFinite else { return "\(v)" }
      return String(format: v != 0 && (abs(v) >= 1e5 || abs(v) < 1e-3) ? "%.3e" : "%.4f", v)
    }
    var rows = [["RUN", "STATE", "STEP", "LOSS_D", "LOSS_G", "D(x)", "D(G(z))", "BEST EVAL", "UPDATED"]]
    for run in runs {
      let target = run.status.map { "/\($0.steps)" } ?? ""
      let best = run.bestEvaluation.map { b in
        String(format: "%@ %.4g @%d", b.field, b.record.values[b.field] ?? .nan, b.record.step)
      }
      let updated = run.updated.map { age(now.timeIntervalSince1970 - $0) } ?? "–"
      rows.append([
        name(run.path), run.state(now: now), "\(run.step)\(target)", value(run, "loss_d"), value(run, "loss_g"),
        value(run, "d_x"), value(run, "d_g_z"), best ?? "–", updated,
      ])
    }
    let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
    let table = rows.map { row in
      row.enumerated().map { c, cell in
        c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count)
      }.joined(separator: "  ")
    }.joined(separator: "\n")
    return Listing(table: table, problems: runs.flatMap(\.problems), runs: runs)
  }

  /// "12s ago", "5m ago", "3h ago", "2d ago".
  static func age(_ seconds: Double) -> String {
    let s = max(Int(seconds), 0)
    if s < 60 { return "\(s)s ago" }
    if s < 3600 { return "\(s / 60)m ago" }
    if s < 86400 { return "\(s / 3600)h ago" }
    return "\(s / 86400)d ago"
  }
}
