import KallimaCore
import KallimaGraph
import KallimaNN

/// An image-to-image method (SPEC §4–5): its networks, what one training iteration does,
/// and which network translates. `Pix2Pix`, `CycleGAN` and `StarGAN` conform; each builds
/// its phases into graphs once, and `TranslationTrainer` runs them. A method's losses follow
/// its reference implementation line by line (the doc comments cite them).
public protocol TranslationMethod {
  /// "pix2pix", "cyclegan", "stargan".
  var name: String { get }
  /// One line for logs: networks, losses, weights, optimisers.
  var summary: String { get }
  /// The networks' names, each with its own parameter store, as the reference's checkpoint
  /// files ("G", "D"; "G_A", "G_B", "D_A", "D_B").
  var networks: [String] { get }
  /// One training sample's shapes.
  var shapes: TranslationShapes { get }
  /// The phases of an iteration, each one plan: a phase runs on iterations i with
  /// (i + 1) % every == 0, in order (StarGAN: D every iteration, G every n_critic-th).
  var phases: [TranslationPhase] { get }
  /// The statistics the phases report, in accumulator order.
  var statistics: [String] { get }
  /// The learning-rate schedule over iterations.
  var schedule: LearningRateSchedule { get }
  /// Builds phase `phase`'s graph; returns the statistics it reports, by name (one value
  /// each, averaged over the phase's runs when read).
  func build(phase: Int, _ context: TranslationContext) throws -> [String: Value]
  /// The translating network from `direction` ("AtoB"/"BtoA" for CycleGAN; pix2pix and
  /// StarGAN have one), its store's name, and whether it reads target labels.
  func translator(_ direction: TranslationDirection) throws -> (network: any Layer, store: String, labels: Int?)
  /// Rejects settings that cannot train as intended.
  func validate() throws
  /// Device state besides the networks, each its own store (CycleGAN's "pools").
  var stateStores: [String] { get }
}

/// Which way a CycleGAN translates: G_A maps A to B, G_B maps B to A.
public enum TranslationDirection: String, Sendable, CaseIterable {
  case aToB = "AtoB"
  case bToA = "BtoA"
}

/// One plan of an iteration.
public struct TranslationPhase: Sendable {
  public var name: String
  public var every: Int
  public init(_ name: String, every: Int = 1) {
    self.name = name
    self.every = every
  }
}

/// What a method's graph is built from: the batch, the networks' stores, random draws.
public struct TranslationContext {
  public let graph: Graph
  public let binder: GraphBinder
  public let batch: TranslationBatch
  public let stores: [String: ParameterStore]
  /// Batch size.
  public let count: Int
  let random: GANTrainer.RandomInputs
  /// The ranks of a data-parallel job (1: a single process), and the ranks batch norm takes
  /// its statistics over (nil: each rank's own batch).
  var ranks = 1
  var synchronizedRanks: Int?

  /// Network `name` bound in train mode (batch statistics, dropout on), nodes tagged `tag`.
  public func scope(_ name: String, tag: String, conditions: [String: Value] = [:]) throws -> Scope {
    guard let store = stores[name] else {
      throw KallimaError.invalidArgument(op: "translation", message: "no network named \(name)")
    }
    return Scope(
      binder: binder, store: store, tag: tag, options: BindOptions(mode: .train, synchronizedRanks: synchronizedRanks),
      conditions: conditions)
  }

  /// Gradients of `loss` for every trainable parameter of network `name` used in the graph.
  public func gradients(of loss: Value, for name: String) throws -> [String: Value] {
    try GANTrainer.gradients(graph, binder, stores[name]!, of: loss)
  }

  /// The optimiser's update of network `name` by `grads`.
  public func update(_ name: String, _ optimizer: Optimizer, _ grads: [String: Value]) throws {
    // In a data-parallel job, the gradients' mean over the ranks (one bucket per network).
    let averaged = try DataParallel.averaged(graph, grads, ranks: ranks, what: "\(name) gradients")
    try optimizer.addUpdates(binder, stores[name]!, grads: averaged)
  }

  /// U[0, 1) of `shape` on the device (or a caller's feed named `name` for fixtures).
  public func uniform(_ shape: Shape, name: String, salt: UInt64) throws -> Value {
    try random.value(binder, shape, feed: name, salt: salt, name: name, uniform: true)
  }

  /// a + b + …
  public func sum(_ terms: [Value], name: String) throws -> Value {
    var total = terms[0]
    for t in terms.dropFirst() { total = try graph.value(.add, [total, t], name: name) }
    return total
  }

  /// s·v.
  public func scaled(_ v: Value, _ s: Float, name: String) throws -> Value {
    s == 1 ? v : try graph.value(.scale(s), [v], name: name)
  }

  /// mean |a − b| (torch.nn.L1Loss).
  public func l1(_ a: Value, _ b: Value, name: String) throws -> Value { try graph.value(.l1, [a, b], name: name) }

  /// The GAN loss of scores `d` against the label `real` (the reference's `GANLoss`:
  /// vanilla = BCE with logits, lsgan = MSE to 1/0, wgangp = ∓mean), averaged over every
  /// patch of a PatchGAN map.
  public func ganLoss(_ objective: Objective, _ d: Value, real: Bool, name: String) throws -> Value {
    let g = graph
    switch objective {
    case .nonSaturating:
      return try g.value(.bceLogits, [d, g.constant(real ? 1 : 0, g.shape(d), name: "label")], name: name)
    case .lsgan:
      return try g.value(.mse, [d, g.constant(real ? 1 : 0, g.shape(d), name: "label")], name: name)
    case .wgan, .wganGP:
      return try g.mean(d, alpha: real ? -1 : 1, name: name)
    default:
      throw KallimaError.invalidArgument(
        op: "translation", message: "the translation methods train with vanilla (ns), lsgan or wgan-gp, not \(objective.name)")
    }
  }
}

extension Objective {
  /// The objectives the image-to-image methods take (the reference's `--gan_mode`).
  public static let translationChoices = ["ns", "lsgan", "wgan-gp"]
}
