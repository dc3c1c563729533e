import Foundation
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGAN

/// An image-to-image training run in a run folder (`kallima train pix2pix|cyclegan|stargan`):
/// trains from device-resident data, logs every statistic to metrics.jsonl, writes comparison
/// grids of fixed held-out images (input | output | target), evaluates on the held-out split
/// (`TranslationEvaluation`), and writes atomic checkpoints it resumes from exactly.
///
/// Layout: samples/step_NNNNNN.png, checkpoints/{latest,step_NNNNNN}.safetensors,
/// metrics.jsonl, status.json, classifier.safetensors (CycleGAN/StarGAN evaluation).
public final class TranslationRun {
  public enum Event {
    case loaded(notes: [String], seconds: Double)
    case resumed(iteration: Int, from: String)
    case recipe(String)
    case started(iteration: Int)
    /// The statistics averaged since the last log line.
    case log(iteration: Int, statistics: [String: Float], imagesPerSecond: Double)
    case sample(path: String)
    case checkpoint(path: String)
    case note(String)
    case evaluation(TranslationEvaluation)
  }

  public let options: TranslationOptions
  public let backend: Backend
  public let trainer: TranslationTrainer
  public let data: TranslationDataSplit
  public let folder: URL
  /// Iterations the run trains to.
  public let targetIterations: Int
  public var iteration: Int { trainer.iterations }
  var evaluator: TranslationEvaluator?
  private var translators: [TranslationDirection: Translator] = [:]
  /// The ranks of a data-parallel job: each trains on `batch / N` of every batch; rank 0
  /// alone writes the run folder (as `TrainingRun`).
  public let collective: Collective
  var writes: Bool { collective.rank == 0 }

  /// Loads the data, builds the plans, and continues from `resume` (a run folder) if given.
  public init(
    options: TranslationOptions, backend: Backend, resume: String? = nil, collective: Collective = SingleProcess(),
    events: (Event) -> Void = { _ in }
  ) throws {
    var options = options
    var checkpoint: TranslationCheckpoint?
    let latest = resume.map { URL(fileURLWithPath: $0).appendingPathComponent("checkpoints/latest.safetensors").path }
    if let latest {
      let c = try TranslationCheckpoint.read(latest)
      // The networks, data and schedule come from the checkpoint; the target (when given),
      // the logging cadence and a moved data folder from the command line.
      var restored = c.options
      restored.out = resume!
      restored.data = options.data ?? c.options.data
      (restored.logEvery, restored.sampleEvery, restored.checkpointEvery) = (options.logEvery, options.sampleEvery, options.checkpointEvery)
      restored.evalEvery = options.evalEvery ?? c.options.evalEvery
      if let steps = options.steps, options.steps != c.options.steps { restored.steps = steps }
      options = restored
      checkpoint = c
    }
    try options.validate()
    self.backend = backend
    self.folder = URL(fileURLWithPath: options.out)
    self.collective = collective
    guard options.resolvedBatch % collective.size == 0 else {
      throw KallimaError.invalidArgument(
        op: "train",
        message: "--batch \(options.resolvedBatch) is the job's batch, split evenly over \(collective.size) ranks: "
          + "use a multiple of \(collective.size)")
    }
    let start = Date()
    let data = try TranslationRun.loadData(options, backend: backend)
    events(.loaded(notes: data.notes, seconds: Date().timeIntervalSince(start)))
    if let checkpoint, checkpoint.training.data != data.fingerprint {
      throw KallimaError.invalidArgument(
        op: "resume",
        message: "the data differs from the checkpoint's (\(checkpoint.training.data) then, \(data.fingerprint) now); "
          + "resume on the same data, or start a new run")
    }
    if options.method == .stargan { options.multiLabel = data.vocabulary?.kind != .class }
    let perEpoch = max(1, data.epochImages / options.resolvedBatch)
    let method = try options.method(
      channelsA: data.channelsA, channelsB: data.channelsB, labels: data.vocabulary?.width, iterationsPerEpoch: perEpoch)
    events(.recipe(method.summary))
    trainer = try TranslationTrainer(
      backend: backend, method: method, batch: options.resolvedBatch / collective.size, data: data.training,
      seed: options.seed, noise: .device(seed: options.seed &+ 0x5EED), collective: collective,
      synchronizedBatchNorm: options.synchronizedBatchNorm)
    targetIterations = options.totalIterations(iterationsPerEpoch: perEpoch)
    self.options = options
    self.data = data
    if let checkpoint, let latest {
      try checkpoint.restore(into: trainer.stores, path: latest)
      trainer.restore(iterations: checkpoint.training.iterations)
      events(.resumed(iteration: checkpoint.training.iterations, from: latest))
    }
  }

  public var checkpointDirectory: URL { folder.appendingPathComponent("checkpoints") }

