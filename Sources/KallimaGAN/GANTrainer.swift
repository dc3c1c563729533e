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
/// A conditional recipe (`GANRecipe.conditioning`, SPEC §3) adds the condition rows: the D
/// plan gathers the real batch's rows with its images, feeds them to G and D, and (for the
/// matching-aware heads) scores the mismatched pairs (c̃, x) after the fake half, c̃ made on
/// the device by `mismatch_rows`; the G plan gathers rows of its own (GANTrainer+Conditional).
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
  /// A conditional recipe with the `.tensor` real source: the real batch's condition rows
  /// [batch, width] (read by the D plan) and the rows G is trained on [batch, width] (read
  /// by the G plan); fill them like `real`. With a dataset source the plans gather rows
  /// from the `conditions` tensor given to `init` instead, and these are nil.
  public let realConditions: Tensor?
  public let generatorConditions: Tensor?
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
  /// The statistics of the G step (averaged over G updates, the others over D updates).
  let generatorStatistics: Set<String>
  /// Statistics summed over steps since the last read.
  let accumulator: Tensor
  private var stepsSinceRead = 0
  /// With a streamed source: the stream, the byte window it uploads into, and the order.
  private let feed: (stream: BatchStream, window: Tensor, order: DataOrder, flip: Bool)?
  public private(set) var steps = 0
  /// Iterations added to the position of every random draw and of the data order, not to
  /// the optimisers' step counts: a Progressive GAN's phase trainers continue one noise
  /// stream and one pass over the data while each phase's Adam starts afresh. 0 by default.
  public var streamOffset: UInt64 = 0
  /// The ranks of a data-parallel job (`SingleProcess` unless given): each runs this trainer
  /// on its own `batch` images of a job batch of `batch · collective.size`.
  public let collective: Collective

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

  /// `conditions`: for a conditional recipe with a dataset source (`.dataset`, `.streamed`),
  /// one condition row per dataset image on the device, [M, width, 1, 1] in dataset order.
  /// Each D run gathers the rows of its real batch by the same order as the images; each G
  /// run draws rows from its own shuffle of the dataset's rows (so G is trained on the
  /// conditions' real distribution).
  ///
  /// `collective`: a data-parallel job's ranks. Every rank builds the same trainer with its
  /// own collective; `batch` is the rank's part of the job's batch. The ranks start from rank
  /// 0's weights, each draws its own slice of the job batch's data and noise (the values a
  /// single trainer of the whole batch would draw, split), the gradients are averaged before
  /// every optimiser step and the batch-norm running statistics after every plan, so all
  /// ranks hold the same weights and state throughout (`ranksThatDiffer` checks).
  ///
  /// `stores`: the tensors to train, when they exist already (a Progressive GAN hands each
  /// phase's trainer the stores of the phase before, so the layers both share keep their
  /// weights); tensors the recipe needs and the stores lack are made and initialised, and
  /// the EMA of a new G tensor starts from it. nil: new stores from `seed`.
  public init(
    backend: Backend, recipe: GANRecipe, batch: Int, seed: UInt64 = 0, noise: NoiseSource = .device(seed: 0),
    data: RealSource = .tensor, conditions: Tensor? = nil, collective: Collective = SingleProcess(), stores: Stores? = nil
  ) throws {
    guard batch >= 2 else {
      throw KallimaError.invalidArgument(op: "GANTrainer", message: "batch must be at least 2 (batch norm needs it), got \(batch)")
    }
    try recipe.validate()
    let ranks = collective.size
    self.collective = collective
    self.backend = backend
    self.recipe = recipe
    self.batch = batch
    if let stores {
      guard (stores.ema != nil) == (recipe.ema != nil) else {
        throw KallimaError.invalidArgument(op: "GANTrainer", message: "the stores \(stores.ema == nil ? "lack" : "have") an EMA store and the recipe \(recipe.ema == nil ? "has no" : "has an") EMA")
      }
      generatorParameters = stores.generator
      discriminatorParameters = stores.discriminator
      objectiveParameters = stores.objective
      emaParameters = stores.ema
    } else {
      generatorParameters = ParameterStore(backend: backend, seed: seed &* 2 &+ 1)
      discriminatorParameters = ParameterStore(backend: backend, seed: seed &* 2 &+ 2)
      objectiveParameters = ParameterStore(backend: backend, seed: seed &* 2 &+ 3)
      emaParameters = recipe.ema.map { _ in ParameterStore(backend: backend, seed: 0) }
    }
    let averaged = Set(emaParameters?.entries.map(\.name) ?? [])
    let dataShape = recipe.dataShape ?? recipe.imageShape
    let imageShape = Shape([batch] + dataShape.dims)
    real = try backend.zeros(imageShape)
    statisticNames = ["loss_D", "loss_G", "D(x)", "D(G(z))"] + recipe.objective.extraStatistics
      + recipe.regularizers.compactMap(\.statistic) + (recipe.conditioning?.statistics ?? []) + recipe.generatorStatistics
    generatorStatistics = Set(recipe.generatorStatistics)
    accumulator = try backend.zeros([1, statisticNames.count])

    if case .dataset(let images, _, _) = data {
      guard Array(images.shape.dims.dropFirst()) == dataShape.dims else {
        throw KallimaError.shapeMismatch(
          op: "GANTrainer", message: "dataset images are \(Shape(Array(images.shape.dims.dropFirst()))), the recipe takes \(dataShape)")
      }
    }
    if case .streamed(let stream, let count, let seed, let flip) = data {
      feed = (stream, try backend.makeByteTensor(imageShape), DataOrder(seed: seed, count: count), flip)
    } else {
      feed = nil
    }
    let conditionSource = try Self.conditionSource(recipe, backend: backend, batch: batch, data: data, conditions: conditions)
    if case .tensors(let r, let g) = conditionSource {
      (realConditions, generatorConditions) = (r, g)
    } else {
      (realConditions, generatorConditions) = (nil, nil)
    }
    let random = RandomInputs(backend: backend, noise: noise)
    // Both networks' stores are populated by building the D plan first (G, then D).
    let lazy = recipe.regularizers.first.map(\.every) ?? 1
    let (generator, discriminator, state) = (generatorParameters, discriminatorParameters, objectiveParameters)
    let (real, accumulator, statistics) = (real, accumulator, statisticNames)
    func discriminatorPlan(regularizerWeight: Float) throws -> Plan {
      let (graph, binder) = try Self.buildDiscriminatorStep(
        recipe, batch: batch, generator: generator, discriminator: discriminator, state: state, real: real, data: data,
        conditions: conditionSource, random: random, accumulator: accumulator, statistics: statistics,
        regularizerWeight: regularizerWeight, ranks: ranks)
      return try Plan(graph: graph, backend: backend, bindings: binder.bindings)
    }
    dPlan = try discriminatorPlan(regularizerWeight: lazy > 1 ? 0 : 1)
    regularizedDPlan = lazy > 1 ? try discriminatorPlan(regularizerWeight: Float(lazy)) : nil
    let (gGraph, gBinder) = try Self.buildGeneratorStep(
      recipe, batch: batch, generator: generatorParameters, discriminator: discriminatorParameters,
      ema: emaParameters, conditions: conditionSource, random: random, accumulator: accumulator, statistics: statistics,
      ranks: ranks)
    gPlan = try Plan(graph: gGraph, backend: backend, bindings: gBinder.bindings)
    for plan in [dPlan, regularizedDPlan, gPlan].compactMap({ $0 }) {
      plan.collective = collective
      plan.shard = Plan.Shard(rank: collective.rank, count: ranks)
    }
    feeds = random.feeds
    try synchronizeParameters()
    if let ema = emaParameters {
      // The average starts from G's initial weights (those it did not average already).
      for e in generatorParameters.entries where ema[e.name] != nil && !averaged.contains(e.name) {
        try backend.scale(e.tensor, alpha: 1, y: ema[e.name]!)
      }
    }
  }

  /// The tensors a trainer trains (see `init`'s `stores`).
  public struct Stores {
    public var generator: ParameterStore
    public var discriminator: ParameterStore
    public var objective: ParameterStore
    public var ema: ParameterStore?
    public init(generator: ParameterStore, discriminator: ParameterStore, objective: ParameterStore, ema: ParameterStore?) {
      (self.generator, self.discriminator, self.objective, self.ema) = (generator, discriminator, objective, ema)
    }
  }

  /// This trainer's stores, to hand to the next one.
  public var stores: Stores {
    Stores(generator: generatorParameters, discriminator: discriminatorParameters, objective: objectiveParameters, ema: emaParameters)
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
    plan.streamPosition = discriminatorUpdates &+ streamOffset &* UInt64(nCritic)
    plan.optimizerStep = Int(discriminatorUpdates) + 1
    if let feed {
      // This rank's slice of the job's batch (a stream made with a stride of the job's batch).
      let position = dPlan.shard.imagePosition(plan.streamPosition!, batch: batch)
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
    gPlan.streamPosition = gPlan.runs &+ streamOffset
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

  /// Averages since the last call (one blocking read; in a data-parallel job, over all
  /// ranks), then resets the accumulators.
  public func readStatistics() throws -> GANStatistics {
    var sums = try backend.read(accumulator)
    try collective.allreduceMean(&sums)
    try backend.fill(accumulator, value: 0)
    let d = Float(max(stepsSinceRead * nCritic, 1))
    let g = Float(max(stepsSinceRead, 1))
    var stats = GANStatistics(
      steps: stepsSinceRead, lossD: sums[0] / d, lossG: sums[1] / g, dReal: sums[2] / d, dFake: sums[3] / d)
    for (i, name) in statisticNames.enumerated().dropFirst(4) { stats.extras[name] = sums[i] / (generatorStatistics.contains(name) ? g : d) }
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

    /// The draws of the layers (`Scope.randomNormal`) in one step's plan: the device stream of
    /// the noise seed, the layer's seed, its name and the step; with `.input`, a feed named
    /// "STEP NAME" (e.g. "G ca_net.ε").
    func layerDraws(_ b: GraphBinder, step: String) -> Scope.RandomDraw {
      { [self] shape, name, seed in
        try value(
          b, shape, feed: "\(step) \(name)", salt: Philox.seed(seed, mixing: step + name), name: "\(name) (\(step) step)",
          uniform: false)
      }
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

  /// D bound in train mode, seeing `condition` (rows [N, width]) when the recipe is conditional.
  static func discriminatorScope(
    _ recipe: GANRecipe, _ b: GraphBinder, _ store: ParameterStore, tag: String, condition: Value? = nil, ranks: Int
  ) -> Scope {
    Scope(
      binder: b, store: store, tag: "D(\(tag))",
      options: BindOptions(mode: .train, spectralNorm: recipe.spectralNorm, synchronizedRanks: synchronizedRanks(recipe, ranks)),
      conditions: condition.map { [conditionKey: $0] } ?? [:])
  }

  /// G bound in train mode, seeing `condition`, its layers' random draws from `random`.
  static func generatorScope(
    _ recipe: GANRecipe, _ b: GraphBinder, _ store: ParameterStore, condition: Value?, random: @escaping Scope.RandomDraw, ranks: Int
  ) -> Scope {
    Scope(
      binder: b, store: store, tag: "G", options: BindOptions(mode: .train, synchronizedRanks: synchronizedRanks(recipe, ranks)),
      conditions: condition.map { [conditionKey: $0] } ?? [:], random: random)
  }

  /// What D is conditioned on for the rows `c`: the rows, or the recipe's
  /// `discriminatorCondition` of them (bound in G's store), detached.
  static func discriminatorCondition(
    _ recipe: GANRecipe, _ b: GraphBinder, _ generator: ParameterStore, _ c: Value?, ranks: Int
  ) throws -> Value? {
    guard let c, let layer = recipe.discriminatorCondition else { return c }
    let scope = Scope(
      binder: b, store: generator, tag: "G", options: BindOptions(mode: .train, synchronizedRanks: synchronizedRanks(recipe, ranks)),
      conditions: [conditionKey: c])
    return try b.graph.value(.detach, [try layer(c, in: scope)], name: "D's condition (detached)")
  }

  /// The ranks batch norm takes its statistics over: the job's, with synchronised batch norm.
  static func synchronizedRanks(_ recipe: GANRecipe, _ ranks: Int) -> Int? {
    recipe.synchronizedBatchNorm && ranks > 1 ? ranks : nil
  }

  /// The adversarial score: column 0 of a conditional head's [N, k] scores, or D's output.
  static func adversarial(_ g: Graph, _ recipe: GANRecipe, _ scores: Value) throws -> Value {
    guard recipe.conditioning != nil, g.shape(scores)[1] > 1 else { return scores }
    return try g.value(.slice(start: 0, count: 1), [scores], name: "adversarial score")
  }

  static func buildDiscriminatorStep(
    _ recipe: GANRecipe, batch: Int, generator: ParameterStore, discriminator: ParameterStore, state: ParameterStore,
    real: Tensor, data: RealSource, conditions: ConditionSource, random: RandomInputs, accumulator: Tensor,
    statistics: [String], regularizerWeight: Float, ranks: Int
  ) throws -> (Graph, GraphBinder) {
    let g = Graph()
    let b = GraphBinder(graph: g)
    var x: Value
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
    if let layer = recipe.realInput {
      x = try layer(x, in: Scope(binder: b, store: discriminator, tag: "D(real input)", options: BindOptions(mode: .train)))
    }
    // The real batch's condition rows (conditional recipes), gathered in the images' order.
    let c = try conditions.rows(b, batch: batch, step: .discriminator)
    // What D reads beside the image: the rows, or (StackGAN) μ of them through G's layer.
    let cD = try discriminatorCondition(recipe, b, generator, c, ranks: ranks)
    let pair = { (image: Value, condition: Value?, tag: String) throws -> Value in
      try recipe.discriminator(
        image, in: discriminatorScope(recipe, b, discriminator, tag: tag, condition: condition, ranks: ranks))
    }
    // D as the objective sees it: the adversarial score (column 0 of a conditional head's
    // scores) of an image paired with the real batch's conditions.
    let critic = { (image: Value, tag: String) throws -> Value in
      try adversarial(g, recipe, try pair(image, cD, tag))
    }
    let context = DStepContext(
      graph: g, binder: b, critic: critic,
      uniform: { shape, name, salt in
        try random.value(b, shape, feed: name, salt: salt, name: "\(name) (D step)", uniform: true)
      }, state: state, batch: batch, ranks: ranks)
    let objective = recipe.objective

    // The real half's forward and backward come first, so its activations are free before
    // the fake half runs (the order of PyTorch's DCGAN example); the gradients add up.
    let realScores = try pair(x, cD, "real")
    let dReal = try adversarial(g, recipe, realScores)
    if objective.discriminatorIsAutoencoder, g.shape(dReal) != g.shape(x) {
      throw KallimaError.invalidArgument(
        op: "recipe", message: "BEGAN needs an autoencoder D (output shaped like its input \(g.shape(x))); this D outputs \(g.shape(dReal))")
    }
    var realTerm = try objective.realTerm(context, x: x, dReal: dReal)
    var conditional = ConditionalTerms()
    if let conditioning = recipe.conditioning, let c {
      realTerm = try conditioning.realPairTerms(
        context, objective, scores: realScores, condition: c, adversarial: realTerm, into: &conditional)
    }
    let gradsReal = try gradients(g, b, discriminator, of: realTerm)
    let zShape = Shape([batch] + recipe.latentShape.dims)
    let z = try random.value(b, zShape, feed: "zD", salt: 0xD, name: "z (D step)", uniform: false)
    let fake = try recipe.generator(
      z, in: generatorScope(recipe, b, generator, condition: c, random: random.layerDraws(b, step: "D"), ranks: ranks))
    let fakeScores = try pair(fake, cD, "fake")
    let dFake = try adversarial(g, recipe, fakeScores)
    var fakeTerm = try objective.fakeTerm(context, fake: fake, dFake: dFake)
    if let conditioning = recipe.conditioning, let c {
      fakeTerm = try conditioning.fakePairTerms(
        context, objective, fake: fake, scores: fakeScores, condition: c, adversarial: fakeTerm)
    }
    let gradsFake = try gradients(g, b, discriminator, of: fakeTerm)
    // The mismatched pairs (c̃, x) → fake of the matching-aware heads (SPEC §3, case 3).
    var gradsMismatched: [[String: Value]] = []
    if let conditioning = recipe.conditioning, conditioning.head.usesMismatchedPairs, let cD {
      let wrong = try g.value(.mismatchRows, [cD], name: "c̃ (mismatched conditions)")
      let term = try conditioning.mismatchedPairTerm(
        context, objective, scores: try pair(x, wrong, "mismatched"), into: &conditional)
      gradsMismatched.append(try gradients(g, b, discriminator, of: term))
      conditional.losses.append(term)
    }
    var terms = try objective.discriminatorTerms(
      context, x: x, dReal: dReal, fake: fake, dFake: dFake, real: realTerm, fakeTerm: fakeTerm)
    terms.extras.merge(conditional.statistics) { a, _ in a }
    for r in recipe.regularizers where regularizerWeight > 0 {
      let (penalty, norm) = try r.penalty(context, x: x, dReal: dReal)
      // Lazy: weighted by the interval, and the logged norm too, so its average over all D
      // updates is the average over the regularised ones.
      let scale = { (v: Value, what: String) throws -> Value in
        regularizerWeight == 1 ? v : try g.value(.scale(regularizerWeight), [v], name: what)
      }
      terms.penalties.append(try scale(penalty, "lazy penalty"))
      if let name = r.statistic, let norm { terms.extras[name] = try scale(norm, "lazy \(name)") }
    }
    let gradsPenalties = try terms.penalties.map { try gradients(g, b, discriminator, of: $0) }
    let grads = try DataParallel.averaged(
      g, try sum(g, [gradsReal, gradsFake] + gradsMismatched + gradsPenalties), ranks: ranks, what: "D gradients")
    var loss = try g.value(.add, [realTerm, fakeTerm], name: "loss_D")
    for p in conditional.losses + terms.penalties { loss = try g.value(.add, [loss, p], name: "loss_D") }
    try recipe.optimizerD.addUpdates(b, discriminator, grads: grads)
    for effect in terms.afterUpdate { try effect(discriminator, b) }
    try b.finish()
    try DataParallel.averageRunningStatistics(g, ranks: ranks)
    var entries: [Int: Value] = [0: loss, 2: terms.dReal, 3: terms.dFake]
    for (i, name) in statistics.enumerated() { if let v = terms.extras[name] { entries[i] = v } }
    try accumulate(g, b, accumulator, entries)
    return (g, b)
  }

  static func buildGeneratorStep(
    _ recipe: GANRecipe, batch: Int, generator: ParameterStore, discriminator: ParameterStore, ema: ParameterStore?,
    conditions: ConditionSource, random: RandomInputs, accumulator: Tensor, statistics: [String], ranks: Int
  ) throws -> (Graph, GraphBinder) {
    let g = Graph()
    let b = GraphBinder(graph: g)
    let zShape = Shape([batch] + recipe.latentShape.dims)
    let z = try random.value(b, zShape, feed: "zG", salt: 0x6, name: "z (G step)", uniform: false)
    let c = try conditions.rows(b, batch: batch, step: .generator)
    /// G's loss on G(z, condition) (every term the head trains G on).
    func generatorLoss(_ z: Value, _ condition: Value?, tag: String) throws -> Value {
      let draws = random.layerDraws(b, step: tag == "fake" ? "G" : "G " + tag)
      let fake = try recipe.generator(
        z, in: generatorScope(recipe, b, generator, condition: condition, random: draws, ranks: ranks))
      let dCondition = try discriminatorCondition(recipe, b, generator, condition, ranks: ranks)
      let scores = try recipe.discriminator(
        fake, in: discriminatorScope(recipe, b, discriminator, tag: tag, condition: dCondition, ranks: ranks))
      let loss = try recipe.objective.generatorLoss(g, fake: fake, dFake: try adversarial(g, recipe, scores))
      guard let conditioning = recipe.conditioning, let condition else { return loss }
      return try conditioning.generatorTerms(g, recipe.objective, scores: scores, condition: condition, adversarial: loss)
    }
    var loss = try generatorLoss(z, c, tag: "fake")
    // Terms G's layers added (StackGAN's KL divergence of the conditioning augmentation).
    for aux in b.auxiliaryLosses {
      loss = try g.value(.add, [loss, try g.value(.scale(aux.weight), [aux.value], name: "\(aux.weight)·\(aux.name)")], name: "loss_G")
    }
    // G's parameters and buffers, before the optimiser adds its state to the store.
    let networkEntries = generator.entries
    if let weight = recipe.conditioning?.interpolationWeight, let c {
      // GAN-INT (Reed et al. 2016): G also learns from conditions halfway between two of the
      // batch's (rows that differ), where no real pair exists.
      let wrong = try g.value(.mismatchRows, [c], name: "c̃ (G step)")
      let between = try g.value(.scale(0.5), [try g.value(.add, [c, wrong], name: "c + c̃")], name: "½(c + c̃)")
      let zInt = try random.value(b, zShape, feed: "zInt", salt: 0x17, name: "z (GAN-INT)", uniform: false)
      let term = try g.value(.scale(weight), [try generatorLoss(zInt, between, tag: "interpolated")], name: "GAN-INT term")
      loss = try g.value(.add, [loss, term], name: "loss_G")
    }
    let grads = try DataParallel.averaged(g, try gradients(g, b, generator, of: loss), ranks: ranks, what: "G gradients")
    try recipe.optimizerG.addUpdates(b, generator, grads: grads)
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
    try DataParallel.averageRunningStatistics(g, ranks: ranks)
    var entries = [1: loss]
    for (i, name) in statistics.enumerated() where recipe.generatorStatistics.contains(name) {
      // The first G forward's term (GAN-INT's second forward adds its own, not in the loss).
      if let aux = b.auxiliaryLosses.first(where: { $0.name == name }) { entries[i] = aux.value }
    }
    try accumulate(g, b, accumulator, entries)
    return (g, b)
  }
}
