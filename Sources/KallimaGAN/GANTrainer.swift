import KallimaCore
import KallimaGraph

/// Where the latent vectors come from.
public enum NoiseSource: Sendable {
  /// Drawn on the device from Philox; each plan run takes the next block of its stream.
  case device(seed: UInt64)
  /// Fed by the caller through `zD` / `zG` (tests against reference implementations).
  case input
}

/// Where the real batches come from.
public enum RealSource {
  /// `GANTrainer.real`, filled by the caller (tests, benchmarks).
  case tensor
  /// A dataset already on the device, [M, C, H, W] in [−1, 1]: each D run gathers the next
  /// batch of a per-epoch shuffle (`DataOrder`), mirrored at random when `flip` is set.
  case dataset(Tensor, seed: UInt64, flip: Bool)
}

/// Averages of the training statistics since the last read.
public struct GANStatistics: Sendable, CustomStringConvertible {
  public var steps: Int
  public var lossD: Float
  public var lossG: Float
  /// Mean D(x) = sigmoid of the logits on real images.
  public var dReal: Float
  /// Mean D(G(z)) in the D step.
  public var dFake: Float
  public var description: String {
    "loss_D \(lossD) loss_G \(lossG) D(x) \(dReal) D(G(z)) \(dFake) over \(steps) steps"
  }
}

/// The unconditional GAN step of SPEC §1 with the non-saturating loss on logits, as two plans
/// that share parameter buffers:
/// - the D plan: D on the real batch and its backward, then fake = G(z) (no gradient into G),
///   D on the fake batch and its backward; loss_D = BCE(D(x), 1) + BCE(D(G(z)), 0), the two
///   gradients summed, Adam on D only;
/// - the G plan: a fresh z, D(G(z)), loss_G = BCE(D(G(z)), 1), backward through D into G,
///   Adam on G only (D's parameters are read, never written).
/// Batch norm runs in train mode in both (running statistics update as PyTorch's do).
/// Losses and mean D outputs accumulate on the device; `readStatistics` is the only read.
public final class GANTrainer {
  public let backend: Backend
  public let model: DCGAN
  public let batch: Int
  public let nCritic: Int
  public let generatorParameters: ParameterStore
  public let discriminatorParameters: ParameterStore
  /// The real batch, read by every D plan run; fill it (or keep it) on the device.
  public let real: Tensor
  /// Latent inputs when the noise source is `.input`.
  public private(set) var zD: Tensor?
  public private(set) var zG: Tensor?
  public let dPlan: Plan
  public let gPlan: Plan
  /// [lossD, lossG, D(x), D(G(z))] summed over steps since the last read.
  let accumulator: Tensor
  private var stepsSinceRead = 0
  public private(set) var steps = 0

