import Foundation
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGAN
import KallimaNN

/// A training run in a run folder: trains a DCGAN on a device-resident dataset, logging to
/// metrics.jsonl, writing sample grids from a fixed z and atomic checkpoints, and resuming
/// exactly from the latest one.
///
/// Layout of the run folder:
///   samples/step_NNNNNN.png      grids from the same z over time
///   checkpoints/step_NNNNNN.safetensors and checkpoints/latest.safetensors
///   metrics.jsonl                one JSON object per log interval (and per evaluation)
///   classifier.safetensors       the mode classifier of --eval-every (trained once)
///   checkpoints/best.safetensors the checkpoint with the best evaluation so far
///   status.json, index.html      the run's state and a page of its curves and grids (RunMonitor)
///   interpolation.png            the latest interpolation strip
public final class TrainingRun {
  /// What the run reports to its caller (the command line draws progress from these).
  public enum Event {
    case loaded(ImageDataset.Report, count: Int, seconds: Double)
    case resumed(step: Int, from: String)
    /// The method being trained, in one line (architecture, loss, optimisers, options).
    case recipe(String)
    /// The training loop starts (after data loading and plan building).
    case started(step: Int)
    case log(Metrics)
    case sample(path: String)
    case checkpoint(path: String)
    /// A line about the run (classifier training, a new best checkpoint).
    case note(String)
    /// Something the user should look at (coverage falling: mode collapse).
    case warning(String)
    case evaluation(Evaluation)
  }

  /// One evaluation, as logged to metrics.jsonl.
  public struct Evaluation: Codable {
    public var step: Int
    public var metric = "mode_coverage"
    public var modes: Int
    public var classes: Int
    /// KL(generated classes ‖ real classes), nats: lower is better (the ranking metric).
    public var kl: Double
    public var confidence: Double
    public var samples: Int
    public var best: Bool
    /// A class-conditional run: the fraction of samples the classifier assigns to the class
    /// they were generated for, overall and per class, and 1 − accuracy (the ranking field).
    public var conditional_accuracy: Double? = nil
    public var per_class: [Double]? = nil
    public var conditional_error: Double? = nil
    /// The intra-class Fréchet distance in the classifier's features, mean and per class
    /// (when every class has more real images and samples than features).
    public var intra_fid: Double? = nil
    public var intra_fid_per_class: [Double]? = nil
  }

  public struct Metrics: Codable {
    public var step: Int
    public var loss_d: Float
    public var loss_g: Float
    public var d_x: Float
    public var d_g_z: Float
    /// Mean ‖∇D(x̂)‖ of the gradient penalty (WGAN-GP, DRAGAN): near 1 once the penalty holds.
    public var grad_norm: Float?
    /// Mean ‖∇D(x)‖ on real data under R1.
    public var r1_grad_norm: Float?
    /// BEGAN's k_t (after the interval's last update, averaged over its D steps) and the
    /// convergence measure M.
    public var k: Float?
    public var M: Float?
    /// Conditional heads: mean D score of the mismatched pairs (c̃, x) (σ for the logistic
    /// losses); AC-GAN's classification loss on real images.
    public var d_x_wrong: Float?
    public var loss_cls: Float?
    /// StackGAN: the KL divergence of G's conditioning augmentation to N(0, I), before its
    /// weight (averaged over G updates).
    public var ca_kl: Float?
    public var images_per_s: Double
    public var wall_s: Double
  }

