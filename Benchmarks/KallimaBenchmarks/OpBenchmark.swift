import Foundation
import KallimaCore
import KallimaOpSuite

/// Times every case of `OpCatalog.benchmarkCases(batch:)` on one backend, next to reference
/// figures (SGEMM, copy bandwidth) measured on the same device in the same run.
///
/// Each case's tensors are made once from its deterministic initial values; the case then
/// runs `policy.warmups` times untimed and is repeated with `synchronize()` after every run
/// inside the timed region (see `TimingPolicy`).
public struct OpBenchmark {
  /// Batch size of the DCGAN-64-scale shapes (the CPU reference backend wants a small one).
  public var batch: Int
  /// Only cases whose "op detail" name contains this (case-insensitive).
  public var filter: String?
  public var policy: TimingPolicy
  /// Square SGEMM sizes for the reference figures; empty skips all reference figures.
  public var sgemmSizes: [Int]
  /// Floats in the copy-bandwidth reference (16M: 64 MiB read, 64 MiB written).
  public var copyFloats: Int
  /// Called before each case with its index, the case count and its name (progress output).
  public var progress: ((Int, Int, String) -> Void)?

  public init(
    batch: Int = 64, filter: String? = nil, policy: TimingPolicy = TimingPolicy(),
    sgemmSizes: [Int] = [512, 1024], copyFloats: Int = 1 << 24,
    progress: ((Int, Int, String) -> Void)? = nil
  ) {
    self.batch = batch
    self.filter = filter
    self.policy = policy
    self.sgemmSizes = sgemmSizes
    self.copyFloats = copyFloats
    self.progress = progress
  }

  /// The cases this benchmark runs.
  public func cases() -> [OpCase] {
    let all = OpCatalog.benchmarkCases(batch: batch)
    guard let filter, !filter.isEmpty else { return all }
    return all.filter { $0.name.lowercased().contains(filter.lowercased()) }
  }

  /// Runs the selected cases, then the reference figures, on `backend`.
  public func run(on backend: Backend) throws -> OpBenchmarkReport {
    let selected = cases()
    guard !selected.isEmpty else {
      throw KallimaError.invalidArgument(
        op: "bench ops",
        message: "no benchmark case matches '\(filter ?? "")'; cases: "
          + Set(OpCatalog.benchmarkCases(batch: batch).map(\.op)).sorted().joined(separator: ", "))
    }
    var timed: [(OpCase, Timing)] = []
    for (i, c) in selected.enumerated() {
      progress?(i, selected.count, c.name)
      let tensors = try c.materialize(on: backend, values: c.initialValues())
      try backend.synchronize()
      let timing = try Timing.measure(policy, on: backend) { try c.run(backend, tensors) }
      timed.append((c, timing))
    }
    var reference: ReferenceFigures?
    if !sgemmSizes.isEmpty {
      progress?(selected.count, selected.count, "reference figures (SGEMM \(sgemmSizes), copy)")
      reference = try ReferenceFigures.measure(
        on: backend, policy: policy, sgemmSizes: sgemmSizes, copyFloats: copyFloats,
        opSizedCopyFloats: batch * 128 * 16 * 16)
    }
    let results = timed.map { c, t in OpBenchmark.result(c, t, reference: reference) }
    let date = ISO8601DateFormatter().string(from: Date())
    return OpBenchmarkReport(
      date: date, device: DeviceSummary(backend: backend), backend: backend.name, batch: batch,
      filter: filter, policy: policy, reference: reference, cases: results)
  }

  /// One row: rates from the mean time, and the ratio to the case's roof (`Roof`) when
  /// reference figures were measured.
  static func result(_ c: OpCase, _ t: Timing, reference: ReferenceFigures?) -> OpBenchmarkResult {
    let gflops = c.flops > 0 ? c.flops / t.mean / 1e9 : nil
    let gbps = c.bytes / t.mean / 1e9
    let roof = Roof(of: c)
    var ratio: Double?
    var basis: String?
    switch roof {
    case .compute:
      if let gflops, let gemm = reference?.ratioGEMM {
        ratio = gflops / gemm.gflops
        basis = "sgemm n=\(gemm.n)"
      }
    case .memory:
      if let copy = reference?.copy {
        ratio = gbps / copy.gbps
        basis = "copy"
      }
    }
    return OpBenchmarkResult(
      op: c.op, detail: c.detail, flops: c.flops, bytes: c.bytes, timing: t, gflops: gflops, gbps: gbps,
      ratio: ratio, ratioBasis: basis, roof: roof, target: roof.target, belowTarget: ratio.map { $0 < roof.target })
  }
}
