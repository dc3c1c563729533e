import KallimaCore
import KallimaGraph
import KallimaNN

/// DCGAN (Radford, Metz & Chintala 2015), the canonical architecture of SPEC §1 with a
/// width parameter. Parameter names follow PyTorch's DCGAN example (`main.N.weight`), so
/// checkpoints map one to one. Images are NCHW in [−1, 1].
public struct DCGANConfig: Sendable {
  /// Latent size (z is [N, nz, 1, 1]).
  public var nz: Int
  /// Generator width: channels of its last hidden layer.
  public var ngf: Int
  /// Discriminator width: channels of its first layer.
  public var ndf: Int
  /// Image channels.
  public var channels: Int
  /// Image side: 4·2^k for k ≥ 1 (32 and 64 are the usual ones).
  public var imageSize: Int
  /// Normalisation between D's hidden convolutions: batch norm (the paper), none (WGAN-GP
  /// critics, SNGAN's standard CNN), or layer norm (a critic without batch statistics).
  public var discriminatorNorm: NormKind

  public init(
    nz: Int = 100, ngf: Int = 64, ndf: Int = 64, channels: Int = 3, imageSize: Int = 64,
    discriminatorNorm: NormKind = .batch
  ) {
    (self.nz, self.ngf, self.ndf, self.channels, self.imageSize) = (nz, ngf, ndf, channels, imageSize)
    self.discriminatorNorm = discriminatorNorm
  }

  /// Number of stride-2 stages between 4x4 and the image.
  public var stages: Int {
    var s = 0
    var side = 4
    while side < imageSize { side *= 2; s += 1 }
    return s
  }

  func validate() throws {
    guard stages >= 1, 4 << stages == imageSize else {
      throw KallimaError.invalidArgument(op: "DCGAN", message: "image size \(imageSize) must be 4·2^k with k >= 1 (e.g. 32, 64)")
    }
    guard nz > 0, ngf > 0, ndf > 0, channels > 0 else {
      throw KallimaError.invalidArgument(op: "DCGAN", message: "nz, ngf, ndf and channels must be positive")
    }
  }
}

/// DCGAN's generator and discriminator as layer networks.
public struct DCGAN {
  public let config: DCGANConfig
  public static let bnMomentum: Float = 0.1
  public static let bnEps: Float = 1e-5
  static let weightInit = ParameterInit.normal(mean: 0, std: 0.02)
  static let bnWeightInit = ParameterInit.normal(mean: 1, std: 0.02)

  public init(_ config: DCGANConfig) throws {
    try config.validate()
    self.config = config
  }

  /// G: z [N, nz, 1, 1] -> image [N, channels, size, size]. ConvTranspose (k4; s1p0 first,
  /// then s2p1), BatchNorm + ReLU between, tanh out; no conv bias.
  public var generatorNetwork: Named<Sequential> {
    let c = config
    return Sequential {
      for stage in 0...c.stages {
        let inC = stage == 0 ? c.nz : c.ngf << (c.stages - stage)
        if stage == c.stages {
          ConvTranspose2d(inC, c.channels, kernelSize: 4, stride: 2, padding: 1, bias: false, weightInit: DCGAN.weightInit)
          Tanh()
        } else {
          let outC = c.ngf << (c.stages - 1 - stage)
          ConvTranspose2d(
            inC, outC, kernelSize: 4, stride: stage == 0 ? 1 : 2, padding: stage == 0 ? 0 : 1, bias: false,
            weightInit: DCGAN.weightInit)
          BatchNorm2d(outC, momentum: DCGAN.bnMomentum, eps: DCGAN.bnEps, weightInit: DCGAN.bnWeightInit)
          ReLU()
        }
      }
    }.named("main")
  }

  /// D: image -> logits [N, 1, 1, 1]. Conv k4 s2 p1 stack, LeakyReLU(0.2), the configured
  /// normalisation on all but the first and last, last conv k4 s1 p0; no conv bias.
  /// Returns logits (the sigmoid of PyTorch's example lives in the loss).
  public var discriminatorNetwork: Named<Sequential> {
    let c = config
    return Sequential(discriminatorBodyLayers + [
      Conv2d(c.ndf << (c.stages - 1), 1, kernelSize: 4, stride: 1, padding: 0, bias: false, weightInit: DCGAN.weightInit)
    ]).named("main")
  }

  /// D without its last conv: image -> features [N, ndf·2^(stages−1), 4, 4], the body a
  /// conditional head sits on (same parameter names as `discriminatorNetwork`'s).
  public var discriminatorBody: Named<Sequential> { Sequential(discriminatorBodyLayers).named("main") }

  var discriminatorBodyLayers: [any Layer] {
    let c = config
    return Sequential {
      for stage in 0..<c.stages {
        let inC = stage == 0 ? c.channels : c.ndf << (stage - 1)
        let outC = c.ndf << stage
        Conv2d(inC, outC, kernelSize: 4, stride: 2, padding: 1, bias: false, weightInit: DCGAN.weightInit)
        if stage > 0, let norm = c.discriminatorNorm.layer(
          channels: outC, side: c.imageSize >> (stage + 1), batchNormWeightInit: DCGAN.bnWeightInit)
        {
          norm
        }
        LeakyReLU(0.2)
      }
    }.layers
  }

  /// An autoencoder D for BEGAN (Berthelot et al. 2017) in DCGAN's shape: the D encoder
  /// (k4 s2 p1 convolutions with bias, LeakyReLU(0.2), no normalisation) down to 4x4, then a
  /// mirror decoder of k4 s2 p1 transposed convolutions back to the image, linear output.
  public var autoencoderDiscriminatorNetwork: Named<Sequential> {
    let c = config
    return Sequential {
      for stage in 0..<c.stages {
        Conv2d(stage == 0 ? c.channels : c.ndf << (stage - 1), c.ndf << stage, kernelSize: 4, stride: 2, padding: 1,
          weightInit: DCGAN.weightInit, biasInit: .constant(0))
        LeakyReLU(0.2)
      }
      for stage in (0..<c.stages).reversed() {
        ConvTranspose2d(c.ndf << stage, stage == 0 ? c.channels : c.ndf << (stage - 1), kernelSize: 4, stride: 2,
          padding: 1, weightInit: DCGAN.weightInit, biasInit: .constant(0))
        if stage > 0 { LeakyReLU(0.2) }
      }
    }.named("main")
  }

  /// Builds G for z into the binder's graph, parameters in `store`.
  public func generator(_ b: GraphBinder, _ store: ParameterStore, z: Value, training: Bool = true) throws -> Value {
    try generatorNetwork(z, in: Scope(binder: b, store: store, tag: "G", options: BindOptions(mode: training ? .train : .eval)))
  }

  /// Builds D (train mode) on `image`; node names carry "D(tag)".
  public func discriminator(_ b: GraphBinder, _ store: ParameterStore, image: Value, tag: String) throws -> Value {
    try discriminatorNetwork(image, in: Scope(binder: b, store: store, tag: "D(\(tag))"))
  }
}
