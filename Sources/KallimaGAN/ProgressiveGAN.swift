import KallimaCore
import KallimaGraph
import KallimaNN

/// Progressive GAN (Karras et al. 2018; tkarras/progressive_growing_of_gans, `G_paper` and
/// `D_paper`): G and D grow from 4x4 to the target size a block at a time, each new block
/// faded in while α goes from 0 to 1. Leaky ReLU 0.2, equalised learning rate everywhere,
/// pixel norm after every G convolution (and on the latent), minibatch standard deviation
/// before D's last block, no batch norm, G's output linear.
///
/// The networks of one phase are `generator(resolution:fading:)` and
/// `discriminator(resolution:fading:)`: the blocks up to `resolution`, and when fading, the
/// previous resolution's output path blended in by α, read from the store's `alpha` (a
/// buffer [1]; `ProgressiveTrainer` advances it on the device). Module names are stable
/// across phases (`b8.conv0.weight`, `torgb8.weight`), so each phase's networks bind the
/// tensors the phase before trained.
public struct ProgressiveGAN: Sendable {
  public struct Config: Codable, Equatable, Sendable {
    /// The final image side, a power of two from 8.
    public var resolution: Int
    /// Image channels.
    public var channels: Int
    /// Latent size (the paper's 512).
    public var latent: Int
    /// Feature maps at stage s = log2(side) − 1: min(featureBase / 2^s, featureMax)
    /// (the reference's fmap_base 8192, fmap_max 512).
    public var featureBase: Int
    public var featureMax: Int
    /// Minibatch standard deviation's group size (4).
    public var groupSize: Int

    public init(resolution: Int, channels: Int = 3, latent: Int = 512, featureBase: Int = 8192, featureMax: Int = 512, groupSize: Int = 4) {
      (self.resolution, self.channels, self.latent) = (resolution, channels, latent)
      (self.featureBase, self.featureMax, self.groupSize) = (featureBase, featureMax, groupSize)
    }

    /// Feature maps of the blocks at side 2^(stage + 1).
    public func features(stage: Int) -> Int { max(1, min(featureBase >> stage, featureMax)) }

    /// The sides trained in turn: 4, 8, …, resolution.
    public var resolutions: [Int] { (2...log2(resolution)).map { 1 << $0 } }
  }

  public let config: Config

  public init(_ config: Config) throws {
    let r = config.resolution
    guard r >= 8, r & (r - 1) == 0 else {
      throw KallimaError.invalidArgument(op: "progan", message: "the final resolution must be a power of two from 8, got \(r)")
    }
    guard config.channels > 0, config.latent > 0, config.featureBase > 0, config.featureMax > 0, config.groupSize > 0 else {
      throw KallimaError.invalidArgument(op: "progan", message: "channels, latent size, feature maps and group size must be positive")
    }
    self.config = config
  }

  /// The store's fade-in α (one buffer, 0 at the start of a fade).
  static func alpha(_ scope: Scope) throws -> Value {
    try scope.parameter("alpha", [1], .constant(0), trainable: false)
  }

  func checked(_ resolution: Int, fading: Bool) throws {
    guard config.resolutions.contains(resolution), !(fading && resolution == 4) else {
      throw KallimaError.invalidArgument(
        op: "progan", message: "no phase \(fading ? "fading in " : "")\(resolution)x\(resolution) on the way to \(config.resolution)")
    }
  }

  /// G of one phase: z [N, latent, 1, 1] -> images [N, channels, resolution, resolution].
  public func generator(resolution: Int, fading: Bool) throws -> any Layer {
    try checked(resolution, fading: fading)
    return Generator(config: config, resolution: resolution, fading: fading)
  }

  /// D of one phase: images [N, channels, resolution, resolution] -> scores [N, 1].
  public func discriminator(resolution: Int, fading: Bool) throws -> any Layer {
    try checked(resolution, fading: fading)
    return Discriminator(config: config, resolution: resolution, fading: fading)
  }

  /// What D sees of the full-size real images in a phase: pooled to `resolution` (the
  /// reference's box-filtered mipmaps), and while fading, blended from the previous
  /// resolution's (upsampled) as G's output is, (1 − α)·up(down(x)) + α·x.
  public func realInput(resolution: Int, fading: Bool) throws -> any Layer {
    try checked(resolution, fading: fading)
    return RealInput(factor: config.resolution / resolution, fading: fading)
  }

  struct Generator: Layer {
    let config: Config
    let resolution: Int
    let fading: Bool

