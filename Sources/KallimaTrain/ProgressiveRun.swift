import Foundation
import KallimaCore
import KallimaData
import KallimaGAN

/// What `kallima train progan` (or `train --arch progan`) is asked for.
public struct ProgressiveOptions: Codable, Equatable, Sendable {
  /// Image folder or idx file; nil: the embedded default (`TrainingOptions.embeddedData`).
  public var data: String?
  /// The final image side (a power of two from 8).
  public var size = 32
  /// Image channels; nil: the data's.
  public var channels: Int?
  public var latent = 512
  /// The most feature maps of a block (the reference's fmap_max 512); fmap_base is 16 times it.
  public var width = 512
  /// Batch: with the paper's 16, its table (14, 6, 3 at 256, 512, 1024); any other batch is
  /// used at every side.
  public var batch = 16
  /// Real images D sees per phase (the reference's 600k).
  public var phaseImages = 600_000
  /// G updates in all; nil: through every growth phase and one phase's worth at the final size.
  public var steps: Int?
  public var learningRate = 1e-3
  /// β of G's EMA (the paper's 0.999; shorter phases want a smaller one).
  public var ema = 0.999
  public var seed: UInt64 = 0
  public var flip = false
  public var limit: Int?
  public var dataMemory: Int?
  public var out = "runs/progan"
  public var logEvery = 50
  public var sampleEvery = 500
  public var checkpointEvery = 1000
  public var sampleCount = 64

  public init() {}

  public var dataPath: String { data ?? TrainingOptions.embeddedData }

  public var schedule: ProgressiveSchedule {
    ProgressiveSchedule(imagesPerPhase: phaseImages, defaultBatch: batch, batchBySide: batch == 16 ? [256: 14, 512: 6, 1024: 3] : [:])
  }

  /// The default length: every phase, the last counted once.
  public var totalSteps: Int {
    steps ?? schedule.phases(to: size).map { schedule.steps(side: $0.resolution) }.reduce(0, +)
  }
}

/// A Progressive GAN run folder: status.json (as `kallima train` keeps it), metrics.jsonl
/// (with the phase and α), samples/ (a grid every `sampleEvery` steps
/// and one at the end of every phase, `phase_N_SIDE_stable.png`, every image shown at the
/// final size), checkpoints/ (latest.safetensors, step files, and `phase_N_SIDE_KIND` files
/// at the end of every phase: every store's tensors under "generator.", "discriminator.",
/// "generator_ema.", "objective.", with the options, model, phase and the data's fingerprint
/// in the metadata; `kallima sample` and `kallima fid --checkpoint` read any of them).
public final class ProgressiveRun {
  public let options: ProgressiveOptions
  public let backend: Backend
  public let trainer: ProgressiveTrainer
  public let dataset: ImageDataset
  let folder: URL
  let fixedZ: [Float]
  /// The data's size and fingerprint, recorded in every checkpoint and checked on resume.
  let data: Checkpoint.DataStream
  private var sampler: (phase: Int, sampler: Sampler)?

  public static let format = "kallima-progan-1"
  public var checkpointDirectory: URL { folder.appendingPathComponent("checkpoints") }
  public var latestCheckpoint: String { checkpointDirectory.appendingPathComponent("latest.safetensors").path }
  public var step: Int { trainer.steps }

