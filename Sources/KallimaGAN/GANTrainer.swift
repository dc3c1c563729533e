import KallimaCore
import KallimaGraph
import KallimaNN

/// Where the latent vectors (and the objectives' other random draws) come from.
public enum NoiseSource: Sendable {
  /// Drawn on the device from Philox; each plan run takes the next block of its stream.
  case device(seed: UInt64)
  /// Fed by the caller through `feeds` ("zD", "zG", and "alpha", "u" for the penalties that
  /// draw them): tests against reference implementations.
  case input
}

/// Where the real batches come from.
public enum RealSource {
  /// `GANTrainer.real`, filled by the caller (tests, benchmarks).
  case tensor
  /// A dataset already on the device, [M, C, H, W] in [−1, 1]: each D run gathers the next
  /// batch of a per-epoch shuffle (`DataOrder`), mirrored at random when `flip` is set.
  /// The source may be a byte tensor (`Backend.makeByteTensor`, 8-bit images converted as
  /// they are gathered: a quarter of the memory, the same values).
  case dataset(Tensor, seed: UInt64, flip: Bool)
  /// A dataset of `count` images too large for the device, streamed by the host: before each
  /// D run the stream uploads the batch (stream items in `DataOrder(seed:count:)` order) and
  /// `gather_images_u8` converts and flips it into `real`: the same bits as `.dataset` over
  /// the same images and seed.
  case streamed(BatchStream, count: Int, seed: UInt64, flip: Bool)
}

/// Averages of the training statistics since the last read.
public struct GANStatistics: Sendable, CustomStringConvertible {
  public var steps: Int
  public var lossD: Float
  public var lossG: Float
  /// Mean D(x): σ of the logits for the logistic losses, the raw score for the others,
  /// L(x) for BEGAN.
  public var dReal: Float
  /// Mean D(G(z)) in the D step, likewise.
  public var dFake: Float
  /// The objective's own statistics (`Objective.extraStatistics`): grad_norm, k, M.
  public var extras: [String: Float] = [:]
  public var description: String {
    (["loss_D \(lossD) loss_G \(lossG) D(x) \(dReal) D(G(z)) \(dFake)"]
      + extras.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" } + ["over \(steps) steps"]).joined(separator: " ")
  }
}

/// One GAN training iteration (SPEC §1) for any recipe, as two plans built once that share
/// parameter buffers:
/// - the D plan: D on the real batch and the real term's backward; fake = G(z) (no gradient
///   into G); D on the fake batch and the fake term's backward; penalties (gradient
///   penalties run D again and differentiate through its gradient); the D optimiser; then
///   the objective's effects (WGAN clipping, BEGAN's k_t) and spectral norm's u write-back;
/// - the G plan: a fresh z, D(G(z)), G's loss, backward through D into G, the G optimiser
///   (D's parameters are read, never written), then the EMA of G's weights.
/// Norm layers run in train mode in both (running statistics update as PyTorch's do).
/// Statistics accumulate on the device; `readStatistics` is the only read. The learning-rate
/// schedule reaches the plans as a kernel argument, so no step moves data between host and
/// device.
public final class GANTrainer {
  public let backend: Backend
  public let recipe: GANRecipe
  public let batch: Int
  public var nCritic: Int { recipe.nCritic }
  public let generatorParameters: ParameterStore
  public let discriminatorParameters: ParameterStore
  /// The EMA of G's weights (same names as G's), when the recipe keeps one.
  public let emaParameters: ParameterStore?
  /// The objective's device state (BEGAN's "k").
  public let objectiveParameters: ParameterStore
  /// The real batch, read by every D plan run; fill it (or keep it) on the device.
  public let real: Tensor
  /// Random inputs fed by the caller when the noise source is `.input`, by name.
  public private(set) var feeds: [String: Tensor] = [:]
  public var zD: Tensor? { feeds["zD"] }
  public var zG: Tensor? { feeds["zG"] }
  /// The D update (with the regularisers unless they are lazy).
  public let dPlan: Plan
  /// With lazy regularisation (`every` > 1): the D update that carries the penalty, run on
  /// every `every`-th D update instead of `dPlan`. Both draw one random and data stream.
  public let regularizedDPlan: Plan?
  public let gPlan: Plan
  /// D updates so far (all D plans together): the optimiser step, the random streams and
  /// the data position of the next D update follow from it.
  public private(set) var discriminatorUpdates: UInt64 = 0
  /// The names of the accumulated statistics, in accumulator order.
  public let statisticNames: [String]
  /// Statistics summed over steps since the last read.
  let accumulator: Tensor
  private var stepsSinceRead = 0
  /// With a streamed source: the stream, the byte window it uploads into, and the order.
  private let feed: (stream: BatchStream, window: Tensor, order: DataOrder, flip: Bool)?
  public private(set) var steps = 0

