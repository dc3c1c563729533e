import Foundation
import KallimaData
import KallimaGAN

/// Keeps a run folder readable while `TrainingRun.run` trains: `status.json` (RunStatus)
/// when the loop starts, at each log interval and when it ends; `index.html` (RunReport)
/// at each log interval, sample grid and evaluation; `interpolation.png` with each grid.
///
/// It sees the run only through its events, so the training loop holds no report code.
/// Writing these files never stops training: a failure is reported once as a warning.
final class RunMonitor {
  let run: TrainingRun
  var warned = false
  let context: RunReport.Context
  /// Log intervals seen, and the log's length when the page was last written.
  var logs = 0
  var pageLength = 0

  /// Rows and columns of the interpolation strip (slerp between fixed latent pairs).
  static let strip = (rows: 4, steps: 8)

  init(_ run: TrainingRun) {
    self.run = run
    context = RunReport.Context(run: run)
  }

  /// Runs `body` with an event sink that updates the folder before passing each event on to
  /// `events`, and records how the run ended: finished, stopped, diverged or failed.
  func track(_ events: (TrainingRun.Event) -> Void, _ body: ((TrainingRun.Event) -> Void) throws -> Void) throws {
    update(.running, events)
    do {
      try withoutActuallyEscaping(events) { events in
        try body { event in
          observe(event, events)
          events(event)
        }
      }
    } catch {
      // A non-finite loss stops the loop; non-finite weights stop the checkpoint writer; both
      // throw KallimaError.diverged.
      update(KallimaError.isDivergence(error) ? .diverged : .failed, message: "\(error)", events)
      throw error
    }
    let step = run.step, target = run.options.steps
    if step >= target {
      update(.finished, events)
    } else {
      update(.stopped, message: "stopped at step \(step) of \(target); continue with --resume \(run.options.out)", events)
    }
  }

  func observe(_ event: TrainingRun.Event, _ events: (TrainingRun.Event) -> Void) {
    switch event {
    case .log:
      logs += 1
      update(.running, page: Self.rewritesPage(interval: logs, length: pageLength), events)
    case .sample:
      attempt(events) { try writeInterpolation() }
      update(.running, events)
    case .evaluation:
      update(.running, events)
    default:
      break
    }
  }

  /// Log lines past which the page is no longer rewritten at every interval.
  static let fullRateLength = 2000

  /// Whether log interval number `interval` rewrites the page, whose log had `length` lines
  /// when last written: every interval while the log is short; past `fullRateLength` lines
  /// every (length / fullRateLength)-th, so rewriting a page of n points costs
  /// O(fullRateLength) per interval on average, not O(n). Grids, evaluations and the end of
  /// the run always rewrite it.
  static func rewritesPage(interval: Int, length: Int) -> Bool {
    interval % max(length / fullRateLength, 1) == 0
  }

  /// Writes status.json and, when `page`, index.html.
  func update(
    _ state: RunStatus.State, message: String? = nil, page: Bool = true, _ events: (TrainingRun.Event) -> Void
  ) {
    attempt(events) {
      try RunStatus(state: state, step: run.step, steps: run.options.steps, message: message)
        .write(toFolder: run.folder.path)
      guard page else { return }
      let folder = RunFolder(path: run.folder.path)
      pageLength = folder.logs.count
      try RunReport.write(folder: folder, context: context)
    }
  }

  func attempt(_ events: (TrainingRun.Event) -> Void, _ body: () throws -> Void) {
    do {
      try body()
    } catch {
      guard !warned else { return }
      warned = true
      events(.warning("could not update the run's status/report (training goes on): \(error)"))
    }
  }

  /// interpolation.png: `strip.rows` rows of `strip.steps` images along the great circle
  /// between two fixed latent vectors per row (the same pairs at every step).
  func writeInterpolation() throws {
    let sampler = run.sampler
    let (rows, steps) = Self.strip
    var z: [Float] = []
    // A conditional G: row r keeps the r-th condition of the sample grid.
    var c: [Float]? = run.grid == nil ? nil : []
    for r in 0..<rows {
      let seed = run.options.seed &+ 0x1A7E &+ UInt64(2 * r)
      let a = Sampler.latents(count: 1, nz: sampler.nz, seed: seed)
      let b = Sampler.latents(count: 1, nz: sampler.nz, seed: seed &+ 1)
      for k in 0..<steps {
        z += LatentPath.slerp(a, b, Float(k) / Float(steps - 1))
        if let grid = run.grid { c! += grid.rows[r % grid.rows.count].vector }
      }
    }
    var images: [Float] = []
    try sampler.forEachBatch(latents: z, conditions: c) { batch, _ in images += batch }
    try ImageGrid.writePNG(
      images: images, count: rows * steps, channels: sampler.imageShape[0], size: sampler.imageShape[1], columns: steps,
      to: run.folder.appendingPathComponent(RunFolder.interpolationFile).path)
  }
}

extension RunReport.Context {
  /// The page's configuration for `run`: the device, the data, every option, and the recipe
  /// in a line.
  public init(run: TrainingRun) {
    self.init(
      configuration: [("device", run.backend.name), ("data", run.options.dataPath), ("images", "\(run.dataset.count)")]
        + RunReport.rows(of: run.options).filter { $0.0 != "data" },
      recipe: "\(run.options.recipe.arch), \(run.trainer.recipe.summary)")
  }
}