  public init(
    backend: Backend, config: DCGANConfig, batch: Int, adam: AdamParams = AdamParams(), nCritic: Int = 1,
    seed: UInt64 = 0, noise: NoiseSource = .device(seed: 0), data: RealSource = .tensor
  ) throws {
    guard batch >= 2 else {
      throw KallimaError.invalidArgument(op: "GANTrainer", message: "batch must be at least 2 (batch norm needs it), got \(batch)")
    }
    guard nCritic >= 1 else {
      throw KallimaError.invalidArgument(op: "GANTrainer", message: "n_critic must be at least 1, got \(nCritic)")
    }
    self.backend = backend
    self.model = try DCGAN(config)
    self.batch = batch
    self.nCritic = nCritic
    generatorParameters = ParameterStore(backend: backend, seed: seed &* 2 &+ 1)
    discriminatorParameters = ParameterStore(backend: backend, seed: seed &* 2 &+ 2)
    let imageShape: Shape = [batch, config.channels, config.imageSize, config.imageSize]
    let zShape: Shape = [batch, config.nz, 1, 1]
    real = try backend.zeros(imageShape)
    accumulator = try backend.zeros([1, 4])
    if case .input = noise {
      zD = try backend.zeros(zShape)
      zG = try backend.zeros(zShape)
    }

    // Both stores are populated by building the D plan first (G, then D on real and fake).
    if case .dataset(let images, _, _) = data {
      let (_, c, h, w) = try images.shape.nchw("dataset", "images")
      guard (c, h, w) == (config.channels, config.imageSize, config.imageSize) else {
        throw KallimaError.shapeMismatch(
          op: "GANTrainer", message: "dataset images are \(c)x\(h)x\(w), the model makes \(config.channels)x\(config.imageSize)x\(config.imageSize)")
      }
    }
    let (dGraph, dBinder) = try GANTrainer.buildDiscriminatorStep(
      model: model, batch: batch, generator: generatorParameters, discriminator: discriminatorParameters,
      real: real, data: data, z: zD, noise: noise, adam: adam, accumulator: accumulator)
    dPlan = try Plan(graph: dGraph, backend: backend, bindings: dBinder.bindings)
    let (gGraph, gBinder) = try GANTrainer.buildGeneratorStep(
      model: model, batch: batch, generator: generatorParameters, discriminator: discriminatorParameters,
      z: zG, noise: noise, adam: adam, accumulator: accumulator)
    gPlan = try Plan(graph: gGraph, backend: backend, bindings: gBinder.bindings)
  }

  /// One training iteration: n_critic D updates, then one G update. Enqueues and returns.
  public func step() throws {
    for _ in 0..<nCritic { try dPlan.run() }
    try gPlan.run()
    steps += 1
    stepsSinceRead += 1
  }

  /// Continues from a checkpoint: the completed steps and each plan's run count (the Adam
  /// step, the random streams and the data position follow from them).
  public func restore(steps: Int, dRuns: UInt64, gRuns: UInt64) {
    self.steps = steps
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
    let stats = GANStatistics(steps: stepsSinceRead, lossD: sums[0] / d, lossG: sums[1] / g, dReal: sums[2] / d, dFake: sums[3] / d)
    stepsSinceRead = 0
    return stats
  }

  // MARK: Graph construction

  static func latent(_ g: Graph, _ b: GraphBinder, shape: Shape, z: Tensor?, noise: NoiseSource, salt: UInt64, name: String) -> Value {
    switch noise {
    case .device(let seed):
      return g.randomNormal(shape, seed: seed &* 0x2545_F491_4F6C_DD1D &+ salt, name: name)
    case .input:
      let v = g.input(shape, name: name)
      b.bind(v, z!)
      return v
    }
  }

  /// Mean of sigmoid(logits): PyTorch's example reports D(x) and D(G(z)) this way.
  static func meanProbability(_ g: Graph, _ logits: Value, batch: Int, name: String) throws -> Value {
    let p = try g.value(.activation(.sigmoid), [logits], name: name + " sigmoid")
    return try g.value(.reduceSum(alpha: 1 / Float(batch)), [p], name: name)
  }

