import KallimaCore
import KallimaGraph
import KallimaNN

/// When a Progressive GAN grows: a stable phase at 4x4, then for every larger side a fade-in
/// phase and a stable one, each showing D `imagesPerPhase` real images (the reference's
/// lod_training_kimg = lod_transition_kimg = 600); the last stable phase runs on for as
/// long as training does. The batch may change with the side (the paper: 16 up to 128²,
/// then 14, 6, 3).
public struct ProgressiveSchedule: Codable, Equatable, Sendable {
  public var imagesPerPhase: Int
  /// Batch by side; sides not listed take `defaultBatch`.
  public var batchBySide: [Int: Int]
  public var defaultBatch: Int

  public init(imagesPerPhase: Int = 600_000, defaultBatch: Int = 16, batchBySide: [Int: Int] = [256: 14, 512: 6, 1024: 3]) {
    (self.imagesPerPhase, self.defaultBatch, self.batchBySide) = (imagesPerPhase, defaultBatch, batchBySide)
  }

  public func batch(side: Int) -> Int { batchBySide[side] ?? defaultBatch }

  /// One phase: the side trained, and whether its block is fading in.
  public struct Phase: Codable, Equatable, Sendable, CustomStringConvertible {
    public var resolution: Int
    public var fading: Bool
    public init(resolution: Int, fading: Bool) { (self.resolution, self.fading) = (resolution, fading) }
    public var description: String { "\(resolution)x\(resolution) \(fading ? "fade-in" : "stable")" }
  }

  /// Every phase on the way to `resolution`, in order.
  public func phases(to resolution: Int) -> [Phase] {
    var phases = [Phase(resolution: 4, fading: false)]
    var side = 8
    while side <= resolution {
      phases += [Phase(resolution: side, fading: true), Phase(resolution: side, fading: false)]
      side *= 2
    }
    return phases
  }

  /// G updates a phase at `side` takes (the last phase: unbounded).
  public func steps(side: Int) -> Int { (imagesPerPhase + batch(side: side) - 1) / batch(side: side) }

  public func validate(resolution: Int) throws {
    guard imagesPerPhase > 0 else {
      throw KallimaError.invalidArgument(op: "progan", message: "images per phase must be positive, got \(imagesPerPhase)")
    }
    for side in ProgressiveGAN.Config(resolution: resolution).resolutions where batch(side: side) < 2 {
      throw KallimaError.invalidArgument(op: "progan", message: "the batch at \(side)x\(side) must be at least 2, got \(batch(side: side))")
    }
  }
}

/// Trains a Progressive GAN through its phases: each phase is a `GANTrainer` of that
/// phase's networks, built once when the phase starts, on the stores of the phase before (so
/// shared layers keep their weights). Within a phase nothing crosses to the host: the
/// fade-in α is advanced on the device after every G update by a plan of its own,
/// α = min(k·batch/imagesPerPhase, 1) from a step counter k that lives in the objective's
/// store. Real images come from one full-size dataset, pooled to the phase's side in D's
/// graph (`ProgressiveGAN.realInput`).
///
/// Adam's state: zeroed at every phase change, with its step count (bias correction)
/// starting again, as the reference does (`reset_opt_for_new_lod`). The EMA of G (β 0.999
/// unless given) carries on; the EMA of a new layer starts from its initial weights.
///
/// The recipe is the paper's: WGAN-GP (λ 10) with the drift term 0.001·E[D(x)²], Adam
/// lr 1e-3, β (0, 0.99), ε 1e-8 for both networks, one D update per G update.
public final class ProgressiveTrainer {
  public let model: ProgressiveGAN
  public let schedule: ProgressiveSchedule
  public let phases: [ProgressiveSchedule.Phase]
  public let backend: Backend
  /// The trainer of the current phase.
  public private(set) var trainer: GANTrainer
  public private(set) var phaseIndex: Int
  /// G updates done in the current phase, and in all phases.
  public private(set) var stepsInPhase = 0
  public private(set) var steps = 0
  public var phase: ProgressiveSchedule.Phase { phases[phaseIndex] }

