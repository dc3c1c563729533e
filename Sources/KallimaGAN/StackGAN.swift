import KallimaCore
import KallimaGraph
import KallimaNN

/// StackGAN (Zhang et al. 2017): a condition (a text embedding, a bag of words, tags) to an
/// image in two stages. Stage I draws a rough image from z and the condition; stage II, a GAN
/// of its own trained after stage I with stage I frozen, reads stage I's image and the
/// condition again and draws one four times as large. The networks are those of
/// hanzhanggit/StackGAN-Pytorch (`code/model.py`), under its state-dict names, so its
/// checkpoints map one to one:
///
/// - `STAGE1_G`: `ca_net` (conditioning augmentation: ĉ from the condition), `fc` (Linear
///   without bias → BatchNorm1d → ReLU, z ⊕ ĉ to [8·gf, 4, 4]), `upsample1…` (nearest ×2 →
///   conv3x3 without bias → BN → ReLU, halving the width) to the stage's side, `img`
///   (conv3x3 → tanh).
/// - `STAGE1_D`: `encode_img` (conv4x4 s2 → LeakyReLU(0.2), then conv4x4 s2 → BN → LeakyReLU
///   doubling the width, to 4x4), `get_cond_logits.outlogits` (μ tiled 4x4 after the
///   features → conv3x3 → BN → LeakyReLU → conv4x4 s4: one score).
/// - `STAGE2_G`: `STAGE1_G` (frozen: run with batch statistics, its image detached),
///   `ca_net` (its own), `encoder` (conv3x3 → ReLU, two conv4x4 s2 → BN → ReLU: stage I's
///   side / 4, 4·gf wide), `hr_joint` (ĉ tiled and concatenated → conv3x3 → BN → ReLU),
///   `residual.K.block` (`R_NUM` blocks: relu(x + conv → BN → ReLU → conv → BN)),
///   `upsample1…4` (to 4× stage I's side), `img`.
/// - `STAGE2_D`: `encode_img` to 4x4 (conv3x3 → BN → LeakyReLU halving back to 8·df where
///   the downsampling went wider), `get_cond_logits` and `get_uncond_logits` (conv4x4 s4
///   on the features alone): two scores, [conditional, unconditional].
///
/// D's condition is μ of G's conditioning augmentation, detached (the reference passes `mu`
/// to both losses with `.detach()`): `recipe` sets `GANRecipe.discriminatorCondition`. The
/// final sigmoid of the reference's D is left to the loss (BCE on logits, the same values).
/// Sizes other than the reference's 64 and 256 generalise its rule: one upsampling (G) or
/// strided conv (D) per doubling from 4x4, D's head as wide as its body's last layer.
/// Weights as `weights_init`: conv and linear N(0, 0.02) (linear biases 0), batch norm
/// weights N(1, 0.02); the biases of D's last convolutions keep PyTorch's default.
public struct StackGAN: Sendable {
  public struct Config: Codable, Equatable, Sendable {
    /// 1 or 2.
    public var stage: Int
    /// The side of the images this stage draws (stage II: 4× stage I's).
    public var side: Int
    public var channels: Int
    /// Values per condition row (the text embedding's `TEXT.DIMENSION`).
    public var textDimension: Int
    /// ĉ's and μ's features (`GAN.CONDITION_DIM`, 128).
    public var conditionDimension: Int
    /// z's features (`Z_DIM`, 100); in stage II the z stage I reads.
    public var nz: Int
    /// This stage's `GF_DIM` and `DF_DIM` (stage I's G is 8·gf wide at 4x4).
    public var gf: Int
    public var df: Int
    /// Stage II: stage I's `GF_DIM`.
    public var stageOneGF: Int
    /// Stage II: residual blocks (`GAN.R_NUM`: 4 in the reference's defaults, 2 in its COCO config).
    public var residualBlocks: Int
    /// The KL term's weight in G's loss (`TRAIN.COEFF.KL`).
    public var klWeight: Float
    /// The reference code's ReLU before the conditioning augmentation's split (true) or
    /// the paper's linear μ and log σ² (false); see `ConditioningAugmentation`.
    public var reluBeforeSplit: Bool
    /// The standard deviation of the conditioning augmentation's initial weights: the
    /// reference's 0.02 (`weights_init`), made for dense 1024-d text embeddings. A sparse
    /// condition (a bag of two words at 0.5 each) gets μ of about 0.01 from it, under σ ≈ 1,
    /// and Adam grows μ by at most lr·Σ|e| = lr per step: a larger value lets μ carry the
    /// condition from the first step.
    public var conditionInitStd: Float

