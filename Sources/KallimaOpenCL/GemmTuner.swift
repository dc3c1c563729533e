import Foundation

/// The search behind `kallima tune`: times each candidate GEMM algorithm on each shape and
/// keeps the fastest, within a time budget.
///
/// Order: candidate by candidate, each over every shape (largest FLOP count first), the
/// untuned choice first and CLBlast second; so a budget that runs out leaves every shape
/// with the baseline and the best of the candidates timed so far, and each kernel tile
/// compiles once. A candidate whose first timed run is `screening` times the shape's best
/// so far is not timed further. Then, budget permitting, the `finalists` fastest per shape,
/// the untuned choice and CLBlast are timed again in turn, twice, each keeping its best: on
/// a shared machine the load comes and goes, and a winner picked from timings minutes apart
/// can be the one that ran in a quiet moment.
public struct GemmTuner {
  /// One step of the search, for a progress display.
  public struct Progress {
    /// Timings done and planned (shapes × candidates).
    public var done: Int
    public var total: Int
    public var shape: GemmShape
    public var algorithm: GemmAlgorithm
    /// Its seconds, or nil when it failed (`failure` says why).
    public var seconds: Double?
    public var failure: String?
    /// Seconds since the search began.
    public var elapsed: Double
  }

  /// The search's outcome.
  public struct Result {
    /// Per shape, largest FLOP count first.
    public var choices: [TuningTable.ShapeChoice]
    /// For shapes not listed: the candidate timed on every shape with the least total time.
    public var fallback: GemmAlgorithm
    /// False when the budget ran out before every candidate was timed on every shape.
    public var complete: Bool
    public var seconds: Double
  }

  public let backend: OpenCLBackend
  /// Seconds for the whole search; the timing under way when it runs out finishes.
  public var budget: Double
  /// Timed runs per candidate (best of), after one run that compiles.
  public var repetitions = 3
  /// Candidates in the order tried.
  public var algorithms: [GemmAlgorithm]
  public var screening = 1.3
  /// Candidates per shape timed again, alternating, after the first pass.
  public var finalists = 3
  public var progress: (Progress) -> Void = { _ in }

  public init(backend: OpenCLBackend, budget: Double, algorithms: [GemmAlgorithm]? = nil) {
    self.backend = backend
    self.budget = budget
    self.algorithms = algorithms ?? GemmTuner.candidates(for: backend.device)
  }

  /// The tile width for a device: its preferred float vector width clamped to what
  /// Kernels/gemm.cl compiles (4, 8 or 16).
  public static func tileWidth(for device: OpenCLDeviceInfo) -> Int {
    [16, 8, 4].first { $0 <= max(4, device.preferredFloatWidth) } ?? 4
  }

  /// The untuned choice, CLBlast, then `GemmTile.candidates` at the device's width.
  public static func candidates(for device: OpenCLDeviceInfo) -> [GemmAlgorithm] {
    let tiles = GemmTile.candidates(width: tileWidth(for: device)).map(GemmAlgorithm.kernel)
    var result: [GemmAlgorithm] = []
    for algorithm in [GemmSelection.untuned(for: device).fallback, .clblast] + tiles where !result.contains(algorithm) {
      result.append(algorithm)
    }
    return result
  }