  /// The parameters to sample from: the EMA when there is one, else G's own.
  public var samplingParameters: ParameterStore { emaParameters ?? generatorParameters }

  /// DCGAN with the non-saturating loss and Adam (the paper's recipe).
  public convenience init(
    backend: Backend, config: DCGANConfig, batch: Int, adam: AdamParams = AdamParams(), nCritic: Int = 1,
    seed: UInt64 = 0, noise: NoiseSource = .device(seed: 0), data: RealSource = .tensor
  ) throws {
    try self.init(
      backend: backend, recipe: try .dcgan(config, optimizer: .adam(adam), nCritic: nCritic), batch: batch, seed: seed,
      noise: noise, data: data)
  }

  public init(
    backend: Backend, recipe: GANRecipe, batch: Int, seed: UInt64 = 0, noise: NoiseSource = .device(seed: 0),
    data: RealSource = .tensor
  ) throws {
    guard batch >= 2 else {
      throw KallimaError.invalidArgument(op: "GANTrainer", message: "batch must be at least 2 (batch norm needs it), got \(batch)")
    }
    try recipe.validate()
    self.backend = backend
    self.recipe = recipe
    self.batch = batch
    generatorParameters = ParameterStore(backend: backend, seed: seed &* 2 &+ 1)
    discriminatorParameters = ParameterStore(backend: backend, seed: seed &* 2 &+ 2)
    objectiveParameters = ParameterStore(backend: backend, seed: seed &* 2 &+ 3)
    emaParameters = recipe.ema.map { _ in ParameterStore(backend: backend, seed: 0) }
    let imageShape = Shape([batch] + recipe.imageShape.dims)
    real = try backend.zeros(imageShape)
    statisticNames = ["loss_D", "loss_G", "D(x)", "D(G(z))"] + recipe.objective.extraStatistics
      + (recipe.regularizers.isEmpty ? [] : ["r1_grad_norm"])
    accumulator = try backend.zeros([1, statisticNames.count])

    if case .dataset(let images, _, _) = data {
      guard Array(images.shape.dims.dropFirst()) == recipe.imageShape.dims else {
        throw KallimaError.shapeMismatch(
          op: "GANTrainer", message: "dataset images are \(Shape(Array(images.shape.dims.dropFirst()))), the recipe makes \(recipe.imageShape)")
      }
    }
    if case .streamed(let stream, let count, let seed, let flip) = data {
      feed = (stream, try backend.makeByteTensor(imageShape), DataOrder(seed: seed, count: count), flip)
    } else {
      feed = nil
    }
    let random = RandomInputs(backend: backend, noise: noise)
    // Both networks' stores are populated by building the D plan first (G, then D).
    let lazy = recipe.regularizers.first.map(\.every) ?? 1
    let (generator, discriminator, state) = (generatorParameters, discriminatorParameters, objectiveParameters)
    let (real, accumulator, statistics) = (real, accumulator, statisticNames)
    func discriminatorPlan(regularizerWeight: Float) throws -> Plan {
      let (graph, binder) = try Self.buildDiscriminatorStep(
        recipe, batch: batch, generator: generator, discriminator: discriminator, state: state, real: real, data: data,
        random: random, accumulator: accumulator, statistics: statistics, regularizerWeight: regularizerWeight)
      return try Plan(graph: graph, backend: backend, bindings: binder.bindings)
    }
    dPlan = try discriminatorPlan(regularizerWeight: lazy > 1 ? 0 : 1)
    regularizedDPlan = lazy > 1 ? try discriminatorPlan(regularizerWeight: Float(lazy)) : nil
    let (gGraph, gBinder) = try Self.buildGeneratorStep(
      recipe, batch: batch, generator: generatorParameters, discriminator: discriminatorParameters,
      ema: emaParameters, random: random, accumulator: accumulator)
    gPlan = try Plan(graph: gGraph, backend: backend, bindings: gBinder.bindings)
    feeds = random.feeds
    if let ema = emaParameters {
      // The average starts from G's initial weights.
      for e in generatorParameters.entries where ema[e.name] != nil {
        try backend.scale(e.tensor, alpha: 1, y: ema[e.name]!)
      }
    }
  }