  /// Loads the data and builds the first phase, or continues the run in `resume` (its
  /// latest checkpoint: the model, schedule, seed and data come from there; `options`
  /// gives the step target and the cadences).
  public init(options: ProgressiveOptions, backend: Backend, resume: String? = nil, events: (TrainingRun.Event) -> Void = { _ in }) throws {
    var options = options
    var restored: (state: ProgressiveTrainer.State, tensors: [String: [String: (shape: [Int], values: [Float])]], path: String)?
    var recordedData: Checkpoint.DataStream?
    if let resume {
      let path = URL(fileURLWithPath: resume).appendingPathComponent("checkpoints/latest.safetensors").path
      guard FileManager.default.fileExists(atPath: path) else {
        throw KallimaError.io(path: path, message: "no checkpoint to resume from (the run wrote none yet, or this is not a run folder)")
      }
      let (metadata, tensors) = try SafetensorsFile.read(path)
      guard let checkpoint = try Saved(metadata: metadata, path: path) else {
        throw KallimaError.io(path: path, message: "not a Progressive GAN checkpoint (format \(metadata["format"] ?? "none")); resume it with kallima train")
      }
      var saved = checkpoint.options
      // The run's model, schedule, seed and data; this call's target and cadences.
      (saved.steps, saved.logEvery, saved.sampleEvery, saved.checkpointEvery) = (options.steps ?? saved.steps, options.logEvery, options.sampleEvery, options.checkpointEvery)
      saved.data = options.data ?? saved.data
      saved.dataMemory = options.dataMemory
      saved.out = resume
      options = saved
      restored = (checkpoint.state, Self.byStore(tensors), path)
      recordedData = checkpoint.data
    }
    self.backend = backend
    folder = URL(fileURLWithPath: options.out)
    let model = try ProgressiveGAN(
      ProgressiveGAN.Config(
        resolution: options.size, channels: options.channels ?? 1, latent: options.latent, featureBase: 16 * options.width,
        featureMax: options.width))
    try options.schedule.validate(resolution: options.size)
    let start = Date()
    dataset = try ImageDataset.load(path: options.dataPath, size: options.size, channels: options.channels, limit: options.limit)
    events(.loaded(dataset.report, count: dataset.count, seconds: Date().timeIntervalSince(start)))
    data = Checkpoint.DataStream(limit: options.limit, images: dataset.count, fingerprint: try DatasetFingerprint.of(dataset.report.source))
    if let recordedData, let restored {
      let differences = data.differences(from: recordedData)
      guard differences.isEmpty else {
        throw KallimaError.invalidArgument(
          op: "train progan",
          message: "the data differs from what \(restored.path) was trained on (\(differences.joined(separator: "; "))): "
            + "resume on the same data (--data, --limit), or start a new run")
      }
    }
    guard dataset.count >= options.batch else {
      throw KallimaError.invalidArgument(op: "train progan", message: "\(dataset.count) images in \(options.dataPath): fewer than one batch of \(options.batch)")
    }
    let budget = options.dataMemory ?? backend.defaultDataMemory
    guard dataset.bytes.count <= budget else {
      throw KallimaError.invalidArgument(
        op: "train progan",
        message: "the dataset takes \(dataset.bytes.count >> 20) MB, more than the \(budget >> 20) MB it may use on the device; "
          + "Progressive GAN does not stream yet: use --limit, a smaller --size, or a larger --data-memory")
    }
    let images = try backend.makeByteTensor([dataset.count, dataset.channels, dataset.size, dataset.size])
    try dataset.bytes.withUnsafeBytes { try backend.write(bytes: $0, to: images, offset: 0) }
    var config = model.config
    config.channels = dataset.channels
    options.channels = dataset.channels
    self.options = options
    trainer = try ProgressiveTrainer(
      backend: backend, model: try ProgressiveGAN(config), schedule: options.schedule, images: images, seed: options.seed,
      dataSeed: options.seed &+ 0xDA7A, flip: options.flip, learningRate: options.learningRate,
      ema: options.ema)
    fixedZ = Sampler.latents(count: options.sampleCount, nz: options.latent, seed: options.seed &+ 0x5A)
    for sub in ["samples", "checkpoints"] {
      try FileManager.default.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
    }
    events(.recipe("progan to \(options.size)x\(options.size), \(trainer.phases.count) phases of \(options.phaseImages) images, "
      + (try ProgressiveTrainer.recipe(trainer.model, phase: trainer.phase, ema: options.ema)).summary))
    if let restored {
      try trainer.restore(restored.state, tensors: restored.tensors)
      events(.resumed(step: restored.state.steps, from: restored.path))
    }
  }

  /// Trains to `options.totalSteps` or until `shouldStop` (checked every step); writes a
  /// final grid and checkpoint either way. A non-finite loss stops with an error and keeps
  /// the last good checkpoint.
  public func run(shouldStop: () -> Bool = { false }, events: (TrainingRun.Event) -> Void = { _ in }) throws {
    // status.json, as kallima train keeps it, so `kallima runs` shows the run's state.
    let total = options.totalSteps
    writeStatus(.running, events)
    do {
      try train(shouldStop: shouldStop, events: events)
    } catch {
      writeStatus(KallimaError.isDivergence(error) ? .diverged : .failed, message: "\(error)", events)
      throw error
    }
    if step >= total {
      writeStatus(.finished, events)
    } else {
      writeStatus(.stopped, message: "stopped at step \(step) of \(total); continue with --resume \(options.out)", events)
    }
  }

  /// Writes status.json; a failure to write it is a warning, never a reason to stop.
  func writeStatus(_ state: RunStatus.State, message: String? = nil, _ events: (TrainingRun.Event) -> Void) {
    do {
      try RunStatus(state: state, step: step, steps: options.totalSteps, message: message).write(toFolder: folder.path)
    } catch {
      events(.warning("could not update the run's status.json (training goes on): \(error)"))
    }
  }