    public init(
      stage: Int, side: Int, channels: Int = 3, textDimension: Int, conditionDimension: Int = 128, nz: Int = 100,
      gf: Int, df: Int = 64, stageOneGF: Int = 128, residualBlocks: Int = 4, klWeight: Float = 2, reluBeforeSplit: Bool = true,
      conditionInitStd: Float = 0.02
    ) {
      (self.stage, self.side, self.channels, self.textDimension, self.conditionDimension) = (stage, side, channels, textDimension, conditionDimension)
      (self.nz, self.gf, self.df, self.stageOneGF, self.residualBlocks) = (nz, gf, df, stageOneGF, residualBlocks)
      (self.klWeight, self.reluBeforeSplit, self.conditionInitStd) = (klWeight, reluBeforeSplit, conditionInitStd)
    }

    /// Stage I's side (this stage's in stage I).
    public var stageOneSide: Int { stage == 1 ? side : side / 4 }

    /// Stage I's configuration, as stage II runs it.
    public var stageOne: Config {
      var c = self
      (c.stage, c.side, c.gf) = (1, stageOneSide, stageOneGF)
      return c
    }

    public func validate() throws {
      func fail(_ m: String) -> KallimaError { .invalidArgument(op: "stackgan", message: m) }
      guard stage == 1 || stage == 2 else { throw fail("the stage is 1 or 2, got \(stage)") }
      let one = stageOneSide
      guard one >= 8, one & (one - 1) == 0, stage == 1 || side == 4 * one else {
        throw fail("stage I draws a power-of-two side of at least 8 and stage II four times it; got \(side) at stage \(stage)")
      }
      guard textDimension >= 1, conditionDimension >= 1, nz >= 1, df >= 1, channels >= 1 else {
        throw fail("the condition, ĉ, z, D and channel sizes must be positive")
      }
      guard conditionInitStd > 0, conditionInitStd.isFinite else {
        throw fail("the conditioning augmentation's initial std must be positive, got \(conditionInitStd)")
      }
      let upsamples = (one / 4).trailingZeroBitCount
      guard stageOneGF >= 1, ((stage == 2 ? stageOneGF : gf) * 8) >> upsamples >= 1 else {
        throw fail("stage I's G width \(stage == 2 ? stageOneGF : gf) is too narrow to halve \(upsamples) times from 8× it")
      }
      if stage == 2 {
        guard gf >= 4, gf % 4 == 0, residualBlocks >= 0 else {
          throw fail("stage II's G width must be a positive multiple of 4 (it narrows to gf/4), got \(gf)")
        }
      }
    }
  }

  public let config: Config

  public init(_ config: Config) throws {
    try config.validate()
    self.config = config
  }

  static let weightInit = ParameterInit.normal(mean: 0, std: 0.02)
  static let batchNormInit = ParameterInit.normal(mean: 1, std: 0.02)

  static func conv3x3(_ input: Int, _ output: Int) -> Conv2d {
    Conv2d(input, output, kernelSize: 3, padding: 1, bias: false, weightInit: weightInit)
  }

  static func norm(_ channels: Int) -> BatchNorm2d { BatchNorm2d(channels, weightInit: batchNormInit) }

  /// `upBlock`: nearest ×2 → conv3x3 → BN → ReLU.
  static func upBlock(_ input: Int, _ output: Int) -> Sequential {
    Sequential {
      UpsampleNearest(scale: 2)
      conv3x3(input, output)
      norm(output)
      ReLU()
    }
  }

  var augmentation: ConditioningAugmentation {
    ConditioningAugmentation(
      embedding: config.textDimension, dimension: config.conditionDimension, klWeight: config.klWeight,
      reluBeforeSplit: config.reluBeforeSplit, weightInit: .normal(mean: 0, std: config.conditionInitStd))
  }