  public let options: TrainingOptions
  public let backend: Backend
  public let trainer: GANTrainer
  public let dataset: ImageDataset
  /// A conditional run's condition per image (nil: unconditional).
  public let conditions: ConditionSet?
  /// The rows and captions of a conditional run's sample grids.
  let grid: ConditionGrid?
  let sampler: Sampler
  let fixedZ: [Float]
  let folder: URL
  /// The ranks of a data-parallel job (`mpirun -n N kallima train`): each trains on
  /// `options.batch / N` of every batch; rank 0 alone writes the run folder.
  public let collective: Collective
  /// Whether this process writes the run folder (rank 0).
  var writes: Bool { collective.rank == 0 }
  var training: Checkpoint.Training
  let evaluator: ModeEvaluator?
  /// A class-conditional run's evaluation: a sampler for the one-hot classes and the classifier.
  let conditionalEvaluator: (
    sampler: Sampler, classifier: ModeClassifier, perClass: Int, realCounts: [Int], real: [FeatureStatistics]?
  )?
  /// The lowest ranking score so far: mode KL, or 1 − conditional accuracy for a conditional run.
  var bestScore = Double.infinity
  var mostModes = 0

  public var checkpointDirectory: URL { folder.appendingPathComponent("checkpoints") }
  public var latestCheckpoint: String { checkpointDirectory.appendingPathComponent("latest.safetensors").path }

