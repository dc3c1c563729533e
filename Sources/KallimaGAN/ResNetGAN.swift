import KallimaCore
import KallimaGraph
import KallimaNN

/// The ResNet G and D of SNGAN (Miyato et al. 2018, appendix B; the CIFAR-10 32x32 networks
/// and the 64x64 ones), in the shape and with the module names of torch_mimicry's
/// SNGANGenerator32/64 and SNGANDiscriminator32/64 (`l1`, `block2.c1.weight`,
/// `block2.b1.running_mean`, `block1.c_sc.weight`, `l5.weight`), so state dicts map one to
/// one. Convolutions are Xavier-uniform initialised (gain √2 in the blocks' 3x3 convs, 1
/// elsewhere), biases zero. Spectral norm on D is a binding option (`--spectral-norm`).
///
/// Sizes from `DCGANConfig`: nz, channels, imageSize (32 or 64); `ngf`/`ndf` are the block
/// width at 32x32 (SNGAN: 256 and 128) and the narrowest width at 64x64 (G 16·ngf → ngf, D
/// ndf → 16·ndf; SNGAN: 64 and 64).
public struct ResNetGAN {
  public let config: DCGANConfig

  public init(_ config: DCGANConfig) throws {
    guard config.imageSize == 32 || config.imageSize == 64 else {
      throw KallimaError.invalidArgument(op: "resnet", message: "the ResNet recipe makes 32x32 or 64x64 images, not \(config.imageSize)")
    }
    guard config.nz > 0, config.ngf > 0, config.ndf > 0, config.channels > 0 else {
      throw KallimaError.invalidArgument(op: "resnet", message: "nz, widths and channels must be positive")
    }
    self.config = config
  }

  /// G: z [N, nz] -> Linear to 4x4 -> up-sampling residual blocks -> BN, ReLU, conv3x3, tanh.
  public var generatorNetwork: Chain { generatorChain(classes: nil) }

  /// The class-conditional G of the projection-D paper (Miyato & Koyama 2018; torch_mimicry's
  /// SNGAN cGAN): each block's batch norms take their scale and shift from the class
  /// (`ConditionalBatchNorm2d` on the scope's condition "c", one-hot [N, classes]); the last
  /// batch norm stays unconditional.
  public func generatorNetwork(classes: Int) -> Chain { generatorChain(classes: classes) }

  func generatorChain(classes: Int?) -> Chain {
    let c = config
    let widths = c.imageSize == 32 ? [c.ngf, c.ngf, c.ngf, c.ngf] : [16, 8, 4, 2, 1].map { c.ngf * $0 }
    let last = widths.count + 1
    return Chain([
      Flatten(),
      Linear(c.nz, 16 * widths[0], weightInit: .xavierUniform(fanIn: c.nz, fanOut: 16 * widths[0]), biasInit: .constant(0))
        .named("l1"),
      Unflatten([widths[0], 4, 4]),
    ] + (1..<widths.count).map { i in
      GBlock(widths[i - 1], widths[i], classes: classes).named("block\(i + 1)") as any Layer
    } + [
      BatchNorm2d(widths[widths.count - 1]).named("b\(last)"),
      ReLU(),
      Conv2d(widths[widths.count - 1], c.channels, kernelSize: 3, padding: 1,
        weightInit: .xavierUniform(fanIn: widths[widths.count - 1] * 9, fanOut: c.channels * 9), biasInit: .constant(0))
        .named("c\(last)"),
      Tanh(),
    ])
  }

  /// D: an optimised first block, residual down-sampling blocks, ReLU, global sum pooling,
  /// Linear to one logit.
  public var discriminatorNetwork: Chain {
    let blocks = discriminatorBlocks
    return Chain(discriminatorBodyLayers + [
      Linear(discriminatorFeatures, 1, weightInit: .xavierUniform(fanIn: discriminatorFeatures, fanOut: 1), biasInit: .constant(0))
        .named("l\(blocks.count + 2)")
    ])
  }

  /// D without its last linear: image -> pooled features [N, discriminatorFeatures], the
  /// body a conditional head (the projection head, Miyato & Koyama 2018) sits on.
  public var discriminatorBody: Chain { Chain(discriminatorBodyLayers) }

  /// Width of D's pooled features.
  public var discriminatorFeatures: Int { discriminatorBlocks.last!.0 }