    func callAsFunction(_ z: Value, in scope: Scope) throws -> Value {
      let c = config
      let n = scope.graph.shape(z)[0]
      let width = c.features(stage: 1)
      // 4x4: the normalised latent through a dense layer to a 4x4 map, then a 3x3 conv.
      var h = try PixelNorm()(z, in: scope.child("latent"))
      h = try Flatten()(h, in: scope)
      // The reference adds the dense layer's bias per channel of the 4x4 map.
      let dense = scope.child("b4").child("dense")
      var linear = Linear.equalized(c.latent, 16 * width, gain: 2.0.squareRoot() / 4)
      linear.bias = false
      h = try scope.value(.reshape([n, width, 4, 4]), [try linear(h, in: dense)], "b4 4x4")
      h = try dense.value(.addChannel, [h, try dense.parameter("bias", [width], .constant(0))], "bias")
      h = try PixelNorm()(try LeakyReLU(0.2)(h, in: scope), in: scope)
      h = try PixelNorm()(try LeakyReLU(0.2)(try Conv2d.equalized(width, width, kernelSize: 3, padding: 1)(h, in: scope.child("b4").child("conv")), in: scope), in: scope)
      var previous: Value?
      var side = 4
      while side < resolution {
        previous = h
        let (from, to) = (c.features(stage: log2(side) - 1), c.features(stage: log2(side)))
        side *= 2
        let block = scope.child("b\(side)")
        h = try UpsampleNearest(scale: 2)(h, in: block)
        for (i, (a, b)) in [(from, to), (to, to)].enumerated() {
          h = try Conv2d.equalized(a, b, kernelSize: 3, padding: 1)(h, in: block.child("conv\(i)"))
          h = try PixelNorm()(try LeakyReLU(0.2)(h, in: block), in: block)
        }
      }
      let image = try toRGB(h, side: resolution, scope)
      guard fading, let previous else { return image }
      let old = try UpsampleNearest(scale: 2)(try toRGB(previous, side: resolution / 2, scope), in: scope)
      return try lerp(old, image, alpha: try ProgressiveGAN.alpha(scope), in: scope)
    }

    func toRGB(_ h: Value, side: Int, _ scope: Scope) throws -> Value {
      let width = config.features(stage: log2(side) - 1)
      return try Conv2d.equalized(width, config.channels, kernelSize: 1, gain: 1)(h, in: scope.child("torgb\(side)"))
    }
  }

  struct Discriminator: Layer {
    let config: Config
    let resolution: Int
    let fading: Bool

    func callAsFunction(_ image: Value, in scope: Scope) throws -> Value {
      let c = config
      var h = try fromRGB(image, side: resolution, scope)
      var side = resolution
      while side > 4 {
        let block = scope.child("b\(side)")
        let (wide, narrow) = (c.features(stage: log2(side) - 1), c.features(stage: log2(side) - 2))
        h = try LeakyReLU(0.2)(try Conv2d.equalized(wide, wide, kernelSize: 3, padding: 1)(h, in: block.child("conv0")), in: block)
        h = try LeakyReLU(0.2)(try Conv2d.equalized(wide, narrow, kernelSize: 3, padding: 1)(h, in: block.child("conv1")), in: block)
        h = try AvgPool2d(2)(h, in: block)
        if side == resolution && fading {
          let old = try fromRGB(try AvgPool2d(2)(image, in: scope), side: side / 2, scope)
          h = try lerp(old, h, alpha: try ProgressiveGAN.alpha(scope), in: scope)
        }
        side /= 2
      }
      // 4x4: minibatch stddev, a 3x3 conv, two dense layers to one score.
      let (width, last) = (c.features(stage: 1), c.features(stage: 0))
      let block = scope.child("b4")
      h = try MinibatchStdDev(groupSize: c.groupSize)(h, in: block)
      h = try LeakyReLU(0.2)(try Conv2d.equalized(width + 1, width, kernelSize: 3, padding: 1)(h, in: block.child("conv")), in: block)
      h = try Flatten()(h, in: block)
      h = try LeakyReLU(0.2)(try Linear.equalized(16 * width, last)(h, in: block.child("dense0")), in: block)
      return try Linear.equalized(last, 1, gain: 1)(h, in: block.child("dense1"))
    }

    func fromRGB(_ image: Value, side: Int, _ scope: Scope) throws -> Value {
      let width = config.features(stage: log2(side) - 1)
      let conv = Conv2d.equalized(config.channels, width, kernelSize: 1)
      return try LeakyReLU(0.2)(try conv(image, in: scope.child("fromrgb\(side)")), in: scope)
    }
  }

  struct RealInput: Layer {
    let factor: Int
    let fading: Bool

    func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
      let pooled = factor > 1 ? try AvgPool2d(factor)(x, in: scope) : x
      guard fading else { return pooled }
      let coarse = try UpsampleNearest(scale: 2)(try AvgPool2d(2)(pooled, in: scope), in: scope)
      return try lerp(coarse, pooled, alpha: try ProgressiveGAN.alpha(scope), in: scope)
    }
  }
}

/// log2 of a power of two.
func log2(_ n: Int) -> Int { Int.bitWidth - 1 - n.leadingZeroBitCount }