  /// One training iteration: n_critic D updates, then one G update. Enqueues and returns.
  public func step() throws {
    for _ in 0..<nCritic { try runDiscriminatorStep() }
    try runGeneratorStep()
  }

  /// One D update (with the learning-rate factor of the current iteration).
  public func runDiscriminatorStep() throws {
    let every = UInt64(recipe.regularizers.first?.every ?? 1)
    let plan = regularizedDPlan.map { discriminatorUpdates % every == 0 ? $0 : dPlan } ?? dPlan
    plan.learningRateScale = recipe.schedule.factor(iteration: steps)
    plan.streamPosition = discriminatorUpdates
    plan.optimizerStep = Int(discriminatorUpdates) + 1
    if let feed {
      let position = discriminatorUpdates &* UInt64(batch)
      try feed.stream.enqueueBatch(position: position, into: feed.window)
      try backend.gather_images_u8(
        source: feed.window, y: real, order: feed.order, position: position, flip: feed.flip, streamed: true)
    }
    try plan.run()
    discriminatorUpdates += 1
  }

  /// The G update that completes the current iteration.
  public func runGeneratorStep() throws {
    gPlan.learningRateScale = recipe.schedule.factor(iteration: steps)
    try gPlan.run()
    steps += 1
    stepsSinceRead += 1
  }

  /// Continues from a checkpoint: the completed steps, the D updates (all D plans) and the
  /// G plan's run count (the optimiser steps, the random streams and the data position
  /// follow from them).
  public func restore(steps: Int, dRuns: UInt64, gRuns: UInt64) {
    self.steps = steps
    discriminatorUpdates = dRuns
    dPlan.restore(runs: dRuns)
    gPlan.restore(runs: gRuns)
    stepsSinceRead = 0
  }

  /// Averages since the last call (one blocking read), then resets the accumulators.
  public func readStatistics() throws -> GANStatistics {
    let sums = try backend.read(accumulator)
    try backend.fill(accumulator, value: 0)
    let d = Float(max(stepsSinceRead * nCritic, 1))
    let g = Float(max(stepsSinceRead, 1))
    var stats = GANStatistics(
      steps: stepsSinceRead, lossD: sums[0] / d, lossG: sums[1] / g, dReal: sums[2] / d, dFake: sums[3] / d)
    for (i, name) in statisticNames.enumerated().dropFirst(4) { stats.extras[name] = sums[i] / d }
    stepsSinceRead = 0
    return stats
  }

  // MARK: Graph construction

  /// Random draws for the plans: device random nodes, or inputs the caller fills.
  final class RandomInputs {
    let backend: Backend
    let noise: NoiseSource
    var feeds: [String: Tensor] = [:]
    init(backend: Backend, noise: NoiseSource) {
      self.backend = backend
      self.noise = noise
    }