  /// Statistics the previous phase's trainer gathered since the last read (read when its
  /// phase ended), to report with the current one's.
  private var earlierStatistics: GANStatistics?
  let data: (images: Tensor, seed: UInt64, flip: Bool)
  let seed: UInt64
  let learningRate: Double
  let ema: Double
  let collective: Collective
  private var advance: Plan?

  /// - Parameters:
  ///   - images: the dataset at the final size [M, channels, resolution, resolution], floats
  ///     in [−1, 1] or 8-bit images, on `backend`.
  ///   - seed: initial weights and the noise stream; `dataSeed` the data order.
  public init(
    backend: Backend, model: ProgressiveGAN, schedule: ProgressiveSchedule = ProgressiveSchedule(), images: Tensor,
    seed: UInt64 = 0, dataSeed: UInt64 = 1, flip: Bool = false, learningRate: Double = 1e-3, ema: Double = 0.999,
    collective: Collective = SingleProcess()
  ) throws {
    try schedule.validate(resolution: model.config.resolution)
    let c = model.config
    guard images.shape.rank == 4, Array(images.shape.dims.dropFirst()) == [c.channels, c.resolution, c.resolution] else {
      throw KallimaError.shapeMismatch(
        op: "progan", message: "the dataset is \(images.shape); the model takes [M, \(c.channels), \(c.resolution), \(c.resolution)]")
    }
    self.model = model
    self.schedule = schedule
    self.phases = schedule.phases(to: c.resolution)
    self.backend = backend
    self.data = (images, dataSeed, flip)
    self.seed = seed
    self.learningRate = learningRate
    self.ema = ema
    self.collective = collective
    phaseIndex = 0
    trainer = try Self.makeTrainer(
      phase: phases[0], model: model, schedule: schedule, backend: backend, data: data, seed: seed,
      learningRate: learningRate, ema: ema, collective: collective, stores: nil)
  }

  /// The recipe of one phase. `ema`: the β of G's average (the paper's 0.999 suits its
  /// phases of tens of thousands of steps; a phase much shorter than 1/(1 − β) steps shows
  /// mostly earlier weights in its samples).
  public static func recipe(
    _ model: ProgressiveGAN, phase: ProgressiveSchedule.Phase, learningRate: Double = 1e-3, ema: Double = 0.999
  ) throws -> GANRecipe {
    let c = model.config
    let adam = Optimizer.adam(AdamParams(lr: learningRate, beta1: 0, beta2: 0.99, eps: 1e-8))
    var recipe = GANRecipe(
      generator: try model.generator(resolution: phase.resolution, fading: phase.fading),
      discriminator: try model.discriminator(resolution: phase.resolution, fading: phase.fading),
      latentShape: [c.latent, 1, 1], imageShape: [c.channels, phase.resolution, phase.resolution],
      objective: .wganGP(lambda: 10), regularizers: [.drift(epsilon: 0.001)], optimizerD: adam, optimizerG: adam,
      ema: EMAConfig(beta: ema, start: 0))
    recipe.realInput = try model.realInput(resolution: phase.resolution, fading: phase.fading)
    recipe.dataShape = [c.channels, c.resolution, c.resolution]
    return recipe
  }

  static func makeTrainer(
    phase: ProgressiveSchedule.Phase, model: ProgressiveGAN, schedule: ProgressiveSchedule, backend: Backend,
    data: (images: Tensor, seed: UInt64, flip: Bool), seed: UInt64, learningRate: Double, ema: Double, collective: Collective,
    stores: GANTrainer.Stores?
  ) throws -> GANTrainer {
    try GANTrainer(
      backend: backend, recipe: try recipe(model, phase: phase, learningRate: learningRate, ema: ema),
      batch: schedule.batch(side: phase.resolution) / collective.size, seed: seed, noise: .device(seed: seed),
      data: .dataset(data.images, seed: data.seed, flip: data.flip), collective: collective, stores: stores)
  }

