import KallimaCore
import KallimaGraph
import KallimaNN

/// pix2pix's PatchGAN discriminator (Isola et al. 2017, §3.2.2 and appendix 6.1.2):
/// `NLayerDiscriminator` of junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py), with
/// its state-dict names (`model.0.weight`, `model.3.running_mean`, …).
///
/// Images [N, inputChannels, H, W] (pix2pix: concat(A, B), 6 channels; CycleGAN: 3) -> one
/// logit per patch [N, 1, H', W'] (no sigmoid: the loss applies it). Sequential `model` =
/// [conv 4x4 s2 p1 (ndf, with bias), LeakyReLU(0.2); for n in 1..<layers: conv 4x4 s2 p1
/// (ndf·min(2^n, 8)), norm, LeakyReLU(0.2); conv 4x4 s1 p1 (ndf·min(2^layers, 8)), norm,
/// LeakyReLU(0.2); conv 4x4 s1 p1 to 1 channel (with bias)]. Convolutions between carry a
/// bias only with instance norm; weights N(0, 0.02), biases 0, batch-norm scales N(1, 0.02).
///
/// Receptive field of one output pixel: layers 3 ("basic") sees 70x70 input pixels (output
/// (i, j) sees rows 8i − 23 ... 8i + 46), layers 1 16x16, layers 5 286x286. Output side:
/// ⌊H / 2^layers⌋ − 2, so H and W must be at least 3·2^layers.
public struct NLayerDiscriminator: TranslationNetwork {
  public var inputChannels: Int
  public var ndf: Int
  public var layers: Int
  public var norm: TranslationNorm

  public init(inputChannels: Int = 6, ndf: Int = 64, layers: Int = 3, norm: TranslationNorm = .batch) throws {
    guard inputChannels > 0, ndf > 0, layers >= 1 else {
      throw KallimaError.invalidArgument(op: "patch discriminator", message: "channels, ndf and layers must be positive")
    }
    (self.inputChannels, self.ndf, self.layers, self.norm) = (inputChannels, ndf, layers, norm)
  }

  public func validate(height: Int, width: Int) throws {
    try requireSide(height, width, multipleOf: 1, atLeast: 3 << layers, network: "n_layers \(layers) patch discriminator")
  }

  /// Output size for an H x W input.
  public func outputSide(_ side: Int) -> Int { side / (1 << layers) - 2 }

  /// The Sequential under the attribute name `model`.
  public var network: Named<Sequential> {
    let bias = norm.convolutionBias
    let widths = (0...layers).map { ndf * min(1 << $0, 8) }
    return Sequential {
      Pix2PixInit.conv(inputChannels, ndf, 4, stride: 2, padding: 1)
      LeakyReLU(0.2)
      for n in 1..<(layers + 1) {
        Pix2PixInit.conv(widths[n - 1], widths[n], 4, stride: n < layers ? 2 : 1, padding: 1, bias: bias)
        norm.layer(widths[n])
        LeakyReLU(0.2)
      }
      Pix2PixInit.conv(widths[layers], 1, 4, stride: 1, padding: 1)
    }.named("model")
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try checkInput(x, channels: inputChannels, in: scope, "patch discriminator")
    return try network(x, in: scope)
  }
}

/// The 1x1 PatchGAN ("PixelGAN", Isola et al. 2017 §4.4): `PixelDiscriminator` of
/// networks.py, a logit per pixel [N, 1, H, W] from 1x1 convolutions only. Sequential `net` =
/// [conv 1x1 (ndf, with bias), LeakyReLU(0.2), conv 1x1 (2·ndf), norm, LeakyReLU(0.2),
/// conv 1x1 to 1 channel]; the last two convolutions carry a bias only with instance norm,
/// as in the reference. Any image size.
public struct PixelDiscriminator: TranslationNetwork {
  public var inputChannels: Int
  public var ndf: Int
  public var norm: TranslationNorm

  public init(inputChannels: Int = 6, ndf: Int = 64, norm: TranslationNorm = .batch) throws {
    guard inputChannels > 0, ndf > 0 else {
      throw KallimaError.invalidArgument(op: "pixel discriminator", message: "channels and ndf must be positive")
    }
    (self.inputChannels, self.ndf, self.norm) = (inputChannels, ndf, norm)
  }

  public func validate(height: Int, width: Int) throws {
    try requireSide(height, width, multipleOf: 1, atLeast: 1, network: "pixel discriminator")
  }

  public var network: Named<Sequential> {
    let bias = norm.convolutionBias
    return Sequential {
      Pix2PixInit.conv(inputChannels, ndf, 1)
      LeakyReLU(0.2)
      Pix2PixInit.conv(ndf, ndf * 2, 1, bias: bias)
      norm.layer(ndf * 2)
      LeakyReLU(0.2)
      Pix2PixInit.conv(ndf * 2, 1, 1, bias: bias)
    }.named("net")
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try checkInput(x, channels: inputChannels, in: scope, "pixel discriminator")
    return try network(x, in: scope)
  }
}