  /// Trains to the target (or until `shouldStop`), then writes the final grid, evaluation and
  /// checkpoint. A non-finite statistic stops the run with an error, keeping the last good
  /// checkpoint.
  public func run(shouldStop: () -> Bool = { false }, events: (Event) -> Void = { _ in }) throws {
    // Every rank stops at the same iteration (Collective.anyRankStops).
    guard writes else { return try train(shouldStop: { collective.anyRankStops(shouldStop) }, events: events) }
    try FileManager.default.createDirectory(at: folder.appendingPathComponent("samples"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: checkpointDirectory, withIntermediateDirectories: true)
    try status(.running)
    do {
      try train(shouldStop: { collective.anyRankStops(shouldStop) }, events: events)
    } catch {
      try? status(KallimaError.isDivergence(error) ? .diverged : .failed, message: "\(error)")
      throw error
    }
    if iteration >= targetIterations {
      try status(.finished)
    } else {
      try status(.stopped, message: "stopped at iteration \(iteration) of \(targetIterations); continue with --resume \(options.out)")
    }
  }

  func status(_ state: RunStatus.State, message: String? = nil) throws {
    try RunStatus(state: state, step: iteration, steps: targetIterations, message: message).write(toFolder: folder.path)
  }

  func train(shouldStop: () -> Bool, events: (Event) -> Void) throws {
    events(.started(iteration: iteration))
    let start = Date()
    var last = (iteration: iteration, time: start)
    while iteration < targetIterations && !shouldStop() {
      try trainer.step()
      let i = iteration
      if i % options.logEvery == 0 || i == targetIterations {
        let stats = try trainer.readStatistics()
        let now = Date()
        let rate = Double((i - last.iteration) * options.resolvedBatch) / max(now.timeIntervalSince(last.time), 1e-9)
        last = (i, now)
        var line: [String: Double] = stats.mapValues(Double.init)
        (line["images_per_s"], line["wall_s"]) = (rate, now.timeIntervalSince(start))
        if writes { try appendLine(line, step: i) }
        events(.log(iteration: i, statistics: stats, imagesPerSecond: rate))
        try requireRanksAgree(try trainer.ranksThatDiffer(), at: "iteration \(i)")
        if let bad = stats.first(where: { !$0.value.isFinite }) {
          throw KallimaError.diverged(
            "train: training diverged at iteration \(i) (\(bad.key) \(bad.value)); the last good checkpoint is kept in "
              + "\(checkpointDirectory.path); try a lower --lr")
        }
      }
      guard writes else { continue }
      if let every = options.evalEvery, i % every == 0, i != targetIterations { events(.evaluation(try evaluate(events))) }
      if i % options.sampleEvery == 0 { events(.sample(path: try writeSamples())) }
      if i % options.checkpointEvery == 0 { events(.checkpoint(path: try writeCheckpoint())) }
    }
    guard writes else { return }
    if iteration % options.sampleEvery != 0 || iteration == 0 { events(.sample(path: try writeSamples())) }
    if iteration >= targetIterations { events(.evaluation(try evaluate(events))) }
    if iteration % options.checkpointEvery != 0 || iteration == 0 { events(.checkpoint(path: try writeCheckpoint())) }
  }

  /// Evaluates on the held-out split and logs the result.
  @discardableResult
  public func evaluate(_ events: (Event) -> Void = { _ in }) throws -> TranslationEvaluation {
    if evaluator == nil {
      evaluator = try TranslationEvaluator(run: self) { events(.note($0)) }
    }
    let e = try evaluator!.evaluate(iteration: iteration)
    var line = e.values
    line["held_out_images"] = Double(data.testCount)
    try appendLine(line, step: iteration, metric: "translation")
    return e
  }

  /// A translating network bound as the reference's test.py binds it: train mode (dropout,
  /// each image's own batch statistics) unless `evalMode` (--eval). Instance-normalised
  /// networks without dropout (CycleGAN's, StarGAN's) give the same images either way.
  /// Built once per direction: grids and evaluations reuse its plans.
  func translator(_ direction: TranslationDirection = .aToB) throws -> Translator {
    if let t = translators[direction] { return t }
    let t = try trainer.method.translator(direction)
    let mode: BindOptions.Mode = options.evalMode ? .eval : .train
    let made = Translator(backend: backend, network: t.network, store: trainer.stores[t.store]!, mode: mode, labels: t.labels)
    translators[direction] = made
    return made
  }

  /// The grid of the fixed held-out images: one row per image, input | output (| target).
  @discardableResult
  public func writeSamples() throws -> String {
    let path = folder.appendingPathComponent(String(format: "samples/step_%06d.png", iteration)).path
    let grid = try TranslationGrid.make(run: self, rows: min(8, data.testCount))
    try ImageIO.writePNG(grid, to: path)
    return path
  }

  /// checkpoints/latest.safetensors, then checkpoints/step_NNNNNN.safetensors, atomically.
  @discardableResult
  public func writeCheckpoint() throws -> String {
    let training = TranslationCheckpoint.Training(
      iterations: iteration, targetIterations: targetIterations, data: data.fingerprint, epochImages: data.epochImages,
      channelsA: data.channelsA, channelsB: data.channelsB)
    let c = try TranslationCheckpoint.capture(trainer, options: options, training: training, labels: data.vocabulary)
    let path = checkpointDirectory.appendingPathComponent(String(format: "step_%06d.safetensors", iteration)).path
    try c.write(to: checkpointDirectory.appendingPathComponent("latest.safetensors").path)
    try c.write(to: path)
    return path
  }

  /// One metrics.jsonl line: {"step": …, "metric": …, fields…}; non-finite values as strings.
  func appendLine(_ values: [String: Double], step: Int, metric: String? = nil) throws {
    var object: [String: Any] = ["step": step]
    if let metric { object["metric"] = metric }
    for (k, v) in values { object[k] = v.isFinite ? v : (v.isNaN ? "nan" : v > 0 ? "inf" : "-inf") }
    var line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    line.append(0x0a)
    let url = folder.appendingPathComponent(RunFolder.metricsFile)
    if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
    let handle = try FileHandle(forWritingTo: url)
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: line)
  }
}