  /// (width, down-sample) per block after the first.
  var discriminatorBlocks: [(Int, Bool)] {
    let c = config
    return c.imageSize == 32
      ? [(c.ndf, true), (c.ndf, false), (c.ndf, false)]
      : [(2 * c.ndf, true), (4 * c.ndf, true), (8 * c.ndf, true), (16 * c.ndf, false)]
  }

  var discriminatorBodyLayers: [any Layer] {
    let c = config
    var layers: [any Layer] = [DBlockOptimized(c.channels, c.ndf).named("block1")]
    var width = c.ndf
    for (i, (out, down)) in discriminatorBlocks.enumerated() {
      layers.append(DBlock(width, out, downsample: down).named("block\(i + 2)"))
      width = out
    }
    return layers + [ReLU(), GlobalSumPool()]
  }
}

private func conv3x3(_ i: Int, _ o: Int) -> Conv2d {
  Conv2d(i, o, kernelSize: 3, padding: 1, weightInit: .xavierUniform(fanIn: i * 9, fanOut: o * 9, gain: 2.0.squareRoot()),
    biasInit: .constant(0))
}

private func conv1x1(_ i: Int, _ o: Int) -> Conv2d {
  Conv2d(i, o, kernelSize: 1, weightInit: .xavierUniform(fanIn: i, fanOut: o), biasInit: .constant(0))
}

/// Up-sampling residual block: BN, ReLU, ×2 nearest, conv3x3, BN, ReLU, conv3x3; shortcut
/// ×2 nearest then conv1x1.
struct GBlock: Layer {
  var input: Int
  var output: Int
  /// Class-conditional batch norm over this many classes (nil: plain batch norm).
  var classes: Int?
  init(_ input: Int, _ output: Int, classes: Int? = nil) { (self.input, self.output, self.classes) = (input, output, classes) }

  /// Batch norm, or class-conditional batch norm, of `features` channels as module `name`.
  func norm(_ features: Int, _ x: Value, in scope: Scope, named name: String) throws -> Value {
    if let classes {
      return try ConditionalBatchNorm2d(features, classes: classes, condition: conditionKey)(x, in: scope.child(name))
    }
    return try BatchNorm2d(features)(x, in: scope.child(name))
  }

  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    var h = try norm(input, x, in: scope, named: "b1")
    h = try ReLU()(h, in: scope)
    h = try UpsampleNearest(scale: 2)(h, in: scope)
    h = try conv3x3(input, output)(h, in: scope, named: "c1")
    h = try norm(output, h, in: scope, named: "b2")
    h = try ReLU()(h, in: scope)
    h = try conv3x3(output, output)(h, in: scope, named: "c2")
    let up = try UpsampleNearest(scale: 2)(x, in: scope.child("shortcut"))
    return try scope.add(h, try conv1x1(input, output)(up, in: scope, named: "c_sc"))
  }
}

/// Residual critic block: ReLU, conv3x3, ReLU, conv3x3 (then 2x2 average pooling when
/// down-sampling); shortcut conv1x1 (then pooling) when the width or size changes.
struct DBlock: Layer {
  var input: Int
  var output: Int
  var downsample: Bool
  init(_ input: Int, _ output: Int, downsample: Bool) { (self.input, self.output, self.downsample) = (input, output, downsample) }
  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    var h = try ReLU()(x, in: scope)
    h = try conv3x3(input, output)(h, in: scope, named: "c1")
    h = try ReLU()(h, in: scope)
    h = try conv3x3(output, output)(h, in: scope, named: "c2")
    if downsample { h = try AvgPool2d(2)(h, in: scope) }
    guard input != output || downsample else { return try scope.add(h, x) }
    var s = try conv1x1(input, output)(x, in: scope, named: "c_sc")
    if downsample { s = try AvgPool2d(2)(s, in: scope.child("shortcut")) }
    return try scope.add(h, s)
  }
}

/// The first critic block (no ReLU before the first conv): conv3x3, ReLU, conv3x3, pool;
/// shortcut pool then conv1x1.
struct DBlockOptimized: Layer {
  var input: Int
  var output: Int
  init(_ input: Int, _ output: Int) { (self.input, self.output) = (input, output) }
  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    var h = try conv3x3(input, output)(x, in: scope, named: "c1")
    h = try ReLU()(h, in: scope)
    h = try conv3x3(output, output)(h, in: scope, named: "c2")
    h = try AvgPool2d(2)(h, in: scope)
    let s = try AvgPool2d(2)(x, in: scope.child("shortcut"))
    return try scope.add(h, try conv1x1(input, output)(s, in: scope, named: "c_sc"))
  }
}