  /// G: z [N, nz] and the scope's condition [N, textDimension] → images [N, channels, side, side].
  public var generator: any Layer {
    config.stage == 1 ? StageOneGenerator(config: config, augmentation: augmentation) : StageTwoGenerator(stackGAN: self)
  }

  /// D: images and the scope's condition (μ, [N, conditionDimension]) → scores [N, 1]
  /// (stage I) or [N, 2] (stage II: conditional, unconditional).
  public var discriminator: any Layer { StackGANDiscriminator(config: config) }

  /// What D is conditioned on: μ of G's conditioning augmentation (`ca_net`).
  public var discriminatorCondition: any Layer { augmentation.mean.named("ca_net") }

  /// The reference's training: the non-saturating loss (BCE) unless another is given, Adam
  /// 2e-4 (0.5, 0.999) for both networks, one D update per G update; D on real pairs,
  /// fake pairs and mismatched pairs (each image with another sample's condition), weighted
  /// real + ½(fake + wrong) in stage I and ½(real + real_uncond) + ⅓(fake + wrong +
  /// fake_uncond) in stage II; G on both of D's scores plus `klWeight`·KL (logged as
  /// "ca_kl", the KL before its weight).
  public func recipe(objective: Objective = .nonSaturating, learningRate: Double = 2e-4) -> GANRecipe {
    let c = config
    let weight: Float = c.stage == 1 ? 0.5 : 1.0 / 3
    let adam = Optimizer.adam(AdamParams(lr: learningRate, beta1: 0.5, beta2: 0.999))
    var recipe = GANRecipe(
      generator: generator, discriminator: discriminator, latentShape: [c.nz], imageShape: [c.channels, c.side, c.side],
      objective: objective, optimizerD: adam, optimizerG: adam,
      conditioning: Conditioning(
        width: c.textDimension, targets: .dense, head: .stackgan, embedding: c.conditionDimension, fakeWeight: weight,
        mismatchWeight: weight))
    recipe.discriminatorCondition = discriminatorCondition
    recipe.generatorStatistics = [ConditioningAugmentation.lossName]
    return recipe
  }
}

/// STAGE1_G (see `StackGAN`).
struct StageOneGenerator: Layer {
  let config: StackGAN.Config
  let augmentation: ConditioningAugmentation

  func callAsFunction(_ z: Value, in scope: Scope) throws -> Value {
    let c = config
    let width = c.gf * 8
    let n = scope.graph.shape(z)[0]
    let code = try augmentation(z, in: scope.child("ca_net"))
    let zc = try scope.value(.concat, [z, code], "z ⊕ ĉ")
    let fc = Sequential {
      Linear(c.nz + c.conditionDimension, width * 16, bias: false, weightInit: StackGAN.weightInit)
      BatchNorm1d(width * 16, weightInit: StackGAN.batchNormInit)
      ReLU()
    }
    var h = try scope.value(.reshape([n, width, 4, 4]), [try fc(zc, in: scope, named: "fc")], "h as [N, 8·gf, 4, 4]")
    var (side, channels) = (4, width)
    var block = 1
    while side < c.side {
      h = try StackGAN.upBlock(channels, channels / 2)(h, in: scope, named: "upsample\(block)")
      (side, channels, block) = (side * 2, channels / 2, block + 1)
    }
    return try Sequential { StackGAN.conv3x3(channels, c.channels); Tanh() }(h, in: scope, named: "img")
  }
}

/// STAGE2_G (see `StackGAN`).
struct StageTwoGenerator: Layer {
  let stackGAN: StackGAN