  /// Where a run is, beside its tensors: what a checkpoint records to continue.
  public struct State: Codable, Equatable, Sendable {
    public var phase: Int
    public var stepsInPhase: Int
    public var steps: Int
    /// The phase trainer's stream offset (the iterations of the phases before).
    public var streamOffset: UInt64
  }

  public var state: State {
    State(phase: phaseIndex, stepsInPhase: stepsInPhase, steps: steps, streamOffset: trainer.streamOffset)
  }

  /// The stores by checkpoint name: "generator", "discriminator", "generator_ema" and
  /// "objective" (the fade counter). They hold every tensor of the phases so far, the
  /// layers the current phase no longer uses included.
  public var namedStores: [(String, ParameterStore)] {
    let s = trainer.stores
    return [("generator", s.generator), ("discriminator", s.discriminator)] + (s.ema.map { [("generator_ema", $0)] } ?? [])
      + [("objective", s.objective)]
  }

  /// Continues a run from `state` and its tensors (by store name, then tensor name), as
  /// `namedStores` held them: builds the phase's trainer, makes the tensors of earlier phases
  /// it does not use, writes every tensor and restores the step counts. Call on a trainer
  /// made with the run's model, schedule and data, before any step. Every tensor the phase
  /// needs must be given, with its shape.
  public func restore(_ state: State, tensors: [String: [String: (shape: [Int], values: [Float])]]) throws {
    guard phases.indices.contains(state.phase), state.stepsInPhase >= 0, state.steps >= state.stepsInPhase else {
      throw KallimaError.invalidArgument(op: "progan", message: "no phase \(state.phase) of \(phases.count) to resume at step \(state.steps)")
    }
    phaseIndex = state.phase
    stepsInPhase = state.stepsInPhase
    steps = state.steps
    advance = nil
    trainer = try Self.makeTrainer(
      phase: phases[phaseIndex], model: model, schedule: schedule, backend: backend, data: data, seed: seed,
      learningRate: learningRate, ema: ema, collective: collective, stores: trainer.stores)
    for (name, store) in namedStores {
      let given = tensors[name] ?? [:]
      for e in store.entries where given[e.name] == nil {
        throw KallimaError.invalidArgument(op: "progan", message: "the checkpoint has no \(name) tensor \(e.name), which \(phase) needs")
      }
      for (tensorName, t) in given.sorted(by: { $0.key < $1.key }) {
        // (Only tensors of earlier phases are made here; whether they count as trainable
        // matters to nothing, as no plan of this phase uses them.)
        let tensor = try store.tensor(tensorName, Shape(t.shape), .constant(0), trainable: !Optimizer.isState(tensorName))
        try backend.write(t.values, to: tensor)
      }
    }
    let runs = UInt64(state.stepsInPhase)
    trainer.restore(steps: state.stepsInPhase, dRuns: runs, gRuns: runs)
    trainer.streamOffset = state.streamOffset
  }

  /// Averages since the last call over the steps of every phase in between (one blocking
  /// read), then resets them.
  public func readStatistics() throws -> GANStatistics {
    let current = try trainer.readStatistics()
    defer { earlierStatistics = nil }
    guard let earlier = earlierStatistics, earlier.steps > 0 else { return current }
    guard current.steps > 0 else { return earlier }
    let (a, b) = (Float(earlier.steps), Float(current.steps))
    func mix(_ x: Float, _ y: Float) -> Float { (x * a + y * b) / (a + b) }
    var merged = GANStatistics(
      steps: earlier.steps + current.steps, lossD: mix(earlier.lossD, current.lossD), lossG: mix(earlier.lossG, current.lossG),
      dReal: mix(earlier.dReal, current.dReal), dFake: mix(earlier.dFake, current.dFake))
    for (key, value) in current.extras { merged.extras[key] = earlier.extras[key].map { mix($0, value) } ?? value }
    return merged
  }