    func value(_ b: GraphBinder, _ shape: Shape, feed: String, salt: UInt64, name: String, uniform: Bool) throws -> Value {
      switch noise {
      case .device(let seed):
        let s = seed &* 0x2545_F491_4F6C_DD1D &+ salt
        return uniform ? b.graph.randomUniform(shape, seed: s, name: name) : b.graph.randomNormal(shape, seed: s, name: name)
      case .input:
        let v = b.graph.input(shape, name: name)
        if feeds[feed] == nil { feeds[feed] = try backend.zeros(shape) }
        b.bind(v, feeds[feed]!)
        return v
      }
    }
  }

  /// Gradients of `loss` for every trainable parameter of `store` used in the graph, by name.
  public static func gradients(_ g: Graph, _ b: GraphBinder, _ store: ParameterStore, of loss: Value) throws -> [String: Value] {
    let params = b.parameters(of: store)
    let names = store.trainable.map(\.name).filter { params[$0] != nil }
    let grads = try g.gradients(of: loss, wrt: names.map { params[$0]! })
    var result: [String: Value] = [:]
    for (name, grad) in zip(names, grads) { result[name] = grad }
    return result
  }

  /// Sums per-parameter gradients of several terms, in order.
  static func sum(_ g: Graph, _ parts: [[String: Value]]) throws -> [String: Value] {
    var total: [String: Value] = [:]
    for part in parts {
      for (name, grad) in part.sorted(by: { $0.key < $1.key }) {
        total[name] = try total[name].map { try g.value(.add, [$0, grad], name: "d loss_D / d \(name)") } ?? grad
      }
    }
    return total
  }

  /// Accumulates scalars into the statistics row (zeros where `entries` has none).
  static func accumulate(_ g: Graph, _ b: GraphBinder, _ accumulator: Tensor, _ entries: [Int: Value]) throws {
    let width = accumulator.shape[1]
    let zero = g.constant(0, [1, 1], name: "0")
    let parts = try (0..<width).map { i in try entries[i].map { try g.value(.reshape([1, 1]), [$0]) } ?? zero }
    let row = try g.value(.concat, parts, name: "statistics")
    let acc = g.parameter([1, width], name: "statistics accumulator")
    b.bind(acc, accumulator)
    try g.add(.accumulate, [acc, row], name: "accumulate statistics")
  }

  static func discriminatorScope(_ recipe: GANRecipe, _ b: GraphBinder, _ store: ParameterStore, tag: String) -> Scope {
    Scope(binder: b, store: store, tag: "D(\(tag))", options: BindOptions(mode: .train, spectralNorm: recipe.spectralNorm))
  }

