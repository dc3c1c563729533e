import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpSuite

/// `kallima selftest`: the op catalog's parity cases (every op, forward and backward, the
/// shape sweeps around work-group edges; the same `OpCatalog.parityCases` the test suite
/// runs) on a device against the CPU reference, then a few DCGAN training steps on both.
public enum SelfTest {
  /// The parity cases to run: all of them, or with `quick` the first two and the last of
  /// each op (the catalog lists each op's edge shapes first and its largest or most
  /// composite case last), and only those whose name contains `filter` (case-insensitive).
  public static func cases(quick: Bool, filter: String? = nil) -> [OpCase] {
    var cases = OpCatalog.parityCases()
    if let filter, !filter.isEmpty {
      cases = cases.filter { $0.name.range(of: filter, options: .caseInsensitive) != nil }
    }
    guard quick else { return cases }
    var byOp: [String: [Int]] = [:]
    for (index, c) in cases.enumerated() { byOp[c.op, default: []].append(index) }
    let kept = Set(byOp.values.flatMap { indices in [indices.first!, indices.dropFirst().first, indices.last!].compactMap { $0 } })
    return cases.indices.filter { kept.contains($0) }.map { cases[$0] }
  }

  /// One op's cases in the report.
  public struct OpRow: Sendable {
    public let op: String
    public let cases: Int
    /// The worst case's |candidate − reference| / allowed (`CaseComparison.worstRatio`).
    public let worstRatio: Double
    /// Names and messages of the cases that failed.
    public let failures: [String]
    public var passed: Bool { failures.isEmpty }
  }

  public struct Report: Sendable {
    public let device: String
    public let quick: Bool
    public let ops: [OpRow]
    public let training: TrainingParity?
    public let seconds: Double

    public var failedCases: Int { ops.reduce(0) { $0 + $1.failures.count } }
    public var passed: Bool { failedCases == 0 && (training?.passed ?? true) }
  }

  /// Runs the cases and (unless `training` is 0 steps) the training comparison on
  /// `candidate`. `progress` gets each case as it finishes (for a progress line). A case
  /// that throws counts as failed, with the error as its message.
  public static func run(
    on candidate: Backend, deviceName: String, quick: Bool, filter: String? = nil, trainingSteps: Int,
    progress: (Int, Int, CaseComparison) -> Void = { _, _, _ in }
  ) throws -> Report {
    let start = Date()
    let reference = CPUBackend()
    let selected = cases(quick: quick, filter: filter)
    var results: [CaseComparison] = []
    for (index, c) in selected.enumerated() {
      let result: CaseComparison
      do {
        result = try c.compare(on: candidate, reference: reference)
      } catch {
        result = CaseComparison(op: c.op, detail: c.detail, worstRatio: .infinity, problems: ["threw: \(error)"])
      }
      results.append(result)
      progress(index + 1, selected.count, result)
    }
    var order: [String] = []
    var byOp: [String: [CaseComparison]] = [:]
    for r in results {
      if byOp[r.op] == nil { order.append(r.op) }
      byOp[r.op, default: []].append(r)
    }
    let rows = order.map { op in
      let list = byOp[op]!
      return OpRow(
        op: op, cases: list.count, worstRatio: list.map(\.worstRatio).max() ?? 0,
        failures: list.filter { !$0.passed }.map { "\($0.name): \($0.problems.joined(separator: "; "))" })
    }
    let training = trainingSteps > 0 ? try TrainingParity.run(on: candidate, steps: trainingSteps) : nil
    return Report(
      device: deviceName, quick: quick, ops: rows, training: training, seconds: Date().timeIntervalSince(start))
  }
}

