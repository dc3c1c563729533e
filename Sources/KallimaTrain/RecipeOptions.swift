import KallimaCore
import KallimaData
import KallimaGAN

/// The method a run trains (`kallima train --loss … --optimizer …`), recorded in checkpoint
/// metadata so `--resume` rebuilds the same recipe. Unset values take the reference
/// defaults of the chosen loss (SPEC §7): WGAN: RMSprop 5e-5, clip 0.01, 5 critic steps;
/// WGAN-GP: Adam 1e-4 (0.5, 0.9), λ 10, 5 critic steps, D without batch norm; DRAGAN: λ 10,
/// D without batch norm; BEGAN: an autoencoder D, Adam 1e-4; the others Adam 2e-4
/// (0.5, 0.999).
public struct RecipeOptions: Codable, Equatable, Sendable {
  public var arch = "dcgan"
  public var loss = "ns"
  /// λ of WGAN-GP / DRAGAN.
  public var penaltyWeight: Float?
  /// R1's γ (nil: no R1).
  public var r1: Float?
  /// Lazy R1: the penalty on every N-th D update only, weighted by N (StyleGAN2 uses 16).
  public var r1Every = 1
  public var spectralNorm = false
  /// EMA β of G's weights (nil: no EMA), and the iteration it starts averaging at.
  public var ema: Double?
  public var emaStart = 0
  /// adam, rmsprop or sgd (nil: the loss's default).
  public var optimizer: String?
  public var lrG: Double?
  public var lrD: Double?
  public var beta1: Double?
  public var beta2: Double?
  /// SGD/RMSprop momentum.
  public var momentum: Double = 0
  public var nCritic: Int?
  /// Iterations at full learning rate before the linear decay to the end of the run.
  public var lrDecayStart: Int?
  /// The iteration the decay ends at (the run's --steps when it started).
  public var lrDecayEnd: Int?
  /// D's normalisation (batch or none; nil: the loss's default).
  public var dNorm: String?
  /// A conditional GAN (SPEC §3): the condition (class, tags, text or embedding; nil:
  /// unconditional) and D's head (concat, matching, two-head, projection, acgan; nil:
  /// matching, the matching-aware D of GAN-CLS).
  public var condition: String?
  public var dHead: String?
  /// Features of the condition's learned embedding in G and D (nil: 128, Reed et al.'s).
  public var conditionDim: Int?
  /// GAN-INT's weight (nil: off).
  public var ganInt: Float?
  /// AC-GAN's λ for the classification loss (nil: 1).
  public var classWeight: Float?
  /// Class-conditional batch norm in the ResNet G (nil: on for --arch resnet with classes).
  public var conditionalBatchNorm: Bool?
  /// Batch-norm statistics over a data-parallel job's whole batch (`GANRecipe.synchronizedBatchNorm`).
  public var synchronizedBatchNorm = false
  /// StackGAN (`--arch stackgan`): the stage (nil: 1); in stage II, stage I's G width (its
  /// `GF_DIM`) and the residual blocks (nil: 4, the reference's default); the KL term's
  /// weight (nil: 2).
  public var stage: Int?
  /// The paper's conditioning augmentation (μ and log σ² linear in the embedding) instead of
  /// the reference code's, which puts a ReLU before the split (nil or false: the code's).
  public var paperCA: Bool?
  /// The standard deviation of the conditioning augmentation's initial weights (nil: the
  /// reference's 0.02; see `StackGAN.Config.conditionInitStd`).
  public var caInit: Float?
  public var stageOneWidth: Int?
  public var residualBlocks: Int?
  public var klWeight: Float?

  public init() {}

