import KallimaCore
import KallimaGraph
import KallimaNN

/// A GAN method = networks + an objective + optimisers (+ regularisers, schedule, EMA,
/// spectral norm): everything `GANTrainer` needs besides the data. The trainer does not know
/// which objective or architecture it has.
public struct GANRecipe {
  /// G: latent [N] + latentShape -> image [N] + imageShape.
  public var generator: any Layer
  /// D: image -> scores (any shape per sample), or an image for autoencoder objectives.
  public var discriminator: any Layer
  /// One sample's latent shape, e.g. [nz, 1, 1]; z ~ N(0, I).
  public var latentShape: Shape
  /// One image's shape [C, H, W].
  public var imageShape: Shape
  public var objective: Objective
  public var regularizers: [Regularizer]
  public var optimizerD: Optimizer
  public var optimizerG: Optimizer
  /// D updates per G update.
  public var nCritic: Int
  public var schedule: LearningRateSchedule
  public var ema: EMAConfig?
  /// Spectral normalisation of every D weight (torch.nn.utils.spectral_norm semantics).
  public var spectralNorm: Bool
  /// In a data-parallel job, batch norm's statistics over the job's whole batch
  /// (`torch.nn.SyncBatchNorm`), so the ranks train the model one process of the whole
  /// batch would; false: each rank normalises by its own part (cheaper: no traffic in the
  /// forward pass). No effect in a single process.
  public var synchronizedBatchNorm = false
  /// The sizes (nz, widths, channels, image side) the networks were made from, when they
  /// come from an `Architecture` (checkpoints record them).
  public var sizes: DCGANConfig?
  /// A conditional GAN (SPEC §3): G and D read the condition rows from their scope
  /// (`conditionKey`), and D is trained on the pairs its head asks for. nil: unconditional.
  public var conditioning: Conditioning?
  /// A layer every real batch passes through before D sees it (and before a penalty
  /// differentiates D at it), bound in D's store in train mode: Progressive GAN pools the
  /// full-size images down to the resolution being trained and fades them as G's output
  /// fades. nil: D sees the data as it is.
  public var realInput: (any Layer)?
  /// One real image's shape as the data gives it, when `realInput` changes it; nil: the
  /// data is `imageShape`.
  public var dataShape: Shape?
  /// A layer of G's (bound in G's store) that maps the condition rows to what D is
  /// conditioned on, its output detached in both steps: StackGAN's D scores pairs with μ of
  /// G's conditioning augmentation, not with the raw text embedding. nil: D reads the rows.
  public var discriminatorCondition: (any Layer)?
  /// Loss terms G's layers add (`GraphBinder.addLoss`, by name) to log as statistics of the
  /// G step, averaged over G updates: StackGAN's "ca_kl".
  public var generatorStatistics: [String] = []

  public init(
    generator: any Layer, discriminator: any Layer, latentShape: Shape, imageShape: Shape,
    objective: Objective = .nonSaturating, regularizers: [Regularizer] = [],
    optimizerD: Optimizer = .adam(AdamParams()), optimizerG: Optimizer = .adam(AdamParams()), nCritic: Int = 1,
    schedule: LearningRateSchedule = .constant, ema: EMAConfig? = nil, spectralNorm: Bool = false,
    sizes: DCGANConfig? = nil, conditioning: Conditioning? = nil
  ) {
    self.generator = generator
    self.discriminator = discriminator
    self.latentShape = latentShape
    self.imageShape = imageShape
    self.objective = objective
    self.regularizers = regularizers
    self.optimizerD = optimizerD
    self.optimizerG = optimizerG
    self.nCritic = nCritic
    self.schedule = schedule
    self.ema = ema
    self.spectralNorm = spectralNorm
    self.sizes = sizes
    self.conditioning = conditioning
  }

  /// DCGAN's networks (SPEC §1) with any objective and optimisers; Adam 2e-4 (0.5, 0.999)
  /// for both by default, as the paper.
  public static func dcgan(
    _ config: DCGANConfig, objective: Objective = .nonSaturating, optimizer: Optimizer = .adam(AdamParams()),
    nCritic: Int = 1
  ) throws -> GANRecipe {
    let model = try DCGAN(config)
    return GANRecipe(
      generator: model.generatorNetwork, discriminator: model.discriminatorNetwork,
      latentShape: [config.nz, 1, 1], imageShape: [config.channels, config.imageSize, config.imageSize],
      objective: objective, optimizerD: optimizer, optimizerG: optimizer, nCritic: nCritic, sizes: config)
  }

  /// One line for logs: "hinge, D adam lr 0.0004, G adam lr 0.0001, n_critic 1, spectral norm".
  public var summary: String {
    func describe(_ o: Optimizer) -> String {
      switch o {
      case .adam(let p): return "adam lr \(p.lr) betas (\(p.beta1), \(p.beta2))"
      case .rmsprop(let p): return "rmsprop lr \(p.lr)" + (p.momentum > 0 ? " momentum \(p.momentum)" : "")
      case .sgd(let p): return "sgd lr \(p.lr)" + (p.momentum > 0 ? " momentum \(p.momentum)" : "")
      }
    }
    var parts = (conditioning.map { ["conditional (\($0.head.rawValue) D)"] } ?? []) + [objective.name, "D \(describe(optimizerD))", "G \(describe(optimizerG))", "n_critic \(nCritic)"]
    parts += regularizers.map { r in
      switch r {
      case .r1(let gamma, let every): return every > 1 ? "R1 γ \(gamma) every \(every)" : "R1 γ \(gamma)"
      case .drift(let epsilon): return "drift ε \(epsilon)"
      }
    }
    if spectralNorm { parts.append("spectral norm") }
    if synchronizedBatchNorm { parts.append("synchronized batch norm") }
    if let ema { parts.append("EMA β \(ema.beta) from iteration \(ema.start)") }
    if case .linearDecay(let keep, let decay) = schedule { parts.append("lr decay after \(keep) over \(decay)") }
    return parts.joined(separator: ", ")
  }

  /// Rejects combinations that cannot train as intended, with what to do instead.
  public func validate() throws {
    func fail(_ message: String) -> KallimaError { .invalidArgument(op: "recipe", message: message) }
    guard nCritic >= 1 else { throw fail("n_critic must be at least 1, got \(nCritic)") }
    if case .wgan = objective, spectralNorm {
      throw fail("WGAN weight clipping and spectral normalisation both constrain D's Lipschitz constant; use --loss wgan-gp or hinge with --spectral-norm, or wgan without it")
    }
    if objective.discriminatorIsAutoencoder, !regularizers.isEmpty {
      throw fail("R1 and the drift term need a D that scores images; BEGAN's D reconstructs them")
    }
    if let r = regularizers.first(where: { $0.every < 1 }) {
      throw fail("a lazy regulariser needs every >= 1, got \(r.every)")
    }
    if Set(regularizers.map(\.every)).count > 1 {
      throw fail("regularisers with different intervals are not supported; give them one --r1-every")
    }
    if let ema, !(0..<1).contains(ema.beta) || ema.start < 0 {
      throw fail("EMA beta must be in [0, 1) and its start step non-negative, got \(ema.beta), \(ema.start)")
    }
    try conditioning?.validate(objective: objective)
    if case .linearDecay(let keep, let decay) = schedule, keep < 0 || decay < 0 {
      throw fail("learning-rate decay needs non-negative keep/decay iteration counts, got \(keep), \(decay)")
    }
  }
}