  /// G updates left in the current phase (nil in the last, which runs on).
  public var stepsLeftInPhase: Int? {
    phaseIndex == phases.count - 1 ? nil : schedule.steps(side: phase.resolution) - stepsInPhase
  }

  /// One iteration of the current phase (one D update, one G update, α advanced), then the
  /// next phase if this one is complete. Enqueues and returns, except at a phase change,
  /// which builds the next phase's plans.
  public func step() throws {
    try trainer.step()
    if phase.fading { try advanceAlpha() }
    stepsInPhase += 1
    steps += 1
    if let left = stepsLeftInPhase, left <= 0 { try startPhase(phaseIndex + 1) }
  }

  /// Builds phase `index`'s trainer on the current stores: α and its counter to 0 when it
  /// fades in (1 when it is stable, so sampling from the stores gives the phase's network),
  /// the optimisers' state to 0.
  func startPhase(_ index: Int) throws {
    earlierStatistics = try readStatistics()
    let offset = trainer.streamOffset &+ UInt64(trainer.steps)
    let stores = trainer.stores
    phaseIndex = index
    stepsInPhase = 0
    advance = nil
    trainer = try Self.makeTrainer(
      phase: phases[index], model: model, schedule: schedule, backend: backend, data: data, seed: seed,
      learningRate: learningRate, ema: ema, collective: collective, stores: stores)
    trainer.streamOffset = offset
    for store in [stores.generator, stores.discriminator] {
      for e in store.entries where Optimizer.isState(e.name) {
        try backend.fill(e.tensor, value: 0)
      }
    }
    try setAlpha(phase.fading ? 0 : 1)
  }

  /// Every store's α (G, D, the EMA) and the fade counter set to `alpha`, 0.
  func setAlpha(_ alpha: Float) throws {
    let stores = trainer.stores
    for store in [stores.generator, stores.discriminator] + (stores.ema.map { [$0] } ?? []) {
      if let t = store["alpha"] { try backend.fill(t, value: alpha) }
    }
    if let counter = stores.objective["fade_step"] { try backend.fill(counter, value: 0) }
  }

  /// α's step per G update in a fade-in: the job's batch over the images per phase.
  var fadeRate: Float { Float(trainer.batch * collective.size) / Float(schedule.imagesPerPhase) }

  /// The α the stores hold now, known on the host without reading the device: the device
  /// plan computes the same float product, min(k·rate, 1) with k the fade's steps so far.
  /// nil in a stable phase.
  public var alpha: Float? { phase.fading ? min(Float(stepsInPhase) * fadeRate, 1) : nil }

  /// k ← k + 1; α ← min(k·batch/imagesPerPhase, 1) in every store that has an α.
  func advanceAlpha() throws {
    if advance == nil {
      let stores = trainer.stores
      let g = Graph()
      let b = GraphBinder(graph: g)
      let k = try b.parameter(stores.objective, "fade_step", [1], .constant(0), trainable: false)
      let next = try g.value(.add, [k, g.constant(1, [1], name: "1")], name: "k + 1")
      try g.add(.assign, [k, next], name: "k ← k + 1")
      let alpha = try g.value(.clamp(min: 0, max: 1), [try g.value(.scale(fadeRate), [next], name: "k·batch/images")], name: "α")
      for store in [stores.generator, stores.discriminator] + (stores.ema.map { [$0] } ?? []) where store["alpha"] != nil {
        try g.add(.assign, [try b.parameter(store, "alpha", [1], .constant(0), trainable: false), alpha], name: "α ← min(k·rate, 1)")
      }
      advance = try Plan(graph: g, backend: backend, bindings: b.bindings)
    }
    try advance!.run()
  }
}