  /// Loads the data, builds the plans, and resumes from `resume` (a run folder) if given.
  /// In a data-parallel job every rank makes its own run with its collective (and reads the
  /// data and, on resume, the checkpoint itself: the paths must reach every rank's machine).
  /// `stageOne`: StackGAN stage II's stage-I checkpoint when the caller has read it already
  /// (`stageOneCheckpoint`); nil: read from `options.stageOne` when that is set.
  public init(
    options: TrainingOptions, backend: Backend, resume: String? = nil, collective: Collective = SingleProcess(),
    stageOne: (checkpoint: Checkpoint, path: String)? = nil, events: (Event) -> Void = { _ in }
  ) throws {
    var options = options
    var checkpoint: Checkpoint?
    var checkpointPath: String?
    if let resume {
      let path = URL(fileURLWithPath: resume).appendingPathComponent("checkpoints/latest.safetensors").path
      let c = try Checkpoint.read(path)
      // The architecture, data and schedule come from the checkpoint; only the target step
      // count, the logging cadence and (when given, and checked below) the data path and
      // --limit come from the command line.
      options.out = resume
      options.size = c.config.imageSize
      options.channels = c.config.channels
      (options.nz, options.ngf, options.ndf) = (c.config.nz, c.config.ngf, c.config.ndf)
      (options.batch, options.seed) = (c.training.batch, c.training.seed)
      options.recipe = c.recipe
      options.flip = c.training.flip
      try TrainingRun.resumeData(&options, from: c, path: path, events: events)
      checkpoint = c
      checkpointPath = path
    }
    self.backend = backend
    self.folder = URL(fileURLWithPath: options.out)
    self.collective = collective
    guard options.batch % collective.size == 0, options.batch / collective.size >= 2 else {
      throw KallimaError.invalidArgument(
        op: "train",
        message: "--batch \(options.batch) is the job's batch, split evenly over \(collective.size) ranks of at least 2 "
          + "images each (batch norm needs 2): use a multiple of \(collective.size) of at least \(2 * collective.size)")
    }

    // A wrong recipe (an unknown loss, clipping with spectral norm, a head the condition
    // cannot use, …) fails before the data is loaded; the channel count and the vocabulary's
    // size do not affect what is checked.
    let kind = try options.recipe.conditionKind
    _ = try options.recipe.recipe(
      base: DCGANConfig(
        nz: options.nz, ngf: options.ngf, ndf: options.ndf, channels: options.channels ?? 1, imageSize: options.size),
      steps: options.recipe.lrDecayEnd ?? (options.epochs == nil ? options.steps : Int.max),
      conditions: try kind.map { try ConditionVocabulary(kind: $0, names: $0 == .embedding ? [] : ["a", "b"], width: 2) })
    let start = Date()
    if let kind {
      (dataset, conditions) = try ImageDataset.loadConditioned(
        path: options.dataPath, size: options.size, channels: options.channels, limit: options.limit, condition: kind,
        embeddings: options.embeddings)
      if let recorded = checkpoint?.conditions, recorded != conditions?.vocabulary {
        throw KallimaError.invalidArgument(
          op: "train",
          message: "the data's conditions (\(conditions!.vocabulary.width) columns) differ from the checkpoint's "
            + "(\(recorded.width)): the classes, tags or words changed, so the networks' condition inputs would mean something else")
      }
    } else {
      dataset = try ImageDataset.load(path: options.dataPath, size: options.size, channels: options.channels, limit: options.limit)
      conditions = nil
    }
    events(.loaded(dataset.report, count: dataset.count, seconds: Date().timeIntervalSince(start)))
    guard dataset.count >= 1 else {
      throw KallimaError.invalidArgument(op: "train", message: "no usable images in \(options.dataPath)")
    }
    // A conditional run's stream is its images and their conditions.
    let stream = Checkpoint.DataStream(
      limit: options.limit, images: dataset.count,
      fingerprint: try DatasetFingerprint.of(dataset.report.source) + (conditions.map { Checkpoint.DataStream.conditionsMarker + $0.fingerprint } ?? ""))
    var dataChange: String?
    if let checkpoint, let checkpointPath {
      dataChange = try TrainingRun.checkData(stream, against: checkpoint, path: checkpointPath, options: options, events: events)
    }
    if let epochs = options.epochs { options.steps = epochs * max(dataset.count / options.batch, 1) }
    let config = DCGANConfig(
      nz: options.nz, ngf: options.ngf, ndf: options.ndf, channels: dataset.channels, imageSize: options.size)
    let dataSeed = options.seed &+ 0xDA7A
    let loaded = dataset
    let (data, images) = try TrainingRun.allocating("the dataset (\(loaded.count) images, \(loaded.bytes.count) bytes)", options: options) {
      try Self.realSource(loaded, options: options, backend: backend, seed: dataSeed, ranks: collective.size, events: events)
    }
    // The decay's end is fixed when the run starts, so a resumed run keeps the same schedule.
    if options.recipe.lrDecayStart != nil, options.recipe.lrDecayEnd == nil { options.recipe.lrDecayEnd = options.steps }
    self.options = options
    let recipe = try options.recipe.recipe(
      base: config, steps: options.recipe.lrDecayEnd ?? options.steps, conditions: conditions?.vocabulary)
    let conditionRows = try conditions.map { set in
      try TrainingRun.allocating("the condition rows (\(set.count) x \(set.vocabulary.width))", options: options) {
        try backend.makeTensor([set.count, set.vocabulary.width, 1, 1], values: set.vectors)
      }
    }
    let perRank = options.batch / collective.size
    trainer = try TrainingRun.allocating("the networks and training plans (D and G steps at batch \(perRank))", options: options) {
      try GANTrainer(
        backend: backend, recipe: recipe, batch: perRank, seed: options.seed,
        noise: .device(seed: options.seed &+ 0x2), data: data, conditions: conditionRows, collective: collective)
    }
    if checkpoint == nil, let path = options.stageOne {
      try Self.loadStageOne(
        try stageOne ?? Self.stageOneCheckpoint(path), into: trainer, conditions: conditions?.vocabulary, events: events)
    }
    events(.recipe("\(options.recipe.arch), \(recipe.summary)"))
    if checkpoint == nil, let advice = Self.stackGANAdvice(options.recipe) { events(.note(advice)) }
    let sampling = trainer.samplingParameters
    let width = recipe.conditioning?.width ?? 0
    sampler = try TrainingRun.allocating("the sampling plan (\(options.sampleCount) images)", options: options) {
      try Sampler(
        backend: backend, network: recipe.generator, latentShape: recipe.latentShape, generator: sampling,
        count: options.sampleCount, conditionWidth: width)
    }
    grid = try conditions.map { try ConditionGrid(conditions: $0, images: options.sampleCount, nz: recipe.latentShape.count, seed: options.seed &+ 0x5A) }
    let writes = collective.rank == 0
    for sub in ["samples", "checkpoints"] where writes {
      try FileManager.default.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
    }
    // Rank 0 alone evaluates (its classifier and samples are its own; no other rank waits).
    if let every = options.evalEvery, writes {
      guard let images else {
        throw KallimaError.invalidArgument(
          op: "train",
          message: "--eval-every needs the dataset in device memory, and this one is streamed; raise --data-memory "
            + "above \(dataset.bytes.count >> 20) MB or drop --eval-every")
      }
      guard every >= 1, let labels = conditions?.classIndices ?? dataset.labels else {
        throw KallimaError.invalidArgument(
          op: "train",
          message: "--eval-every needs labelled data (an idx file with its idx1 labels, like the embedded Fashion-MNIST) "
            + "and a positive interval; \(options.dataPath) has no labels")
      }
      let classes = (labels.max() ?? 0) + 1
      let realCounts = (0..<classes).map { k in labels.lazy.filter { $0 == k }.count }
      let cache = URL(fileURLWithPath: options.out).appendingPathComponent("classifier.safetensors").path
      let classifier = try withoutActuallyEscaping(events) { events in
        try ModeEvaluator.classifier(
          cachedAt: cache, backend: backend, images: images,
          labels: labels, classes: classes, steps: options.classifierSteps, seed: options.seed
        ) { events(.note($0)) }
      }
      if conditions != nil {
        guard conditions?.classIndices != nil else {
          throw KallimaError.invalidArgument(
            op: "train", message: "--eval-every measures class obedience; it needs --condition class (this run's is \(kind!.rawValue))")
        }
        let perClass = max(options.evalSamples / classes, 1)
        let evalSampler = try Sampler(
          backend: backend, network: recipe.generator, latentShape: recipe.latentShape,
          generator: trainer.samplingParameters, count: min(perClass * classes, 250), conditionWidth: width)
        // Intra-class Fréchet needs more images of each class (real and generated) than features.
        var real: [FeatureStatistics]?
        if perClass > ModeClassifier.featureWidth, realCounts.allSatisfy({ $0 > ModeClassifier.featureWidth }) {
          real = try IntraClassFrechet.realStatistics(classifier: classifier, dataset: dataset, labels: labels)
        } else {
          events(.note(
            "no intra-class Fréchet distance: it needs more than \(ModeClassifier.featureWidth) images per class, real and "
              + "generated (--eval-samples \(options.evalSamples) gives \(perClass) per class)"))
        }
        conditionalEvaluator = (evalSampler, classifier, perClass, realCounts, real)
        evaluator = nil
      } else {
        evaluator = try ModeEvaluator(
          classifier: classifier, realCounts: realCounts, network: recipe.generator, latentShape: recipe.latentShape,
          generator: trainer.samplingParameters,
          samples: options.evalSamples)
        conditionalEvaluator = nil
      }
    } else {
      evaluator = nil
      conditionalEvaluator = nil
    }
    fixedZ = Sampler.latents(count: options.sampleCount, nz: options.nz, seed: options.seed &+ 0x5A)
    training = Checkpoint.Training(
      step: 0, dRuns: 0, gRuns: 0, batch: options.batch, nCritic: recipe.nCritic, seed: options.seed, dataSeed: dataSeed,
      flip: options.flip,
      data: URL(fileURLWithPath: options.dataPath).standardizedFileURL.path, dataStream: stream, targetSteps: options.steps,
      ranks: collective.size)
    if let checkpoint, let checkpointPath {
      try checkpoint.restore(into: trainer, path: checkpointPath)
      let recorded = training
      training = checkpoint.training
      (training.data, training.dataStream, training.targetSteps) = (recorded.data, stream, options.steps)
      if let dataChange { training.dataChanges = (training.dataChanges ?? []) + [dataChange] }
      if (checkpoint.training.ranks ?? 1) != collective.size {
        events(.note(
          "the checkpoint was written by \(checkpoint.training.ranks ?? 1) rank(s) and this job has \(collective.size): "
            + "the batch stays \(options.batch) (\(perRank) per rank) and so do the data order and the noise"
            + (options.recipe.synchronizedBatchNorm ? "" : "; batch-norm statistics are taken over each rank's part")))
        training.ranks = collective.size
      }
      bestScore = checkpoint.training.bestKL ?? .infinity
      events(.resumed(step: checkpoint.training.step, from: checkpointPath))
    }
  }

