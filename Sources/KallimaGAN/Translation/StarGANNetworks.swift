import KallimaCore
import KallimaGraph
import KallimaNN

/// StarGAN's generator (Choi et al. 2018, appendix, table 4): `Generator` of yunjey/stargan
/// (model.py), with its state-dict names (`main.0.weight`, `main.1.running_mean`,
/// `main.9.main.3.weight`, …).
///
/// Input images [N, imageChannels, H, W] and the target domain as the scope's condition "c"
/// (`conditionKey`), [N, domains] (one-hot or multi-hot labels), tiled over H x W and
/// concatenated after the image channels. Sequential `main` = [conv 7x7 p3 (convDim), IN,
/// ReLU; twice: conv 4x4 s2 p1 (×2), IN, ReLU; `repeatNum` ResidualBlocks (x + main(x), main =
/// [conv 3x3, IN, ReLU, conv 3x3, IN]); twice: conv-transpose 4x4 s2 p1 (÷2), IN, ReLU;
/// conv 7x7 p3 to imageChannels, tanh]. No convolution has a bias. Output [N, imageChannels,
/// H, W] in [−1, 1]; H and W must be multiples of 4.
///
/// Initialisation is PyTorch's default (StarGAN does not re-initialise): conv weights and
/// IN weights as `Conv2d`'s defaults, IN affine weight 1, bias 0.
///
/// IN is `nn.InstanceNorm2d(affine=True, track_running_stats=True)`: per-sample statistics,
/// affine, plus buffers `running_mean` (0) and `running_var` (1) so a StarGAN state dict
/// loads as is. Kallima keeps those buffers for interchange only: it does not update them,
/// and an eval binding normalises with the per-sample statistics, as StarGAN's own training
/// and test code do (it never calls `.eval()`, so PyTorch never reads them there either).
public struct StarGANGenerator: TranslationNetwork {
  public var convDim: Int
  /// c_dim: the number of domain labels.
  public var domains: Int
  public var repeatNum: Int
  public var imageChannels: Int

  public init(convDim: Int = 64, domains: Int = 5, repeatNum: Int = 6, imageChannels: Int = 3) throws {
    guard convDim > 0, domains > 0, repeatNum >= 0, imageChannels > 0 else {
      throw KallimaError.invalidArgument(
        op: "stargan generator", message: "conv_dim, c_dim and channels must be positive, repeat_num non-negative")
    }
    (self.convDim, self.domains, self.repeatNum, self.imageChannels) = (convDim, domains, repeatNum, imageChannels)
  }

  public func validate(height: Int, width: Int) throws {
    try requireSide(height, width, multipleOf: 4, atLeast: 4, network: "stargan generator")
  }

  /// The Sequential under the attribute name `main` (input: images ⊕ tiled labels).
  public var network: Named<Sequential> {
    Sequential {
      Conv2d(imageChannels + domains, convDim, kernelSize: 7, padding: 3, bias: false)
      StarGANInstanceNorm(convDim)
      ReLU()
      for mult in [1, 2] {
        Conv2d(convDim * mult, convDim * mult * 2, kernelSize: 4, stride: 2, padding: 1, bias: false)
        StarGANInstanceNorm(convDim * mult * 2)
        ReLU()
      }
      for _ in 0..<repeatNum {
        Residual(bodyName: "main") {
          Conv2d(convDim * 4, convDim * 4, kernelSize: 3, padding: 1, bias: false)
          StarGANInstanceNorm(convDim * 4)
          ReLU()
          Conv2d(convDim * 4, convDim * 4, kernelSize: 3, padding: 1, bias: false)
          StarGANInstanceNorm(convDim * 4)
        }
      }
      for mult in [4, 2] {
        ConvTranspose2d(convDim * mult, convDim * mult / 2, kernelSize: 4, stride: 2, padding: 1, bias: false)
        StarGANInstanceNorm(convDim * mult / 2)
        ReLU()
      }
      Conv2d(convDim, imageChannels, kernelSize: 7, padding: 3, bias: false)
      Tanh()
    }.named("main")
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try checkInput(x, channels: imageChannels, in: scope, "stargan generator")
    let s = scope.graph.shape(x)
    let c = try scope.condition(conditionKey, for: "stargan generator")
    guard scope.graph.shape(c) == [s[0], domains] else {
      throw KallimaError.shapeMismatch(
        op: scope.nodeName("stargan generator"),
        message: "the condition 'c' must be labels [\(s[0]), \(domains)], got \(scope.graph.shape(c))")
    }
    let labels = try tile(c, height: s[2], width: s[3], in: scope)
    let input = try scope.value(.concat, [x, labels], "x ⊕ c")
    return try network(input, in: scope)
  }
}

