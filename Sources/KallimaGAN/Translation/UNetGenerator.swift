import KallimaCore
import KallimaGraph
import KallimaNN

/// pix2pix's U-Net generator (Isola et al. 2017, appendix 6.1.1; Ronneberger et al. 2015):
/// `UnetGenerator` of junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py), module for
/// module, so state dicts map one to one (`model.model.0.weight`,
/// `model.model.1.model.1.weight`, `model.model.1.model.2.running_mean`, …).
///
/// Images [N, inputChannels, H, W] -> [N, outputChannels, H, W] in [−1, 1] (tanh). `downs`
/// stride-2 4x4 convolutions take H x W to H/2^downs x W/2^downs (1x1 at the reference
/// sizes: unet_256 = 8 downs, unet_128 = 7, unet_64 = 6, unet_32 = 5), so H and W must be
/// multiples of 2^downs. Widths from the outside in: ngf, 2·ngf, 4·ngf, then 8·ngf for every
/// deeper level.
///
/// Each level but the outermost is `UnetSkipConnectionBlock`: Sequential `model` =
/// [LeakyReLU(0.2), down conv 4x4 s2, norm (not at the innermost level), the next level,
/// ReLU, up conv-transpose 4x4 s2 p1, norm, Dropout(0.5) (only with `dropout`, in the
/// `downs − 5` levels between the innermost and the 8·ngf→4·ngf one: the three nearest the
/// bottleneck for unet_256)], returning concat(skip, model(x)) along channels. As in the
/// reference, the skip is LeakyReLU(x), not x: its LeakyReLU is in place and rewrites x before
/// `torch.cat([x, self.model(x)], 1)` reads it. The outermost level is [down conv, the next
/// level, ReLU, up conv-transpose (with bias), tanh] with no skip.
///
/// Convolutions carry a bias only with instance norm (`TranslationNorm.convolutionBias`);
/// weights N(0, 0.02), biases 0, batch-norm scales N(1, 0.02) (`init_weights`).
public struct UNetGenerator: TranslationNetwork {
  public var inputChannels: Int
  public var outputChannels: Int
  /// Number of stride-2 down-samplings (>= 5).
  public var downs: Int
  public var ngf: Int
  public var norm: TranslationNorm
  /// Dropout(0.5) in the levels nearest the bottleneck (pix2pix trains with it; CycleGAN's
  /// `--no_dropout` is the default there). A property of the network, active only in a train
  /// binding.
  public var dropout: Bool

  public init(
    inputChannels: Int = 3, outputChannels: Int = 3, downs: Int = 8, ngf: Int = 64, norm: TranslationNorm = .batch,
    dropout: Bool = false
  ) throws {
    guard downs >= 5 else {
      throw KallimaError.invalidArgument(
        op: "unet", message: "a U-Net needs at least 5 down-samplings (unet_32), got \(downs)")
    }
    guard inputChannels > 0, outputChannels > 0, ngf > 0 else {
      throw KallimaError.invalidArgument(op: "unet", message: "channels and ngf must be positive")
    }
    (self.inputChannels, self.outputChannels, self.downs, self.ngf) = (inputChannels, outputChannels, downs, ngf)
    (self.norm, self.dropout) = (norm, dropout)
  }

  /// The smallest side it takes: 2^downs (the bottleneck is then 1x1).
  public var minimumSide: Int { 1 << downs }

  public func validate(height: Int, width: Int) throws {
    try requireSide(height, width, multipleOf: minimumSide, atLeast: minimumSide, network: "unet_\(minimumSide)")
  }

  /// The whole network under the attribute names `model` (UnetGenerator.model, the outermost
  /// block) and `model` (that block's Sequential).
  public var network: Named<Named<Sequential>> {
    var level = UNetLevel(outer: ngf * 8, inner: ngf * 8, submodule: nil, norm: norm, dropout: false)
    for _ in 0..<(downs - 5) {
      level = UNetLevel(outer: ngf * 8, inner: ngf * 8, submodule: level, norm: norm, dropout: dropout)
    }
    for (outer, inner) in [(ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)] {
      level = UNetLevel(outer: outer, inner: inner, submodule: level, norm: norm, dropout: false)
    }
    let outermost = Sequential {
      Pix2PixInit.conv(inputChannels, ngf, 4, stride: 2, padding: 1, bias: norm.convolutionBias)
      level
      ReLU()
      Pix2PixInit.convTranspose(ngf * 2, outputChannels, 4, stride: 2, padding: 1)
      Tanh()
    }
    return outermost.named("model").named("model")
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try checkInput(x, channels: inputChannels, in: scope, "unet")
    return try network(x, in: scope)
  }
}

/// One non-outermost `UnetSkipConnectionBlock`: x -> concat(s, model[1...](s)) with
/// s = LeakyReLU(0.2)(x), `model.0` being that LeakyReLU (see `UNetGenerator`).
struct UNetLevel: Layer {
  /// The block's Sequential `model`; layer 0 is the LeakyReLU whose output is also the skip.
  var model: [any Layer]

  init(outer: Int, inner: Int, submodule: UNetLevel?, norm: TranslationNorm, dropout: Bool) {
    let bias = norm.convolutionBias
    var layers: [any Layer] = [LeakyReLU(0.2), Pix2PixInit.conv(outer, inner, 4, stride: 2, padding: 1, bias: bias)]
    if let submodule {
      layers += [norm.layer(inner), submodule, ReLU()]
      layers.append(Pix2PixInit.convTranspose(inner * 2, outer, 4, stride: 2, padding: 1, bias: bias))
    } else {
      layers += [ReLU(), Pix2PixInit.convTranspose(inner, outer, 4, stride: 2, padding: 1, bias: bias)]
    }
    layers.append(norm.layer(outer))
    if dropout { layers.append(Dropout(0.5)) }
    model = layers
  }

  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let inner = scope.child("model")
    let skip = try model[0](x, in: inner.child("0"))
    var h = skip
    for i in 1..<model.count { h = try model[i](h, in: inner.child("\(i)")) }
    return try scope.value(.concat, [skip, h], "concat")
  }
}
