import Foundation

extension OpBenchmarkReport {
  /// The report as a plain-text table with a header that states device, driver, timing
  /// policy and reference figures.
  public func renderTable() -> String {
    var lines: [String] = []
    let d = device
    var identity = "device: \(d.selector)  \(d.name)  [\(d.platform), driver \(d.driverVersion)"
    if let c = d.openCLCVersion { identity += ", \(c)" }
    if let cu = d.computeUnits { identity += ", \(cu) compute units" }
    lines.append(identity + "]")
    lines.append(
      "batch \(batch)\(filter.map { ", filter '\($0)'" } ?? ""); \(policy.warmups) warm-up run(s) per case; "
        + "timed runs each end with synchronize(), repeated until >= \(format(policy.minSeconds, 2)) s "
        + "and >= \(policy.minRepetitions) runs (at most \(policy.maxRepetitions)); run \(date)")
    if let r = reference {
      let gemms = r.sgemm.map { "n=\($0.n) \(format($0.gflops, 1)) GFLOP/s" }.joined(separator: ", ")
      lines.append("reference SGEMM (backend.matmul, [n,n]·[n,n]): \(gemms)")
      var copy =
        "reference copy (\(r.copy.method), \(r.copy.floats) floats, \(binarySize(r.copy.bytes / 2)) each way): "
        + "\(format(r.copy.gbps, 1)) GB/s"
      if let dc = r.driverCopy { copy += "; \(dc.method): \(format(dc.gbps, 1)) GB/s" }
      lines.append(copy)
      if let oc = r.opSizedCopy {
        lines.append(
          "same copy at the activation size (\(oc.floats) floats, \(binarySize(oc.bytes / 2)) each way): "
            + "\(format(oc.gbps, 1)) GB/s (not the ratio basis; shows what caches give ops of this size)")
      }
      if let g = r.ratioGEMM {
        lines.append(
          "ratio = GFLOP/s / SGEMM n=\(g.n) for GEMM-shaped ops (conv, matmul, linear), else GB/s / reference copy "
            + "GB/s (GB = 1e9 bytes; bytes = the least traffic one run needs); '<' marks a ratio below its target "
            + "(\(format(Roof.compute.target, 1)) of SGEMM, \(format(Roof.memory.target, 1)) of copy)")
      }
    }
    if let s = startup {
      lines.append(
        "start-up: \(format(s.createBackend, 3)) s create backend + \(format(s.firstOp, 3)) s first op "
          + "(\(s.firstOpName)) = \(format(s.total, 3)) s")
    }
    if let p = programCache { lines.append("program cache: \(p)") }
    lines.append(
      "columns: first ms = the first warm-up run (kernel builds included); mean/min ms over the timed runs; "
        + "GFLOP/s and GB/s from the mean")
    lines.append("")

    var table = TextTable(
      header: ["op", "detail", "runs", "first ms", "mean ms", "min ms", "GFLOP/s", "GB/s", "ratio", "roof", ""],
      leftAligned: [0, 1, 9, 10])
    for c in cases {
      table.append([
        c.op, c.detail, "\(c.timing.repetitions)", format(c.timing.firstRun * 1e3, 2),
        format(c.timing.mean * 1e3, 3), format(c.timing.min * 1e3, 3),
        c.gflops.map { format($0, 2) } ?? "-", format(c.gbps, 2),
        c.ratio.map { format($0, 3) } ?? "-", c.roof.basisName, c.belowTarget == true ? "<" : "",
      ])
    }
    lines += table.render()
    lines.append(targetSummary())
    return lines.joined(separator: "\n") + "\n"
  }
}

extension OpBenchmarkReport {
  /// The table's last line: how many ops are below their roof's target, and which.
  func targetSummary() -> String {
    guard reference != nil else { return "no reference figures (--no-reference): no ratios, no targets" }
    let below = belowTarget
    let judged = cases.filter { $0.belowTarget != nil }.count
    guard !below.isEmpty else { return "below target: none of \(judged) ops" }
    return "below target: \(below.count) of \(judged) ops: "
      + below.map { "\($0.op) \($0.detail) (\(format($0.ratio ?? 0, 2)) < \(format($0.target, 1)))" }
      .joined(separator: "; ")
  }
}

/// `value` with `digits` decimals.
func format(_ value: Double, _ digits: Int) -> String {
  value.isFinite ? String(format: "%.\(digits)f", value) : "\(value)"
}

/// Bytes as KiB or MiB.
func binarySize(_ bytes: Double) -> String {
  bytes >= Double(1 << 20) ? "\(format(bytes / Double(1 << 20), 0)) MiB" : "\(format(bytes / 1024, 0)) KiB"
}