/// StarGAN's discriminator (Choi et al. 2018, table 5): `Discriminator` of yunjey/stargan
/// (model.py), names `main.N.weight`/`main.N.bias`, `conv1.weight`, `conv2.weight`.
///
/// Images [N, imageChannels, S, S] -> (source: PatchGAN logits [N, 1, S/2^r, S/2^r], classes:
/// domain logits [N, domains]). Sequential `main` = r times [conv 4x4 s2 p1 (convDim, then
/// ×2 each time; with bias), LeakyReLU(0.01)]; `conv1` = conv 3x3 s1 p1 to 1 channel and
/// `conv2` = conv with kernel S/2^r to `domains` channels, both without bias. PyTorch's
/// default initialisation.
///
/// r = `repeatNum`: StarGAN uses 6 at 128x128 (a 2x2 map). Left nil, it is the largest
/// r <= 6 with S a multiple of 2^r and S/2^r >= 2 (6 at 128 and 256, 4 at 32), so small
/// images work.
public struct StarGANDiscriminator {
  public var imageSize: Int
  public var convDim: Int
  public var domains: Int
  public var repeatNum: Int
  public var imageChannels: Int

  /// D's two heads.
  public struct Output {
    /// Real/fake logits per patch, [N, 1, S/2^r, S/2^r].
    public var source: Value
    /// Domain logits, [N, domains].
    public var classes: Value
  }

  public init(imageSize: Int = 128, convDim: Int = 64, domains: Int = 5, repeatNum: Int? = nil, imageChannels: Int = 3)
    throws
  {
    guard imageSize >= 2, convDim > 0, domains > 0, imageChannels > 0 else {
      throw KallimaError.invalidArgument(
        op: "stargan discriminator", message: "image size must be at least 2 and conv_dim, c_dim, channels positive")
    }
    var r = 0
    while r < 6, imageSize % (2 << r) == 0, imageSize / (2 << r) >= 2 { r += 1 }
    let repeats = repeatNum ?? r
    guard repeats >= 1, imageSize % (1 << repeats) == 0 else {
      throw KallimaError.invalidArgument(
        op: "stargan discriminator",
        message: "repeat_num \(repeats) needs the image size to be a multiple of \(1 << max(repeats, 0)), got "
          + "\(imageSize); leave repeat_num unset to derive it (\(r) here) or use a size such as 32, 64, 128")
    }
    (self.imageSize, self.convDim, self.domains, self.repeatNum) = (imageSize, convDim, domains, repeats)
    self.imageChannels = imageChannels
  }

  /// Width of the last feature map.
  public var features: Int { convDim << (repeatNum - 1) }

  public var main: Named<Sequential> {
    Sequential {
      for i in 0..<repeatNum {
        Conv2d(i == 0 ? imageChannels : convDim << (i - 1), convDim << i, kernelSize: 4, stride: 2, padding: 1)
        LeakyReLU(0.01)
      }
    }.named("main")
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Output {
    let s = scope.graph.shape(x)
    guard s.rank == 4, s[1] == imageChannels, s[2] == imageSize, s[3] == imageSize else {
      throw KallimaError.shapeMismatch(
        op: scope.nodeName("stargan discriminator"),
        message: "input must be images [N, \(imageChannels), \(imageSize), \(imageSize)] (the image size it was built "
          + "for), got \(s)")
    }
    let h = try main(x, in: scope)
    let source = try Conv2d(features, 1, kernelSize: 3, padding: 1, bias: false)(h, in: scope, named: "conv1")
    let k = imageSize >> repeatNum
    let logits = try Conv2d(features, domains, kernelSize: k, bias: false)(h, in: scope, named: "conv2")
    return Output(source: source, classes: try scope.value(.reshape([s[0], domains]), [logits], "class logits"))
  }
}

/// `nn.InstanceNorm2d(C, affine=True, track_running_stats=True)` as StarGAN uses it: instance
/// norm with `weight` (1) and `bias` (0), and the buffers `running_mean` (0) and
/// `running_var` (1) held in the store for state-dict interchange only (see
/// `StarGANGenerator`).
struct StarGANInstanceNorm: Layer {
  var features: Int
  init(_ features: Int) { self.features = features }

  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let y = try InstanceNorm2d(features, affine: true)(x, in: scope)
    try scope.store.tensor(scope.qualified("running_mean"), [features], .constant(0), trainable: false)
    try scope.store.tensor(scope.qualified("running_var"), [features], .constant(1), trainable: false)
    return y
  }
}