  public var step: Int { trainer.steps }

  /// Trains until `options.steps` or until `shouldStop` says so (checked every step); writes
  /// a final checkpoint either way. A non-finite loss stops the run with an error and leaves
  /// the last good checkpoint in place.
  public func run(shouldStop: () -> Bool = { false }, events: (Event) -> Void = { _ in }) throws {
    // Every rank stops at the same step (Collective.anyRankStops).
    guard writes else { return try train(shouldStop: { collective.anyRankStops(shouldStop) }, events: events) }
    // status.json, index.html and interpolation.png follow the run's events (RunMonitor).
    try RunMonitor(self).track(events) { events in
      try train(shouldStop: { collective.anyRankStops(shouldStop) }, events: events)
    }
  }

  func train(shouldStop: () -> Bool, events: (Event) -> Void) throws {
    events(.started(step: step))
    let start = Date()
    var lastLog = (step: step, time: start)
    while step < options.steps && !shouldStop() {
      try trainer.step()
      let s = step
      if s % options.logEvery == 0 || s == options.steps {
        let stats = try trainer.readStatistics()
        let now = Date()
        let rate = Double((s - lastLog.step) * options.batch) / max(now.timeIntervalSince(lastLog.time), 1e-9)
        lastLog = (s, now)
        let m = Metrics(
          step: s, loss_d: stats.lossD, loss_g: stats.lossG, d_x: stats.dReal, d_g_z: stats.dFake,
          grad_norm: stats.extras["grad_norm"], r1_grad_norm: stats.extras["r1_grad_norm"], k: stats.extras["k"],
          M: stats.extras["M"], d_x_wrong: stats.extras["D(x,c̃)"], loss_cls: stats.extras["loss_cls"],
          ca_kl: stats.extras[ConditioningAugmentation.lossName], images_per_s: rate, wall_s: now.timeIntervalSince(start))
        if writes { try appendMetrics(m) }
        events(.log(m))
        try requireRanksAgree(try trainer.ranksThatDiffer(), at: "step \(s)")
        guard stats.lossD.isFinite && stats.lossG.isFinite else {
          throw KallimaError.diverged(
            "train: training diverged at step \(s) (loss_D \(stats.lossD), loss_G \(stats.lossG)); "
              + "the last good checkpoint is kept in \(checkpointDirectory.path); try a lower --lr")
        }
      }
      guard writes else { continue }
      if let every = options.evalEvery, s % every == 0 || s == options.steps { try evaluate(events: events) }
      if s % options.sampleEvery == 0 { events(.sample(path: try writeSamples())) }
      if s % options.checkpointEvery == 0 { events(.checkpoint(path: try writeCheckpoint())) }
    }
    guard writes else { return }
    // The final state, unless the loop's last step just wrote it.
    if step % options.sampleEvery != 0 || step == 0 { events(.sample(path: try writeSamples())) }
    if step % options.checkpointEvery != 0 || step == 0 { events(.checkpoint(path: try writeCheckpoint())) }
  }