  func train(shouldStop: () -> Bool, events: (TrainingRun.Event) -> Void) throws {
    events(.started(step: step))
    let start = Date()
    var lastLog = (step: step, time: start)
    let total = options.totalSteps
    while step < total && !shouldStop() {
      let phase = trainer.phaseIndex
      try trainer.step()
      let s = step
      if trainer.phaseIndex != phase {
        // The grid and the weights of the phase that ended (the stores are as it left them;
        // the new phase starts from the same function: α = 0 of a fade-in is the old network
        // upsampled, α = 1 the stable one), for sampling and FID at every stage.
        let ended = String(format: "phase_%d_%d_%@", phase, trainer.phases[phase].resolution, trainer.phases[phase].fading ? "fade" : "stable")
        events(.sample(path: try writeSamples(named: ended + ".png")))
        events(.checkpoint(path: try writeCheckpoint(named: ended + ".safetensors", alsoLatest: false)))
        events(.note("phase \(trainer.phaseIndex + 1) of \(trainer.phases.count): \(trainer.phase) from step \(s)"))
      }
      if s % options.logEvery == 0 || s == total {
        let stats = try trainer.readStatistics()
        let now = Date()
        let rate = Double(s - lastLog.step) * Double(trainer.trainer.batch) / max(now.timeIntervalSince(lastLog.time), 1e-9)
        lastLog = (s, now)
        let line = Metrics(
          step: s, phase: trainer.phase.description, resolution: trainer.phase.resolution,
          alpha: trainer.alpha, loss_d: stats.lossD, loss_g: stats.lossG, d_x: stats.dReal,
          d_g_z: stats.dFake, grad_norm: stats.extras["grad_norm"], images_per_s: rate, wall_s: now.timeIntervalSince(start))
        try appendLine(line)
        writeStatus(.running, events)
        events(.log(TrainingRun.Metrics(
          step: s, loss_d: stats.lossD, loss_g: stats.lossG, d_x: stats.dReal, d_g_z: stats.dFake,
          grad_norm: stats.extras["grad_norm"], images_per_s: rate, wall_s: line.wall_s)))
        guard stats.lossD.isFinite && stats.lossG.isFinite else {
          throw KallimaError.diverged(
            "train progan: training diverged at step \(s) (\(trainer.phase); loss_D \(stats.lossD), loss_G \(stats.lossG)); "
              + "the last good checkpoint is kept in \(checkpointDirectory.path); try a lower --lr")
        }
      }
      if s % options.sampleEvery == 0 { events(.sample(path: try writeSamples())) }
      if s % options.checkpointEvery == 0 { events(.checkpoint(path: try writeCheckpoint())) }
    }
    if step % options.sampleEvery != 0 || step == 0 { events(.sample(path: try writeSamples())) }
    if step % options.checkpointEvery != 0 || step == 0 { events(.checkpoint(path: try writeCheckpoint())) }
  }

  /// One line of metrics.jsonl.
  public struct Metrics: Codable {
    public var step: Int
    public var phase: String
    public var resolution: Int
    /// The fade-in's α after this step (fade-in phases only).
    public var alpha: Float?
    public var loss_d, loss_g, d_x, d_g_z: Float
    public var grad_norm: Float?
    public var images_per_s, wall_s: Double
  }

  /// The grid of the current phase's EMA generator from the fixed z, every image shown at
  /// the final size (nearest), so grids of all phases line up.
  @discardableResult
  public func writeSamples(named name: String? = nil) throws -> String {
    if sampler?.phase != trainer.phaseIndex {
      let recipe = try ProgressiveTrainer.recipe(trainer.model, phase: trainer.phase, ema: options.ema)
      sampler = (trainer.phaseIndex, try Sampler(
        backend: backend, network: recipe.generator, latentShape: recipe.latentShape,
        generator: trainer.trainer.samplingParameters, count: options.sampleCount))
    }
    let images = try sampler!.sampler.images(z: fixedZ)
    let (side, final, channels) = (trainer.phase.resolution, options.size, dataset.channels)
    let factor = final / side
    var shown = [Float](repeating: 0, count: options.sampleCount * channels * final * final)
    for i in shown.indices {
      let (plane, pixel) = (i / (final * final), i % (final * final))
      shown[i] = images[plane * side * side + (pixel / final / factor) * side + (pixel % final) / factor]
    }
    let columns = Int(Double(options.sampleCount).squareRoot().rounded(.up))
    let picture = try ImageGrid.png(images: shown, count: options.sampleCount, channels: channels, size: final, columns: columns)
    let path = folder.appendingPathComponent("samples/" + (name ?? String(format: "step_%06d_%dx%d.png", step, side, side))).path
    try ImageIO.writePNG(picture, to: path)
    return path
  }

