import Dispatch
import KallimaCore

/// How a benchmark repeats one piece of work.
///
/// Every timed run is followed by `synchronize()` inside the timed region, so a figure is
/// the time until the device has finished, never the time to enqueue.
public struct TimingPolicy: Codable, Equatable {
  /// Untimed runs first (the first one builds kernels and allocates workspaces).
  public var warmups: Int
  /// Runs are repeated until both this many seconds have passed and `minRepetitions` ran...
  public var minSeconds: Double
  public var minRepetitions: Int
  /// ...or this many ran.
  public var maxRepetitions: Int

  public init(warmups: Int = 1, minSeconds: Double = 0.3, minRepetitions: Int = 3, maxRepetitions: Int = 1000) {
    self.warmups = warmups
    self.minSeconds = minSeconds
    self.minRepetitions = minRepetitions
    self.maxRepetitions = maxRepetitions
  }
}

/// The times of one benchmarked piece of work, in seconds.
public struct Timing: Codable, Equatable {
  /// The first warm-up run (includes kernel builds, CLBlast compilation, workspace allocation).
  public var firstRun: Double
  public var repetitions: Int
  public var mean: Double
  public var min: Double
  public var max: Double

  /// Runs `body` under `policy` on `backend`: warm-ups, then synchronised timed runs.
  public static func measure(
    _ policy: TimingPolicy, on backend: Backend, _ body: () throws -> Void
  ) throws -> Timing {
    var firstRun = 0.0
    for i in 0..<Swift.max(policy.warmups, 1) {
      let start = now()
      try body()
      try backend.synchronize()
      if i == 0 { firstRun = now() - start }
    }
    var times: [Double] = []
    var total = 0.0
    while times.count < policy.maxRepetitions
      && (times.count < policy.minRepetitions || total < policy.minSeconds)
    {
      let start = now()
      try body()
      try backend.synchronize()
      let t = now() - start
      times.append(t)
      total += t
    }
    return Timing(
      firstRun: firstRun, repetitions: times.count, mean: total / Double(times.count),
      min: times.min() ?? 0, max: times.max() ?? 0)
  }

  /// Monotonic seconds.
  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}

extension Timing {
  /// Whole training steps timed from the host: `warmup` steps and a barrier (not timed),
  /// then `steps` steps and one barrier inside the timed region. Returns the seconds per
  /// step, the host traffic of the timed steps and the warm-up's seconds.
  static func trainingSteps(
    on backend: Backend, warmup: Int, steps: Int, _ step: () throws -> Void
  ) throws -> (secondsPerStep: Double, traffic: HostTraffic, warmupSeconds: Double) {
    let warmupStart = Timing.now()
    for _ in 0..<warmup { try step() }
    try backend.synchronize()
    let warmupSeconds = Timing.now() - warmupStart
    let before = backend.traffic
    let start = Timing.now()
    for _ in 0..<steps { try step() }
    try backend.synchronize()
    return ((Timing.now() - start) / Double(steps), backend.traffic.since(before), warmupSeconds)
  }
}