  /// Times `algorithms` on `shapes` until done or out of budget.
  public func run(shapes: [GemmShape]) throws -> Result {
    let start = Date()
    let ordered = Array(Set(shapes)).sorted { ($0.flops, $0) > ($1.flops, $1) }
    let rounds = 2
    let untuned = GemmSelection.untuned(for: backend.device).fallback
    var total = ordered.count * algorithms.count
    var times: [GemmShape: [GemmAlgorithm: Double]] = [:]
    var done = 0
    var complete = true

    /// Times `algorithm` on `shape` (screened against the best so far unless `confirming`),
    /// keeps its best time and reports it; false once the budget is spent.
    func measure(_ shape: GemmShape, _ algorithm: GemmAlgorithm, confirming: Bool) -> Bool {
      guard Date().timeIntervalSince(start) < budget else {
        complete = false
        return false
      }
      let ran = GemmTuner.effective(algorithm, on: shape)
      var step = Progress(
        done: done + 1, total: total, shape: shape, algorithm: ran, seconds: nil, failure: nil, elapsed: 0)
      if let known = times[shape]?[ran], !confirming {
        step.seconds = known  // a tile narrowed to one timed already
      } else {
        do {
          let seconds =
            confirming
            ? try backend.timeGemm(shape, ran, repetitions: repetitions)
            : try time(shape, ran, best: times[shape]?.values.min())
          times[shape, default: [:]][ran] = min(seconds, times[shape]?[ran] ?? .infinity)
          step.seconds = seconds
        } catch {
          step.failure = "\(error)"
        }
      }
      done += 1
      step.elapsed = Date().timeIntervalSince(start)
      progress(step)
      return true
    }

    search: for algorithm in algorithms {
      for shape in ordered where !measure(shape, algorithm, confirming: false) { break search }
    }
    if complete {
      // The finalists, with the untuned choice and CLBlast beside them so that the speed-ups
      // the table states come from timings taken in turn.
      let contenders = ordered.map { shape in
        var list = (times[shape] ?? [:]).sorted { $0.value < $1.value }.prefix(finalists).map(\.key)
        for baseline in [untuned, .clblast] where algorithms.contains(baseline) {
          let ran = GemmTuner.effective(baseline, on: shape)
          if times[shape]?[ran] != nil && !list.contains(ran) { list.append(ran) }
        }
        return list
      }
      total = done + rounds * contenders.reduce(0) { $0 + $1.count }
      confirm: for (shape, list) in zip(ordered, contenders) {
        for _ in 0..<rounds {
          for algorithm in list where !measure(shape, algorithm, confirming: true) { break confirm }
        }
      }
    }
    let choices = ordered.compactMap { shape in
      times[shape].flatMap { choice(shape, $0, untuned: times[shape]?[GemmTuner.effective(untuned, on: shape)]) }
    }
    return Result(
      choices: choices, fallback: fallback(times, shapes: ordered), complete: complete,
      seconds: Date().timeIntervalSince(start))
  }

  /// What runs when `algorithm` is asked for on `shape`: `GemmSelection` narrows a kernel
  /// tile whose columns do not divide n (so a table lists the tile that ran, not the one
  /// asked for, and a tile that narrows to one timed already is not timed again).
  static func effective(_ algorithm: GemmAlgorithm, on shape: GemmShape) -> GemmAlgorithm {
    GemmSelection(fallback: algorithm).algorithm(for: shape)
  }

  /// Seconds of `algorithm` on `shape`: one timed run to screen against `best`, then the
  /// best of `repetitions` when it is close enough to matter.
  func time(_ shape: GemmShape, _ algorithm: GemmAlgorithm, best: Double?) throws -> Double {
    let first = try backend.timeGemm(shape, algorithm, repetitions: 1)
    guard repetitions > 1, first < (best ?? .infinity) * screening else { return first }
    return min(first, try backend.timeGemm(shape, algorithm, repetitions: repetitions))
  }

  /// The winner of one shape with the runner-up, CLBlast's and the untuned choice's figures.
  func choice(_ shape: GemmShape, _ times: [GemmAlgorithm: Double], untuned: Double?) -> TuningTable.ShapeChoice? {
    let ranked = times.sorted { ($0.value, $0.key.description) < ($1.value, $1.key.description) }
    guard let winner = ranked.first else { return nil }
    let runnerUp = ranked.dropFirst().first
    return TuningTable.ShapeChoice(
      shape: shape, algorithm: winner.key, seconds: winner.value, runnerUp: runnerUp?.key,
      runnerUpSeconds: runnerUp?.value, clblastSeconds: times[.clblast], untunedSeconds: untuned,
      candidatesTimed: times.count)
  }

  /// The candidate timed on every shape (as it ran there, narrowed or not) with the least
  /// total time: what an unlisted shape most likely does best with; the untuned choice when
  /// none was.
  func fallback(_ times: [GemmShape: [GemmAlgorithm: Double]], shapes: [GemmShape]) -> GemmAlgorithm {
    let untuned = GemmSelection.untuned(for: backend.device).fallback
    var best: (GemmAlgorithm, Double)?
    for algorithm in algorithms {
      let seconds = shapes.map { times[$0]?[GemmTuner.effective(algorithm, on: $0)] }
      guard !shapes.isEmpty, seconds.allSatisfy({ $0 != nil }) else { continue }
      let total = seconds.reduce(0) { $0 + $1! }
      if best == nil || total < best!.1 { best = (algorithm, total) }
    }
    return best?.0 ?? untuned
  }
}