  /// Mode coverage of the current generator: logged to metrics.jsonl; a new lowest KL
  /// writes checkpoints/best.safetensors; coverage falling below the best seen warns.
  func evaluate(events: (Event) -> Void) throws {
    let c: ModeCoverage
    var obedience: ConditionalAccuracy?
    var intra: IntraClassFrechet?
    if let evaluator {
      c = try evaluator.evaluate()
    } else if let e = conditionalEvaluator {
      // One pass: the same images give the accuracy, the coverage and the intra-class distance.
      let samples = try ConditionalAccuracy.measure(
        sampler: e.sampler, classifier: e.classifier, perClass: e.perClass, features: e.real != nil)
      c = try ModeCoverage(probabilities: samples.probabilities, classes: e.classifier.config.classes, realCounts: e.realCounts)
      obedience = samples.accuracy
      intra = try e.real.map { try IntraClassFrechet(features: samples.features, perClass: e.perClass, real: $0) }
    } else {
      return
    }
    // A conditional run ranks by 1 − accuracy, an unconditional one by the mode KL.
    let score = obedience.map { 1 - $0.accuracy } ?? c.kl
    let best = score < bestScore
    var e = Evaluation(
      step: step, modes: c.modesHit, classes: c.histogram.count, kl: c.kl, confidence: c.confidence, samples: c.samples,
      best: best)
    if let obedience {
      e.metric = "conditional_accuracy"
      (e.conditional_accuracy, e.per_class, e.conditional_error) = (obedience.accuracy, obedience.perClass, 1 - obedience.accuracy)
      (e.intra_fid, e.intra_fid_per_class) = (intra?.mean, intra?.perClass)
    }
    try appendLine(e)
    events(.evaluation(e))
    if best {
      bestScore = score
      training.bestKL = score
      let path = try writeCheckpoint(named: "best.safetensors", alsoLatest: false)
      events(.note(obedience.map { String(format: "best so far (conditional accuracy %.3f): %@", $0.accuracy, path) }
        ?? String(format: "best so far (KL %.4f): %@", c.kl, path)))
    }
    if c.modesHit < mostModes - 1 {
      events(.warning(
        "mode coverage fell from \(mostModes) to \(c.modesHit) of \(c.histogram.count) classes at step \(step): "
          + "the generator may be collapsing; checkpoints/best.safetensors keeps the best state so far"))
    }
    mostModes = max(mostModes, c.modesHit)
  }

