import KallimaCore
import KallimaGraph

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

  public init(nz: Int = 100, ngf: Int = 64, ndf: Int = 64, channels: Int = 3, imageSize: Int = 64) {
    (self.nz, self.ngf, self.ndf, self.channels, self.imageSize) = (nz, ngf, ndf, channels, imageSize)
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

/// Builds DCGAN's generator and discriminator into graphs.
public struct DCGAN {
  public let config: DCGANConfig
  public static let bnMomentum: Float = 0.1
  public static let bnEps: Float = 1e-5
  static let weightInit = ParameterInit.normal(mean: 0, std: 0.02)

  public init(_ config: DCGANConfig) throws {
    try config.validate()
    self.config = config
  }

  /// BatchNorm2d: in train mode batch statistics normalise and the running statistics
  /// update; in eval mode the running statistics normalise.
  func batchNorm(
    _ b: GraphBinder, _ store: ParameterStore, _ x: Value, index: Int, channels: Int, training: Bool = true
  ) throws -> Value {
    let p = "main.\(index)."
    let gamma = try b.parameter(store, p + "weight", [channels], .normal(mean: 1, std: 0.02))
    let beta = try b.parameter(store, p + "bias", [channels], .constant(0))
    let mean = try b.parameter(store, p + "running_mean", [channels], .constant(0), trainable: false)
    let variance = try b.parameter(store, p + "running_var", [channels], .constant(1), trainable: false)
    let op: GraphOp =
      training ? .batchnormTrain(momentum: DCGAN.bnMomentum, eps: DCGAN.bnEps) : .batchnormEval(eps: DCGAN.bnEps)
    return try b.graph.add(op, [x, gamma, beta, mean, variance], name: "main.\(index) batchnorm")[0]
  }

  /// G: z [N, nz, 1, 1] -> image [N, channels, size, size]. ConvTranspose (k4; s1p0 first,
  /// then s2p1), BatchNorm + ReLU between, tanh out; no conv bias.
  public func generator(_ b: GraphBinder, _ store: ParameterStore, z: Value, training: Bool = true) throws -> Value {
    let g = b.graph
    var h = z
    var inC = config.nz
    for stage in 0...config.stages {
      let last = stage == config.stages
      let outC = last ? config.channels : config.ngf << (config.stages - 1 - stage)
      let index = 3 * stage
      let w = try b.parameter(store, "main.\(index).weight", [inC, outC, 4, 4], DCGAN.weightInit)
      let params = stage == 0 ? ConvTranspose2dParams(stride: 1, padding: 0) : ConvTranspose2dParams(stride: 2, padding: 1)
      h = try g.value(.convTranspose2d(params), [h, w], name: "G main.\(index) conv_transpose")
      if last {
        h = try g.value(.activation(.tanh), [h], name: "G main.\(index + 1) tanh")
      } else {
        h = try batchNorm(b, store, h, index: index + 1, channels: outC, training: training)
        h = try g.value(.activation(.relu), [h], name: "G main.\(index + 2) relu")
      }
      inC = outC
    }
    return h
  }

  /// D: image -> logits [N, 1, 1, 1]. Conv k4 s2 p1 stack, LeakyReLU(0.2), BatchNorm on all
  /// but the first and last, last conv k4 s1 p0; no conv bias. Returns logits (the
  /// sigmoid of PyTorch's example lives in the loss, BCE-with-logits).
  public func discriminator(_ b: GraphBinder, _ store: ParameterStore, image: Value, tag: String) throws -> Value {
    let g = b.graph
    var h = image
    var inC = config.channels
    var index = 0
    for stage in 0..<config.stages {
      let outC = config.ndf << stage
      let w = try b.parameter(store, "main.\(index).weight", [outC, inC, 4, 4], DCGAN.weightInit)
      h = try g.value(.conv2d(Conv2dParams(stride: 2, padding: 1)), [h, w], name: "D(\(tag)) main.\(index) conv")
      if stage > 0 {
        h = try batchNorm(b, store, h, index: index + 1, channels: outC)
        index += 1
      }
      h = try g.value(.activation(.leakyRelu(slope: 0.2)), [h], name: "D(\(tag)) main.\(index + 1) leaky_relu")
      index += 2
      inC = outC
    }
    let w = try b.parameter(store, "main.\(index).weight", [1, inC, 4, 4], DCGAN.weightInit)
    return try g.value(.conv2d(Conv2dParams(stride: 1, padding: 0)), [h, w], name: "D(\(tag)) main.\(index) conv")
  }
}