  /// The generator of a Progressive GAN checkpoint at its phase, for sampling: the network,
  /// its latent shape, a store holding the EMA's weights (G's own when there is none), the
  /// image channels and side. nil when `metadata` is not of a Progressive GAN checkpoint.
  public static func generator(metadata: [String: String], tensors: [SafetensorsTensor], backend: Backend, path: String)
    throws -> (network: any Layer, latentShape: Shape, store: ParameterStore, channels: Int, side: Int, weights: String)?
  {
    guard let saved = try Saved(metadata: metadata, path: path) else { return nil }
    let phases = saved.options.schedule.phases(to: saved.model.resolution)
    let at = saved.state.phase
    guard phases.indices.contains(at) else { throw KallimaError.io(path: path, message: "phase \(at) of \(phases.count)") }
    let recipe = try ProgressiveTrainer.recipe(try ProgressiveGAN(saved.model), phase: phases[at])
    let stores = byStore(tensors)
    let weights = stores["generator_ema"] != nil ? "generator_ema" : "generator"
    let store = ParameterStore(backend: backend, seed: 0)
    for (name, t) in stores[weights] ?? [:] {
      try backend.write(t.values, to: try store.tensor(name, Shape(t.shape), .constant(0), trainable: false))
    }
    return (recipe.generator, recipe.latentShape, store, saved.model.channels, phases[at].resolution, weights)
  }

  /// What a Progressive GAN checkpoint's metadata holds besides its tensors.
  struct Saved {
    let options: ProgressiveOptions
    let state: ProgressiveTrainer.State
    let model: ProgressiveGAN.Config
    /// The data's size and fingerprint (nil in a checkpoint written before they were recorded).
    let data: Checkpoint.DataStream?

    /// nil when `metadata` is not of a Progressive GAN checkpoint.
    init?(metadata: [String: String], path: String) throws {
      guard metadata["format"] == ProgressiveRun.format else { return nil }
      guard let options = metadata["options"], let state = metadata["state"], let model = metadata["model"] else {
        throw KallimaError.io(path: path, message: "a Progressive GAN checkpoint without its options, state or model")
      }
      let decoder = JSONDecoder()
      self.options = try decoder.decode(ProgressiveOptions.self, from: Data(options.utf8))
      self.state = try decoder.decode(ProgressiveTrainer.State.self, from: Data(state.utf8))
      self.model = try decoder.decode(ProgressiveGAN.Config.self, from: Data(model.utf8))
      data = try metadata["data"].map { try decoder.decode(Checkpoint.DataStream.self, from: Data($0.utf8)) }
    }
  }

  /// A checkpoint's tensors by store ("generator", …) and by name within it.
  static func byStore(_ tensors: [SafetensorsTensor]) -> [String: [String: (shape: [Int], values: [Float])]] {
    var out: [String: [String: (shape: [Int], values: [Float])]] = [:]
    for t in tensors {
      guard let dot = t.name.firstIndex(of: ".") else { continue }
      out[String(t.name[..<dot]), default: [:]][String(t.name[t.name.index(after: dot)...])] = (t.shape, t.values)
    }
    return out
  }

  /// checkpoints/latest.safetensors, then checkpoints/step_NNNNNN.safetensors (both atomic).
  @discardableResult
  public func writeCheckpoint() throws -> String {
    try writeCheckpoint(named: String(format: "step_%06d.safetensors", step), alsoLatest: true)
  }

  func writeCheckpoint(named name: String, alsoLatest: Bool) throws -> String {
    let tensors = try Checkpoint.finiteTensors(trainer.namedStores) { "\($0).\($1)" }
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let metadata = [
      "format": Self.format, "architecture": "progan",
      "options": String(decoding: try encoder.encode(options), as: UTF8.self),
      "state": String(decoding: try encoder.encode(trainer.state), as: UTF8.self),
      "model": String(decoding: try encoder.encode(trainer.model.config), as: UTF8.self),
      "phase": trainer.phase.description,
      "data": String(decoding: try encoder.encode(data), as: UTF8.self),
    ]
    let path = checkpointDirectory.appendingPathComponent(name).path
    if alsoLatest { try SafetensorsFile.write(tensors, metadata: metadata, to: latestCheckpoint) }
    try SafetensorsFile.write(tensors, metadata: metadata, to: path)
    return path
  }

  func appendLine<T: Encodable>(_ m: T) throws { try TrainingRun.appendMetricsLine(m, in: folder) }
}