  func callAsFunction(_ z: Value, in scope: Scope) throws -> Value {
    let c = stackGAN.config
    let stageOne = try StackGAN(c.stageOne)
    let low = try Frozen(stageOne.generator)(z, in: scope, named: "STAGE1_G")
    let gf = c.gf
    let encoder = Sequential {
      StackGAN.conv3x3(c.channels, gf)
      ReLU()
      Conv2d(gf, gf * 2, kernelSize: 4, stride: 2, padding: 1, bias: false, weightInit: StackGAN.weightInit)
      StackGAN.norm(gf * 2)
      ReLU()
      Conv2d(gf * 2, gf * 4, kernelSize: 4, stride: 2, padding: 1, bias: false, weightInit: StackGAN.weightInit)
      StackGAN.norm(gf * 4)
      ReLU()
    }
    let encoded = try encoder(low, in: scope, named: "encoder")
    let grid = c.stageOneSide / 4
    let code = try stackGAN.augmentation(z, in: scope.child("ca_net"))
    let tiled = try tile(code, height: grid, width: grid, in: scope)
    let joint = Sequential {
      StackGAN.conv3x3(c.conditionDimension + gf * 4, gf * 4)
      StackGAN.norm(gf * 4)
      ReLU()
    }
    var h = try joint(try scope.value(.concat, [encoded, tiled], "features ⊕ tile(ĉ)"), in: scope, named: "hr_joint")
    let blocks = Sequential((0..<c.residualBlocks).map { _ in
      Chain {
        Residual(bodyName: "block") {
          StackGAN.conv3x3(gf * 4, gf * 4)
          StackGAN.norm(gf * 4)
          ReLU()
          StackGAN.conv3x3(gf * 4, gf * 4)
          StackGAN.norm(gf * 4)
        }
        ReLU()
      }
    })
    h = try blocks(h, in: scope, named: "residual")
    var channels = gf * 4
    for block in 1...4 {
      h = try StackGAN.upBlock(channels, channels / 2)(h, in: scope, named: "upsample\(block)")
      channels /= 2
    }
    return try Sequential { StackGAN.conv3x3(channels, c.channels); Tanh() }(h, in: scope, named: "img")
  }
}

/// STAGE1_D and STAGE2_D (see `StackGAN`): scores [N, 1] or [N, 2] of the scope's images and
/// condition (μ).
struct StackGANDiscriminator: Layer {
  let config: StackGAN.Config

  /// `encode_img`: the image to [N, width, 4, 4].
  var body: (layer: Sequential, width: Int) {
    let c = config
    var layers: [any Layer] = []
    var (side, width) = (c.side, c.df)
    layers += [
      Conv2d(c.channels, width, kernelSize: 4, stride: 2, padding: 1, bias: false, weightInit: StackGAN.weightInit),
      LeakyReLU(0.2),
    ]
    side /= 2
    while side > 4 {
      layers += [
        Conv2d(width, width * 2, kernelSize: 4, stride: 2, padding: 1, bias: false, weightInit: StackGAN.weightInit),
        StackGAN.norm(width * 2), LeakyReLU(0.2),
      ]
      (side, width) = (side / 2, width * 2)
    }
    while width > c.df * 8 {
      layers += [StackGAN.conv3x3(width, width / 2), StackGAN.norm(width / 2), LeakyReLU(0.2)]
      width /= 2
    }
    return (Sequential(layers), width)
  }

  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let c = config
    let (encode, width) = body
    let h = try encode(x, in: scope, named: "encode_img")
    let n = scope.graph.shape(h)[0]
    /// The last conv4x4 s4 (with its bias) → [N, 1].
    func logits(_ input: Int) -> Conv2d {
      Conv2d(input, 1, kernelSize: 4, stride: 4, weightInit: StackGAN.weightInit, biasInit: .pytorchDefault(fanIn: input * 16))
    }
    let mu = try scope.condition(conditionKey, for: "StackGAN D")
    let paired = try scope.value(.concat, [h, try tile(mu, height: 4, width: 4, in: scope)], "features ⊕ tile(μ)")
    let conditional = Sequential {
      StackGAN.conv3x3(width + c.conditionDimension, width)
      StackGAN.norm(width)
      LeakyReLU(0.2)
      logits(width)
    }
    let condScore = try scope.value(
      .reshape([n, 1]), [try conditional(paired, in: scope.child("get_cond_logits"), named: "outlogits")], "conditional score")
    guard c.stage == 2 else { return condScore }
    let unconditional = Sequential { logits(width) }
    let uncondScore = try scope.value(
      .reshape([n, 1]), [try unconditional(h, in: scope.child("get_uncond_logits"), named: "outlogits")], "unconditional score")
    return try scope.value(.concat, [condScore, uncondScore], "conditional ⊕ unconditional")
  }
}