  static func buildDiscriminatorStep(
    _ recipe: GANRecipe, batch: Int, generator: ParameterStore, discriminator: ParameterStore, state: ParameterStore,
    real: Tensor, data: RealSource, random: RandomInputs, accumulator: Tensor, statistics: [String],
    regularizerWeight: Float
  ) throws -> (Graph, GraphBinder) {
    let g = Graph()
    let b = GraphBinder(graph: g)
    let x: Value
    switch data {
    case .tensor, .streamed:
      x = g.input(real.shape, name: "real")
      b.bind(x, real)
    case .dataset(let images, let seed, let flip):
      let source = g.input(images.shape, name: "dataset")
      b.bind(source, images)
      x = try g.value(
        .gatherImages(DataOrder(seed: seed, count: images.shape[0]), batch: batch, flip: flip), [source], name: "real")
    }
    let critic = { (image: Value, tag: String) throws -> Value in
      try recipe.discriminator(image, in: discriminatorScope(recipe, b, discriminator, tag: tag))
    }
    let context = DStepContext(
      graph: g, binder: b, critic: critic,
      uniform: { shape, name, salt in
        try random.value(b, shape, feed: name, salt: salt, name: "\(name) (D step)", uniform: true)
      }, state: state, batch: batch)
    let objective = recipe.objective

    // The real half's forward and backward come first, so its activations are free before
    // the fake half runs (the order of PyTorch's DCGAN example); the gradients add up.
    let dReal = try critic(x, "real")
    if objective.discriminatorIsAutoencoder, g.shape(dReal) != g.shape(x) {
      throw KallimaError.invalidArgument(
        op: "recipe", message: "BEGAN needs an autoencoder D (output shaped like its input \(g.shape(x))); this D outputs \(g.shape(dReal))")
    }
    let realTerm = try objective.realTerm(context, x: x, dReal: dReal)
    let gradsReal = try gradients(g, b, discriminator, of: realTerm)
    let zShape = Shape([batch] + recipe.latentShape.dims)
    let z = try random.value(b, zShape, feed: "zD", salt: 0xD, name: "z (D step)", uniform: false)
    let fake = try recipe.generator(z, in: Scope(binder: b, store: generator, tag: "G"))
    let dFake = try critic(fake, "fake")
    let fakeTerm = try objective.fakeTerm(context, fake: fake, dFake: dFake)
    let gradsFake = try gradients(g, b, discriminator, of: fakeTerm)
    var terms = try objective.discriminatorTerms(
      context, x: x, dReal: dReal, fake: fake, dFake: dFake, real: realTerm, fakeTerm: fakeTerm)
    for r in recipe.regularizers where regularizerWeight > 0 {
      let (penalty, norm) = try r.penalty(context, x: x, dReal: dReal)
      // Lazy: weighted by the interval, and the logged norm too, so its average over all D
      // updates is the average over the regularised ones.
      let scale = { (v: Value, what: String) throws -> Value in
        regularizerWeight == 1 ? v : try g.value(.scale(regularizerWeight), [v], name: what)
      }
      terms.penalties.append(try scale(penalty, "lazy R1 penalty"))
      terms.extras["r1_grad_norm"] = try scale(norm, "lazy R1 norm")
    }
    let gradsPenalties = try terms.penalties.map { try gradients(g, b, discriminator, of: $0) }
    let grads = try sum(g, [gradsReal, gradsFake] + gradsPenalties)
    var loss = try g.value(.add, [realTerm, fakeTerm], name: "loss_D")
    for p in terms.penalties { loss = try g.value(.add, [loss, p], name: "loss_D") }
    try recipe.optimizerD.addUpdates(b, discriminator, grads: grads)
    for effect in terms.afterUpdate { try effect(discriminator, b) }
    try b.finish()
    var entries: [Int: Value] = [0: loss, 2: terms.dReal, 3: terms.dFake]
    for (i, name) in statistics.enumerated() { if let v = terms.extras[name] { entries[i] = v } }
    try accumulate(g, b, accumulator, entries)
    return (g, b)
  }

  static func buildGeneratorStep(
    _ recipe: GANRecipe, batch: Int, generator: ParameterStore, discriminator: ParameterStore, ema: ParameterStore?,
    random: RandomInputs, accumulator: Tensor
  ) throws -> (Graph, GraphBinder) {
    let g = Graph()
    let b = GraphBinder(graph: g)
    let zShape = Shape([batch] + recipe.latentShape.dims)
    let z = try random.value(b, zShape, feed: "zG", salt: 0x6, name: "z (G step)", uniform: false)
    let fake = try recipe.generator(z, in: Scope(binder: b, store: generator, tag: "G"))
    // G's parameters and buffers, before the optimiser adds its state to the store.
    let networkEntries = generator.entries
    let dFake = try recipe.discriminator(fake, in: discriminatorScope(recipe, b, discriminator, tag: "fake"))
    let loss = try recipe.objective.generatorLoss(g, fake: fake, dFake: dFake)
    try recipe.optimizerG.addUpdates(b, generator, grads: try gradients(g, b, generator, of: loss))
    if let ema, let config = recipe.ema {
      let params = b.parameters(of: generator)
      for e in networkEntries {
        guard let p = params[e.name] else { continue }
        let average = try b.parameter(ema, e.name, g.shape(p), .constant(0), trainable: e.trainable)
        if e.trainable {
          try g.add(.emaUpdate(beta: config.beta, startStep: config.start), [average, p], name: "ema \(e.name)")
        } else {
          try g.add(.assign, [average, p], name: "ema copy \(e.name)")
        }
      }
    }
    try b.finish()
    try accumulate(g, b, accumulator, [1: loss])
    return (g, b)
  }
}