extension SelfTest.Report {
  /// The table `kallima selftest` prints: one row per op (cases, worst error as a fraction
  /// of the allowed one, PASS/FAIL), the training comparison's worst entry per kind, then
  /// every failure with the op and shape, and a verdict line.
  public var table: String {
    var lines = ["self-test on \(device)\(quick ? " (--quick)" : ""): CPU reference vs device"]
    let width = max(24, ops.map(\.op.count).max() ?? 0)
    lines.append(pad("op", width) + "  cases  worst error / allowed  result")
    for row in ops {
      lines.append(
        pad(row.op, width) + "  " + pad(String(row.cases), 5, left: true) + "  "
          + pad(Self.format(row.worstRatio), 21, left: true) + "  " + (row.passed ? "pass" : "FAIL"))
    }
    if let training {
      lines.append("")
      lines.append(
        "DCGAN \(TrainingParity.config.imageSize)x\(TrainingParity.config.imageSize), width \(TrainingParity.config.ngf), batch \(TrainingParity.batch), \(training.steps) steps on both (error relative to the CPU value; bound):")
      for (kind, entry) in training.worstByKind {
        lines.append(
          "  " + pad(kind, 14) + String(format: "  %.2e of %.0e  ", entry.error, entry.bound)
            + (entry.passed ? "pass" : "FAIL") + "  (\(entry.name))")
      }
    }
    let failures = ops.flatMap(\.failures) + (training?.failures.map {
      String(format: "training: %@ relative error %.3g > %.0e", $0.name, $0.error, $0.bound)
    } ?? [])
    if !failures.isEmpty {
      lines.append("")
      lines.append("failures:")
      lines += failures.map { "  " + $0 }
    }
    let caseCount = ops.reduce(0) { $0 + $1.cases }
    lines.append("")
    lines.append(
      passed
        ? String(format: "PASS: %d cases of %d ops%@ in %.1f s", caseCount, ops.count, training == nil ? "" : " and the training steps", seconds)
        : String(format: "FAIL: %d of %d cases failed%@ (%.1f s)", failedCases, caseCount, training?.passed == false ? ", and the training comparison" : "", seconds))
    return lines.joined(separator: "\n")
  }

  /// "0.031", "exact" for 0, "inf" for infinity.
  static func format(_ ratio: Double) -> String {
    if ratio == 0 { return "exact" }
    if !ratio.isFinite { return "inf" }
    return String(format: ratio < 0.001 ? "%.1e" : "%.3f", ratio)
  }

  private func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? fill + s : s + fill
  }
}

// The JSON form of a report (`kallima selftest --json`): infinite ratios and errors are
// written as null (JSON has no infinity), and derived verdicts are included.

/// A ratio or error for JSON: nil (null) when infinite or NaN.
func jsonNumber(_ x: Double) -> Double? { x.isFinite ? x : nil }

extension SelfTest.OpRow: Encodable {
  enum CodingKeys: String, CodingKey { case op, cases, worstRatio, passed, failures }
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(op, forKey: .op)
    try c.encode(cases, forKey: .cases)
    try c.encode(jsonNumber(worstRatio), forKey: .worstRatio)
    try c.encode(passed, forKey: .passed)
    try c.encode(failures, forKey: .failures)
  }
}

extension TrainingParity.Entry: Encodable {
  enum CodingKeys: String, CodingKey { case name, error, bound }
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(name, forKey: .name)
    try c.encode(jsonNumber(error), forKey: .error)
    try c.encode(bound, forKey: .bound)
  }
}

extension TrainingParity: Encodable {
  enum CodingKeys: String, CodingKey { case steps, passed, worst, failures }
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(steps, forKey: .steps)
    try c.encode(passed, forKey: .passed)
    try c.encode(Dictionary(uniqueKeysWithValues: worstByKind.map { ($0.kind, $0.entry) }), forKey: .worst)
    try c.encode(failures, forKey: .failures)
  }
}

extension SelfTest.Report: Encodable {
  enum CodingKeys: String, CodingKey { case device, quick, passed, seconds, ops, training }
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(device, forKey: .device)
    try c.encode(quick, forKey: .quick)
    try c.encode(passed, forKey: .passed)
    try c.encode(seconds, forKey: .seconds)
    try c.encode(ops, forKey: .ops)
    try c.encode(training, forKey: .training)
  }
}