  /// Accumulates scalars into the [1, 4] statistics vector (zeros where `entries` has none).
  static func accumulate(_ g: Graph, _ b: GraphBinder, _ accumulator: Tensor, _ entries: [Int: Value]) throws {
    let zero = g.constant(0, [1, 1], name: "0")
    let parts = try (0..<4).map { i in try entries[i].map { try g.value(.reshape([1, 1]), [$0]) } ?? zero }
    let row = try g.value(.concat, parts, name: "statistics")
    let acc = g.parameter([1, 4], name: "statistics accumulator")
    b.bind(acc, accumulator)
    try g.add(.accumulate, [acc, row], name: "accumulate statistics")
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

  /// Adam update nodes for each gradient; the optimiser state (m, v) lives in the store as
  /// "NAME.exp_avg" / "NAME.exp_avg_sq".
  public static func adamUpdates(
    _ g: Graph, _ b: GraphBinder, _ store: ParameterStore, grads: [String: Value], adam: AdamParams
  ) throws {
    let params = b.parameters(of: store)
    for entry in store.trainable {
      guard let grad = grads[entry.name], let p = params[entry.name] else { continue }
      let shape = g.shape(p)
      let m = try b.parameter(store, entry.name + ".exp_avg", shape, .constant(0), trainable: false)
      let v = try b.parameter(store, entry.name + ".exp_avg_sq", shape, .constant(0), trainable: false)
      try g.add(.adamUpdate(adam), [p, grad, m, v], name: "adam \(entry.name)")
    }
  }

  static func buildDiscriminatorStep(
    model: DCGAN, batch: Int, generator: ParameterStore, discriminator: ParameterStore, real: Tensor,
    data: RealSource, z: Tensor?, noise: NoiseSource, adam: AdamParams, accumulator: Tensor
  ) throws -> (Graph, GraphBinder) {
    let g = Graph()
    let b = GraphBinder(graph: g)
    let x: Value
    switch data {
    case .tensor:
      x = g.input(real.shape, name: "real")
      b.bind(x, real)
    case .dataset(let images, let seed, let flip):
      let source = g.input(images.shape, name: "dataset")
      b.bind(source, images)
      x = try g.value(
        .gatherImages(DataOrder(seed: seed, count: images.shape[0]), batch: batch, flip: flip), [source], name: "real")
    }
    // The real half's forward and backward come first, so its activations are free before
    // the fake half runs (the order of PyTorch's DCGAN example); the gradients add up.
    let dReal = try model.discriminator(b, discriminator, image: x, tag: "real")
    let ones = g.constant(1, g.shape(dReal), name: "label 1")
    let lossReal = try g.value(.bceLogits, [dReal, ones], name: "BCE(D(x), 1)")
    let gradsReal = try gradients(g, b, discriminator, of: lossReal)
    let zv = latent(g, b, shape: [batch, model.config.nz, 1, 1], z: z, noise: noise, salt: 0xD, name: "z (D step)")
    let fake = try model.generator(b, generator, z: zv)
    let dFake = try model.discriminator(b, discriminator, image: fake, tag: "fake")
    let zeros = g.constant(0, g.shape(dFake), name: "label 0")
    let lossFake = try g.value(.bceLogits, [dFake, zeros], name: "BCE(D(G(z)), 0)")
    let gradsFake = try gradients(g, b, discriminator, of: lossFake)
    var grads: [String: Value] = [:]
    for (name, gr) in gradsReal {
      grads[name] = try gradsFake[name].map { try g.value(.add, [gr, $0], name: "d loss_D / d \(name)") } ?? gr
    }
    for (name, gf) in gradsFake where grads[name] == nil { grads[name] = gf }
    let loss = try g.value(.add, [lossReal, lossFake], name: "loss_D")
    try adamUpdates(g, b, discriminator, grads: grads, adam: adam)
    try accumulate(
      g, b, accumulator,
      [
        0: loss, 2: try meanProbability(g, dReal, batch: batch, name: "D(x)"),
        3: try meanProbability(g, dFake, batch: batch, name: "D(G(z))"),
      ])
    return (g, b)
  }

  static func buildGeneratorStep(
    model: DCGAN, batch: Int, generator: ParameterStore, discriminator: ParameterStore, z: Tensor?,
    noise: NoiseSource, adam: AdamParams, accumulator: Tensor
  ) throws -> (Graph, GraphBinder) {
    let g = Graph()
    let b = GraphBinder(graph: g)
    let zv = latent(g, b, shape: [batch, model.config.nz, 1, 1], z: z, noise: noise, salt: 0x6, name: "z (G step)")
    let fake = try model.generator(b, generator, z: zv)
    let dFake = try model.discriminator(b, discriminator, image: fake, tag: "fake")
    let ones = g.constant(1, g.shape(dFake), name: "label 1")
    let loss = try g.value(.bceLogits, [dFake, ones], name: "loss_G")
    try adamUpdates(g, b, generator, grads: try gradients(g, b, generator, of: loss), adam: adam)
    try accumulate(g, b, accumulator, [1: loss])
    return (g, b)
  }
}
