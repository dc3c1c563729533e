import Foundation

/// One row of the op microbenchmark table.
public struct OpBenchmarkResult: Codable, Equatable {
  public var op: String
  public var detail: String
  /// Floating-point operations of one run (0 for bandwidth-bound ops).
  public var flops: Double
  /// Bytes one run must move at least once (the catalog's count).
  public var bytes: Double
  public var timing: Timing
  /// flops / mean time, in 1e9/s; nil when the op has no FLOP count.
  public var gflops: Double?
  /// bytes / mean time, in 1e9 B/s.
  public var gbps: Double
  /// gflops ÷ reference SGEMM GFLOP/s for GEMM-shaped ops, else gbps ÷ reference copy GB/s
  /// (`roof`); nil without reference figures.
  public var ratio: Double?
  /// What `ratio` divides by: "sgemm n=1024" or "copy".
  public var ratioBasis: String?
  /// Which roof the op is judged against.
  public var roof: Roof
  /// The ratio the op should reach (`Roof.target`).
  public var target: Double
  /// ratio < target; nil without reference figures.
  public var belowTarget: Bool?
}

/// Start-up costs of the process that produced a report, in seconds.
public struct StartupTimes: Codable, Equatable {
  /// Device discovery, context, queue and CLBlast overrides (`OpenCLBackend.init`).
  public var createBackend: Double
  /// The first op's first run (kernel build or cache load, CLBlast compilation).
  public var firstOp: Double
  /// The op that ran first.
  public var firstOpName: String
  public var total: Double { createBackend + firstOp }

  public init(createBackend: Double, firstOp: Double, firstOpName: String) {
    self.createBackend = createBackend
    self.firstOp = firstOp
    self.firstOpName = firstOpName
  }
}

/// The op microbenchmark's results with everything needed to interpret them.
public struct OpBenchmarkReport: Codable, Equatable {
  public var date: String
  public var device: DeviceSummary
  public var backend: String
  public var batch: Int
  public var filter: String?
  public var policy: TimingPolicy
  public var reference: ReferenceFigures?
  public var cases: [OpBenchmarkResult]
  /// Filled in by the caller that created the backend.
  public var startup: StartupTimes?
  /// `OpenCLBackend.programCacheSummary` after the run (nil on the CPU backend).
  public var programCache: String?

  /// The cases whose ratio is below their roof's target, in table order.
  public var belowTarget: [OpBenchmarkResult] { cases.filter { $0.belowTarget == true } }

  /// Pretty-printed JSON with stable key order.
  public func jsonData() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try encoder.encode(self)
  }
}