  /// The grid for the current generator from the fixed z.
  @discardableResult
  public func writeSamples() throws -> String {
    let path = folder.appendingPathComponent(String(format: "samples/step_%06d.png", step)).path
    if let grid {
      try grid.write(sampler: sampler, channels: dataset.channels, size: options.size, to: path)
      return path
    }
    let images = try sampler.images(z: fixedZ)
    let columns = Int(Double(options.sampleCount).squareRoot().rounded(.up))
    let picture = try ImageGrid.png(
      images: images, count: options.sampleCount, channels: dataset.channels, size: options.size, columns: columns)
    try ImageIO.writePNG(picture, to: path)
    return path
  }

  /// Replaces checkpoints/latest.safetensors, then writes checkpoints/step_NNNNNN.safetensors,
  /// both atomically: latest first, so that a kill at any moment leaves a latest checkpoint
  /// as new as any step file (none only before the first checkpoint).
  @discardableResult
  public func writeCheckpoint() throws -> String {
    try writeCheckpoint(named: String(format: "step_%06d.safetensors", step), alsoLatest: true)
  }

  func writeCheckpoint(named name: String, alsoLatest: Bool) throws -> String {
    training.step = step
    training.dRuns = trainer.discriminatorUpdates
    training.gRuns = trainer.gPlan.runs
    let checkpoint = try Checkpoint.capture(trainer, training: training, recipe: options.recipe, conditions: conditions?.vocabulary)
    let path = checkpointDirectory.appendingPathComponent(name).path
    if alsoLatest { try checkpoint.write(to: latestCheckpoint) }
    try checkpoint.write(to: path)
    return path
  }

  func appendMetrics(_ m: Metrics) throws { try appendLine(m) }

  func appendLine<T: Encodable>(_ m: T) throws { try Self.appendMetricsLine(m, in: folder) }

  /// `value` as one JSON line appended to `folder`/metrics.jsonl (made if missing): sorted
  /// keys, and a diverged step's "nan"/"inf" logged too, before the run stops on it.
  static func appendMetricsLine<T: Encodable>(_ value: T, in folder: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    var line = try encoder.encode(value)
    line.append(0x0a)
    let url = folder.appendingPathComponent("metrics.jsonl")
    if !FileManager.default.fileExists(atPath: url.path) {
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      _ = FileManager.default.createFile(atPath: url.path, contents: nil)
    }
    let handle = try FileHandle(forWritingTo: url)
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: line)
  }
}