  /// Every key is optional, so checkpoints written before a field existed still load (with
  /// that field's default).
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    arch = try c.decodeIfPresent(String.self, forKey: .arch) ?? arch
    loss = try c.decodeIfPresent(String.self, forKey: .loss) ?? loss
    penaltyWeight = try c.decodeIfPresent(Float.self, forKey: .penaltyWeight)
    r1 = try c.decodeIfPresent(Float.self, forKey: .r1)
    r1Every = try c.decodeIfPresent(Int.self, forKey: .r1Every) ?? r1Every
    spectralNorm = try c.decodeIfPresent(Bool.self, forKey: .spectralNorm) ?? spectralNorm
    ema = try c.decodeIfPresent(Double.self, forKey: .ema)
    emaStart = try c.decodeIfPresent(Int.self, forKey: .emaStart) ?? emaStart
    optimizer = try c.decodeIfPresent(String.self, forKey: .optimizer)
    lrG = try c.decodeIfPresent(Double.self, forKey: .lrG)
    lrD = try c.decodeIfPresent(Double.self, forKey: .lrD)
    beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1)
    beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2)
    momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? momentum
    nCritic = try c.decodeIfPresent(Int.self, forKey: .nCritic)
    lrDecayStart = try c.decodeIfPresent(Int.self, forKey: .lrDecayStart)
    lrDecayEnd = try c.decodeIfPresent(Int.self, forKey: .lrDecayEnd)
    dNorm = try c.decodeIfPresent(String.self, forKey: .dNorm)
    condition = try c.decodeIfPresent(String.self, forKey: .condition)
    dHead = try c.decodeIfPresent(String.self, forKey: .dHead)
    conditionDim = try c.decodeIfPresent(Int.self, forKey: .conditionDim)
    ganInt = try c.decodeIfPresent(Float.self, forKey: .ganInt)
    classWeight = try c.decodeIfPresent(Float.self, forKey: .classWeight)
    conditionalBatchNorm = try c.decodeIfPresent(Bool.self, forKey: .conditionalBatchNorm)
    synchronizedBatchNorm = try c.decodeIfPresent(Bool.self, forKey: .synchronizedBatchNorm) ?? synchronizedBatchNorm
    stage = try c.decodeIfPresent(Int.self, forKey: .stage)
    paperCA = try c.decodeIfPresent(Bool.self, forKey: .paperCA)
    caInit = try c.decodeIfPresent(Float.self, forKey: .caInit)
    stageOneWidth = try c.decodeIfPresent(Int.self, forKey: .stageOneWidth)
    residualBlocks = try c.decodeIfPresent(Int.self, forKey: .residualBlocks)
    klWeight = try c.decodeIfPresent(Float.self, forKey: .klWeight)
  }

  /// The architectures a recipe (and a checkpoint of `kallima train`) names: the families of
  /// `Architecture` and StackGAN. (Progressive GAN runs and checkpoints are its own.)
  public static let architectures = Architecture.allCases.map(\.rawValue) + ["stackgan"]

  /// Whether this is a StackGAN recipe.
  public var isStackGAN: Bool { arch == "stackgan" }

  /// StackGAN's sizes from DCGAN-shaped ones (nz, ngf = GF_DIM, ndf = DF_DIM, channels, the
  /// stage's image side) and the condition's width.
  public func stackGAN(_ base: DCGANConfig, textDimension: Int) throws -> StackGAN {
    try StackGAN(
      StackGAN.Config(
        stage: stage ?? 1, side: base.imageSize, channels: base.channels, textDimension: textDimension,
        conditionDimension: conditionDim ?? 128, nz: base.nz, gf: base.ngf, df: base.ndf, stageOneGF: stageOneWidth ?? base.ngf,
        residualBlocks: residualBlocks ?? 4, klWeight: klWeight ?? 2, reluBeforeSplit: !(paperCA ?? false),
        conditionInitStd: caInit ?? 0.02))
  }

  /// G for sampling from a checkpoint of this recipe: the network, one sample's latent shape,
  /// and the sizes it draws at (`config`'s, or for `stage` 1 of a StackGAN stage II, its
  /// frozen stage I under "STAGE1_G.": a quarter of the side).
  public func generator(
    _ config: DCGANConfig, conditions: ConditionVocabulary?, stage: Int? = nil
  ) throws -> (network: any Layer, latentShape: Shape, config: DCGANConfig) {
    if let stage, !(isStackGAN && (stage == self.stage ?? 1 || stage == 1)) {
      throw KallimaError.invalidArgument(
        op: "sample", message: "--stage \(stage): this is a \(isStackGAN ? "StackGAN stage \(self.stage ?? 1)" : arch) checkpoint")
    }
    if isStackGAN {
      guard let conditions else { throw KallimaError.invalidArgument(op: "stackgan", message: "a StackGAN checkpoint without its conditions") }
      let model = try stackGAN(config, textDimension: conditions.width)
      if stage == 1, self.stage == 2 {
        let one = model.config.stageOne
        let sizes = DCGANConfig(nz: one.nz, ngf: one.gf, ndf: one.df, channels: one.channels, imageSize: one.side)
        return (Chain([try StackGAN(one).generator]).named("STAGE1_G"), [config.nz], sizes)
      }
      return (model.generator, [config.nz], config)
    }
    let architecture = try Architecture.named(arch)
    let network = try conditions.map { try architecture.conditionalGenerator(config, try conditioning($0)) } ?? architecture.generator(config)
    return (network, architecture.latentShape(config), config)
  }

  /// The condition kind, checked (nil when unconditional).
  public var conditionKind: ConditionKind? {
    get throws {
      guard let condition else {
        if dHead != nil || ganInt != nil {
          throw KallimaError.invalidArgument(op: "train", message: "--d-head and --gan-int need a condition: add --condition class|tags|text|embedding")
        }
        return nil
      }
      guard let kind = ConditionKind(rawValue: condition) else {
        throw KallimaError.invalidArgument(
          op: "train", message: "unknown --condition '\(condition)'; choose one of \(ConditionKind.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      return kind
    }
  }

  /// How a recipe with this condition kind and vocabulary conditions G and D.
  public func conditioning(_ vocabulary: ConditionVocabulary) throws -> Conditioning {
    let targets: ConditionTargets
    switch vocabulary.kind {
    case .class: targets = .exclusive
    case .tags: targets = .multiLabel
    case .text, .embedding: targets = .dense
    }
    return Conditioning(
      width: vocabulary.width, targets: targets, head: try DiscriminatorHead.named(dHead ?? "matching"),
      embedding: conditionDim ?? 128,
      conditionalBatchNorm: conditionalBatchNorm ?? (arch == "resnet" && targets == .exclusive),
      interpolationWeight: ganInt, classWeight: classWeight ?? 1)
  }

  public var objective: Objective { get throws { try Objective.named(loss, penaltyWeight: penaltyWeight) } }

  /// The n_critic this recipe runs.
  public var criticSteps: Int { nCritic ?? (["wgan", "wgan-gp"].contains(loss) ? 5 : 1) }

  /// The GAN recipe for DCGAN-shaped networks of `base` (nz, widths, channels, size) and a
  /// run of `steps` iterations.
  /// `conditions`: the vocabulary of a conditional run's conditions (its kind must be this
  /// recipe's `condition`).
  public func recipe(base: DCGANConfig, steps: Int, conditions: ConditionVocabulary? = nil) throws -> GANRecipe {
    guard Self.architectures.contains(arch) else {
      throw KallimaError.invalidArgument(
        op: "train", message: "unknown --arch '\(arch)'; choose one of \((Self.architectures + ["progan"]).joined(separator: ", "))")
    }
    let objective = try self.objective
    let kind = try conditionKind
    guard kind == conditions?.kind else {
      throw KallimaError.invalidArgument(
        op: "train", message: "the recipe's condition (\(condition ?? "none")) and the data's (\(conditions.map(\.kind.rawValue) ?? "none")) differ")
    }
    var recipe = isStackGAN ? try stackGANRecipe(base, objective, conditions) : try networks(base, objective, conditions)
    let defaultLR: Double
    switch loss {
    case "wgan": defaultLR = 5e-5
    case "wgan-gp", "began": defaultLR = 1e-4
    default: defaultLR = 2e-4
    }
    let b1 = beta1 ?? 0.5
    let b2 = beta2 ?? (loss == "wgan-gp" ? 0.9 : 0.999)
    let name = optimizer ?? (loss == "wgan" ? "rmsprop" : "adam")
    func make(_ lr: Double) throws -> Optimizer {
      switch name {
      case "adam": return .adam(AdamParams(lr: lr, beta1: b1, beta2: b2))
      case "rmsprop": return .rmsprop(RMSpropParams(lr: lr, momentum: momentum))
      case "sgd": return .sgd(SGDParams(lr: Float(lr), momentum: Float(momentum)))
      default:
        throw KallimaError.invalidArgument(op: "train", message: "unknown --optimizer '\(name)'; choose adam, rmsprop or sgd")
      }
    }
    recipe.optimizerD = try make(lrD ?? defaultLR)
    recipe.optimizerG = try make(lrG ?? defaultLR)
    recipe.regularizers = r1.map { [.r1(gamma: $0, every: r1Every)] } ?? []
    recipe.spectralNorm = spectralNorm
    recipe.synchronizedBatchNorm = synchronizedBatchNorm
    recipe.ema = ema.map { EMAConfig(beta: $0, start: emaStart) }
    if let start = lrDecayStart {
      guard start < steps else {
        throw KallimaError.invalidArgument(
          op: "train", message: "--lr-decay-start \(start) must be below --steps \(steps) (the decay runs from there to the end)")
      }
      recipe.schedule = .linearDecay(keep: start, decay: steps - start)
    }
    try recipe.validate()
    return recipe
  }

  /// The dcgan or resnet networks (conditional when the data has conditions) and objective.
  func networks(_ base: DCGANConfig, _ objective: Objective, _ conditions: ConditionVocabulary?) throws -> GANRecipe {
    let architecture = try Architecture.named(arch)
    var config = base
    if architecture == .resnet, let dNorm, dNorm != "none" {
      throw KallimaError.invalidArgument(
        op: "train", message: "--d-norm \(dNorm): the resnet D has no normalisation (SNGAN's); --d-norm applies to --arch dcgan")
    }
    let normName = dNorm ?? (["wgan-gp", "dragan"].contains(loss) || spectralNorm ? "none" : "batch")
    guard let norm = NormKind(rawValue: normName) else {
      throw KallimaError.invalidArgument(
        op: "train", message: "unknown --d-norm '\(normName)'; choose one of \(NormKind.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    config.discriminatorNorm = norm
    let conditioning = try conditions.map { try self.conditioning($0) }
    return GANRecipe(
      generator: try conditioning.map { try architecture.conditionalGenerator(config, $0) } ?? architecture.generator(config),
      discriminator: try conditioning.map { try architecture.conditionalDiscriminator(config, $0) }
        ?? architecture.discriminator(config, autoencoder: objective.discriminatorIsAutoencoder),
      latentShape: architecture.latentShape(config), imageShape: [config.channels, config.imageSize, config.imageSize],
      objective: objective, nCritic: criticSteps, sizes: config, conditioning: conditioning)
  }

  /// StackGAN's networks and losses (Zhang et al. 2017) at this stage; the optimisers and
  /// the rest follow the shared options.
  func stackGANRecipe(_ base: DCGANConfig, _ objective: Objective, _ conditions: ConditionVocabulary?) throws -> GANRecipe {
    func fail(_ m: String) -> KallimaError { .invalidArgument(op: "train", message: m) }
    guard let conditions else {
      throw fail("StackGAN draws images from a condition: add --condition text|embedding (or tags, class)")
    }
    if let dHead, dHead != DiscriminatorHead.stackgan.rawValue {
      throw fail("--arch stackgan has its own D (conditional and, in stage II, unconditional scores); drop --d-head \(dHead)")
    }
    if dNorm != nil { throw fail("--d-norm does not apply to --arch stackgan (its D has the reference's batch norms)") }
    if conditionalBatchNorm == true { throw fail("StackGAN concatenates the condition; class-conditional batch norm is for --arch resnet") }
    if stage == 2, stageOneWidth == nil { throw fail("StackGAN stage II needs stage I's width: give --stage1 CHECKPOINT") }
    if stage != 2, stageOneWidth != nil || residualBlocks != nil {
      throw fail("--stage1 and --residual-blocks belong to StackGAN stage II (--stage 2)")
    }
    var recipe = try stackGAN(base, textDimension: conditions.width).recipe(objective: objective)
    recipe.sizes = base
    recipe.nCritic = criticSteps
    recipe.conditioning?.interpolationWeight = ganInt
    return recipe
  }
}
