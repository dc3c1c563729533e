import KallimaCore
import KallimaData
import KallimaGraph

/// The Inception-v3 feature extractor of FID (Szegedy et al., "Rethinking the Inception
/// Architecture for Computer Vision", 2016; Heusel et al., "GANs Trained by a Two
/// Time-Scale Update Rule Converge to a Local Nash Equilibrium", 2017), exactly as
/// pytorch-fid computes it (pytorch_fid/inception.py, `InceptionV3` over
/// `fid_inception_v3()`), built from Kallima's ops:
///
///   images [N, 3, H, W] in [0, 1]
///   → bilinear resize to 299×299 (align_corners=False)   (skipped when already 299×299:
///                                                          that resize is the identity)
///   → 2x − 1
///   → stem: Conv2d_1a_3x3 (s2), Conv2d_2a_3x3, Conv2d_2b_3x3 (p1), max pool 3/2,
///           Conv2d_3b_1x1, Conv2d_4a_3x3, max pool 3/2                → [N, 192, 35, 35]
///   → Mixed_5b/5c/5d (FIDInceptionA), Mixed_6a (InceptionB),
///     Mixed_6b–6e (FIDInceptionC), Mixed_7a (InceptionD),
///     Mixed_7b (FIDInceptionE_1), Mixed_7c (FIDInceptionE_2)           → [N, 2048, 8, 8]
///   → adaptive average pool to 1×1                                     → pool3 [N, 2048]
///   → fc (dropout is the identity in eval)                             → logits [N, 1008]
///
/// BasicConv2d is conv (no bias) → BatchNorm (eval, eps 0.001) → ReLU. The FID blocks
/// differ from torchvision's: their pool branches average with count_include_pad=False
/// (TensorFlow's pooling), and Mixed_7c's pool branch is a 3×3 stride-1 *max* pool.
///
/// Weights are named as in the state dict of pytorch-fid's `fid_inception_v3()` (the keys
/// of pt_inception-2015-12-05-6726825d.pth), e.g. `Conv2d_1a_3x3.conv.weight`,
/// `Conv2d_1a_3x3.bn.{weight,bias,running_mean,running_var}`,
/// `Mixed_5b.branch1x1.conv.weight`, `Mixed_7c.branch3x3dbl_3b.bn.running_var`,
/// `fc.weight` [1008, 2048], `fc.bias` [1008]: 472 tensors, listed by `parameterSpecs`
/// in state-dict order. BatchNorm's `num_batches_tracked` is not used. Convert the
/// PyTorch file with Scripts/convert_inception_weights.py.
public final class InceptionV3 {
  /// pool3 width: the features FID, KID and precision/recall use.
  public static let featureCount = 2048
  /// Logit count of this network (1008 classes: the 2015 TensorFlow graph's head), for the
  /// Inception Score.
  public static let classCount = 1008
  /// Side the images are resized to.
  public static let resolution = 299
  /// BasicConv2d's BatchNorm epsilon.
  public static let batchNormEps: Float = 0.001
  /// Output names of the networks `extractor` builds.
  public static let pool3 = "pool3"
  public static let logits = "logits"

  /// How to get a weights file, for error messages.
  public static let weightsRemedy =
    "Convert pytorch-fid's pt_inception-2015-12-05-6726825d.pth with "
    + "`python Scripts/convert_inception_weights.py pt_inception-2015-12-05-6726825d.pth inception.safetensors`."

  public let backend: Backend
  public let weights: NetworkWeights
  private struct ExtractorKey: Hashable {
    var batch: Int, height: Int, width: Int, blocks: [String]
  }
  private var extractors: [ExtractorKey: FeatureNetwork] = [:]

  /// Uses weights already on `backend`; every tensor of `parameterSpecs` must be there.
  public init(backend: Backend, weights: NetworkWeights) throws {
    for spec in InceptionV3.parameterSpecs { _ = try weights.tensor(for: spec) }
    self.backend = backend
    self.weights = weights
  }

  /// Loads the weights from a safetensors file (see Scripts/convert_inception_weights.py),
  /// checking every name and shape.
  public convenience init(backend: Backend, weightsFile path: String) throws {
    let host: [SafetensorsTensor]
    do {
      host = try SafetensorsFile.read(path).tensors
    } catch {
      throw KallimaError.io(path: path, message: "cannot read the Inception weights (\(error)). \(InceptionV3.weightsRemedy)")
    }
    let weights = try NetworkWeights(
      backend: backend, host: host, expected: InceptionV3.parameterSpecs, source: path,
      remedy: InceptionV3.weightsRemedy, ignoring: { $0.hasSuffix(".num_batches_tracked") })
    try self.init(backend: backend, weights: weights)
  }

  /// Every weight of the network, in state-dict order (traced from the graph description).
  public static let parameterSpecs: [ParameterSpec] = {
    let b = NetworkBuilder()
    let x = b.graph.input([1, 3, resolution, resolution], name: "images")
    do {
      _ = try network(b, images: x)
    } catch {
      fatalError("InceptionV3's own description does not build: \(error)")
    }
    return b.parameters
  }()

  // MARK: Extraction

  /// The compiled network for batches of `batch` images of h×w (cached: PoCL compiles a
  /// program per conv geometry the first time, so reuse one extractor per size).
  /// Outputs `pool3` [batch, 2048], `logits` [batch, 1008], and the output of each block in
  /// `blockOutputs` under its name (e.g. "Mixed_6e" [batch, 768, 17, 17]; kept blocks stay
  /// resident, so ask only for what you read).
  public func extractor(batch: Int, height: Int, width: Int, blockOutputs: [Block] = []) throws -> FeatureNetwork {
    let key = ExtractorKey(batch: batch, height: height, width: width, blocks: blockOutputs.map(\.rawValue))
    if let e = extractors[key] { return e }
    let e = try FeatureNetwork(backend: backend, weights: weights, inputShape: [batch, 3, height, width]) { b, x in
      let out = try InceptionV3.network(b, images: x)
      var named = [InceptionV3.pool3: out.pool3, InceptionV3.logits: out.logits]
      for block in blockOutputs { named[block.rawValue] = out.blocks[block] }
      return named
    }
    extractors[key] = e
    return e
  }

  /// pool3 features [N, 2048] of `images` [N, 3, H, W] (float, [0, 1], any H and W),
  /// computed `batch` images at a time, and optionally the logits [N, 1008]. Both are new
  /// device tensors; nothing is read back (FID, IS, KID and precision/recall consume them
  /// on the device). The batch trades memory for speed (results agree to float32 rounding):
  /// 16 needs about 300 MiB of activations plus ~0.4 GiB of im2col workspace at 299×299;
  /// PoCL on 2 cores gains little beyond 8. The first call per (batch, H, W) compiles.
  public func features(_ images: Tensor, batch: Int = 16, logits: Bool = false) throws -> (
    features: Tensor, logits: Tensor?
  ) {
    let names = logits ? [InceptionV3.pool3, InceptionV3.logits] : [InceptionV3.pool3]
    let out = try map(images, batch: batch, outputs: names, op: "Inception features")
    return (out[InceptionV3.pool3]!, out[InceptionV3.logits])
  }

  // MARK: Graph description

  /// The values `network` adds: pool3 [N, 2048], logits [N, 1008], and each block's output.
  public struct Outputs {
    public var pool3: Value
    public var logits: Value
    public var blocks: [Block: Value]
  }

  /// The whole network on `images` [N, 3, H, W] in [0, 1].
  public static func network(_ b: NetworkBuilder, images: Value) throws -> Outputs {
    let g = b.graph
    var x = images
    let (_, _, h, w) = try g.shape(x).nchw("InceptionV3", "images")
    if h != resolution || w != resolution {
      x = try g.value(.upsampleBilinear(height: resolution, width: resolution), [x], name: "resize to 299")
    }
    x = try g.value(.scale(2), [x], name: "normalize 2x")
    x = try g.value(.addChannel, [x, g.constant(-1, [3], name: "-1")], name: "normalize 2x - 1")
    var blocks: [Block: Value] = [:]
    for block in Block.allCases {
      x = try block(b, x)
      blocks[block] = x
    }
    let (pool3, logits) = try head(b, x)
    return Outputs(pool3: pool3, logits: logits, blocks: blocks)
  }

  /// Adaptive average pool to 1×1 and the fc layer: [N, 2048, H, W] → pool3, logits.
  public static func head(_ b: NetworkBuilder, _ x: Value) throws -> (pool3: Value, logits: Value) {
    let g = b.graph
    let (n, c, h, w) = try g.shape(x).nchw("InceptionV3 head", "x")
    let pooled = try g.value(.avgPool2d(.global(h: h, w: w), countIncludePad: true), [x], name: "avgpool")
    let pool3 = try g.value(.reshape([n, c]), [pooled], name: "pool3")
    let weight = try b.parameter("fc.weight", [classCount, c])
    let bias = try b.parameter("fc.bias", [classCount])
    let product = try g.value(.matmul(transposeA: false, transposeB: true, alpha: 1), [pool3, weight], name: "fc")
    let logits = try g.value(.addChannel, [product, bias], name: "fc bias")
    return (pool3, logits)
  }

  /// The network's stages, in order, named by their state-dict prefix. Each can be built on
  /// its own (the tests check each against PyTorch).
  public enum Block: String, CaseIterable, Sendable {
    /// Conv2d_1a_3x3 … Conv2d_4a_3x3 with both max pools: [N, 3, H, W] → [N, 192, ·, ·].
    case stem
    case mixed5b = "Mixed_5b", mixed5c = "Mixed_5c", mixed5d = "Mixed_5d"
    case mixed6a = "Mixed_6a"
    case mixed6b = "Mixed_6b", mixed6c = "Mixed_6c", mixed6d = "Mixed_6d", mixed6e = "Mixed_6e"
    case mixed7a = "Mixed_7a"
    case mixed7b = "Mixed_7b", mixed7c = "Mixed_7c"

    /// Input channels the block's weights expect.
    public var inputChannels: Int {
      switch self {
      case .stem: return 3
      case .mixed5b: return 192
      case .mixed5c: return 256
      case .mixed5d, .mixed6a: return 288
      case .mixed6b, .mixed6c, .mixed6d, .mixed6e, .mixed7a: return 768
      case .mixed7b: return 1280
      case .mixed7c: return 2048
      }
    }

    /// Adds the block to the builder's graph.
    public func callAsFunction(_ b: NetworkBuilder, _ x: Value) throws -> Value {
      let p = rawValue
      switch self {
      case .stem: return try InceptionV3.stem(b, x)
      case .mixed5b: return try InceptionV3.inceptionA(b, x, p, poolFeatures: 32)
      case .mixed5c, .mixed5d: return try InceptionV3.inceptionA(b, x, p, poolFeatures: 64)
      case .mixed6a: return try InceptionV3.inceptionB(b, x, p)
      case .mixed6b: return try InceptionV3.inceptionC(b, x, p, channels7x7: 128)
      case .mixed6c, .mixed6d: return try InceptionV3.inceptionC(b, x, p, channels7x7: 160)
      case .mixed6e: return try InceptionV3.inceptionC(b, x, p, channels7x7: 192)
      case .mixed7a: return try InceptionV3.inceptionD(b, x, p)
      case .mixed7b: return try InceptionV3.inceptionE(b, x, p, poolBranchMax: false)
      case .mixed7c: return try InceptionV3.inceptionE(b, x, p, poolBranchMax: true)
      }
    }
  }

  /// torchvision's BasicConv2d: conv (no bias) → BatchNorm eval (eps 0.001) → ReLU, with
  /// weights `name.conv.weight` [out, in, kh, kw] and `name.bn.*` [out].
  static func basicConv(
    _ b: NetworkBuilder, _ x: Value, _ name: String, _ outChannels: Int, kernel: (Int, Int),
    stride: Int = 1, padding: (Int, Int) = (0, 0)
  ) throws -> Value {
    let g = b.graph
    let inChannels = g.shape(x)[1]
    let weight = try b.parameter("\(name).conv.weight", [outChannels, inChannels, kernel.0, kernel.1])
    let bn = try ["weight", "bias", "running_mean", "running_var"].map { try b.parameter("\(name).bn.\($0)", [outChannels]) }
    let params = Conv2dParams(stride: (stride, stride), padding: padding)
    let conv = try g.value(.conv2d(params), [x, weight], name: "\(name).conv")
    let normed = try g.value(.batchnormEval(eps: batchNormEps), [conv] + bn, name: "\(name).bn")
    return try g.value(.activation(.relu), [normed], name: "\(name) relu")
  }

  /// F.avg_pool2d(x, 3, stride 1, padding 1, count_include_pad=False): the FID blocks' pool.
  static func fidAveragePool(_ b: NetworkBuilder, _ x: Value, _ name: String) throws -> Value {
    try b.graph.value(.avgPool2d(Pool2dParams(kernel: 3, stride: 1, padding: 1), countIncludePad: false), [x], name: name)
  }

  static func concat(_ b: NetworkBuilder, _ parts: [Value], _ name: String) throws -> Value {
    try b.graph.value(.concat, parts, name: name)
  }

  static func stem(_ b: NetworkBuilder, _ x: Value) throws -> Value {
    var h = try basicConv(b, x, "Conv2d_1a_3x3", 32, kernel: (3, 3), stride: 2)
    h = try basicConv(b, h, "Conv2d_2a_3x3", 32, kernel: (3, 3))
    h = try basicConv(b, h, "Conv2d_2b_3x3", 64, kernel: (3, 3), padding: (1, 1))
    h = try b.graph.value(.maxPool2d(Pool2dParams(kernel: 3, stride: 2)), [h], name: "maxpool1")
    h = try basicConv(b, h, "Conv2d_3b_1x1", 80, kernel: (1, 1))
    h = try basicConv(b, h, "Conv2d_4a_3x3", 192, kernel: (3, 3))
    return try b.graph.value(.maxPool2d(Pool2dParams(kernel: 3, stride: 2)), [h], name: "maxpool2")
  }

  /// FIDInceptionA: 1×1 (64) | 1×1 (48) → 5×5 (64) | 1×1 (64) → 3×3 (96) → 3×3 (96) |
  /// avg pool (count_include_pad=False) → 1×1 (pool_features).
  static func inceptionA(_ b: NetworkBuilder, _ x: Value, _ p: String, poolFeatures: Int) throws -> Value {
    let b1 = try basicConv(b, x, "\(p).branch1x1", 64, kernel: (1, 1))
    var b5 = try basicConv(b, x, "\(p).branch5x5_1", 48, kernel: (1, 1))
    b5 = try basicConv(b, b5, "\(p).branch5x5_2", 64, kernel: (5, 5), padding: (2, 2))
    var b3 = try basicConv(b, x, "\(p).branch3x3dbl_1", 64, kernel: (1, 1))
    b3 = try basicConv(b, b3, "\(p).branch3x3dbl_2", 96, kernel: (3, 3), padding: (1, 1))
    b3 = try basicConv(b, b3, "\(p).branch3x3dbl_3", 96, kernel: (3, 3), padding: (1, 1))
    let pooled = try fidAveragePool(b, x, "\(p) avg_pool")
    let bp = try basicConv(b, pooled, "\(p).branch_pool", poolFeatures, kernel: (1, 1))
    return try concat(b, [b1, b5, b3, bp], p)
  }

  /// InceptionB (torchvision's, unchanged): 3×3 s2 (384) | 1×1 (64) → 3×3 (96) → 3×3 s2
  /// (96) | max pool 3/2.
  static func inceptionB(_ b: NetworkBuilder, _ x: Value, _ p: String) throws -> Value {
    let b3 = try basicConv(b, x, "\(p).branch3x3", 384, kernel: (3, 3), stride: 2)
    var bd = try basicConv(b, x, "\(p).branch3x3dbl_1", 64, kernel: (1, 1))
    bd = try basicConv(b, bd, "\(p).branch3x3dbl_2", 96, kernel: (3, 3), padding: (1, 1))
    bd = try basicConv(b, bd, "\(p).branch3x3dbl_3", 96, kernel: (3, 3), stride: 2)
    let bp = try b.graph.value(.maxPool2d(Pool2dParams(kernel: 3, stride: 2)), [x], name: "\(p) max_pool")
    return try concat(b, [b3, bd, bp], p)
  }

  /// FIDInceptionC: 1×1 (192) | 1×1 (c7) → 1×7 → 7×1 (192) | 1×1 (c7) → 7×1 → 1×7 → 7×1
  /// → 1×7 (192) | avg pool (count_include_pad=False) → 1×1 (192).
  static func inceptionC(_ b: NetworkBuilder, _ x: Value, _ p: String, channels7x7 c7: Int) throws -> Value {
    let b1 = try basicConv(b, x, "\(p).branch1x1", 192, kernel: (1, 1))
    var b7 = try basicConv(b, x, "\(p).branch7x7_1", c7, kernel: (1, 1))
    b7 = try basicConv(b, b7, "\(p).branch7x7_2", c7, kernel: (1, 7), padding: (0, 3))
    b7 = try basicConv(b, b7, "\(p).branch7x7_3", 192, kernel: (7, 1), padding: (3, 0))
    var bd = try basicConv(b, x, "\(p).branch7x7dbl_1", c7, kernel: (1, 1))
    bd = try basicConv(b, bd, "\(p).branch7x7dbl_2", c7, kernel: (7, 1), padding: (3, 0))
    bd = try basicConv(b, bd, "\(p).branch7x7dbl_3", c7, kernel: (1, 7), padding: (0, 3))
    bd = try basicConv(b, bd, "\(p).branch7x7dbl_4", c7, kernel: (7, 1), padding: (3, 0))
    bd = try basicConv(b, bd, "\(p).branch7x7dbl_5", 192, kernel: (1, 7), padding: (0, 3))
    let pooled = try fidAveragePool(b, x, "\(p) avg_pool")
    let bp = try basicConv(b, pooled, "\(p).branch_pool", 192, kernel: (1, 1))
    return try concat(b, [b1, b7, bd, bp], p)
  }

  /// InceptionD (torchvision's, unchanged): 1×1 (192) → 3×3 s2 (320) | 1×1 (192) → 1×7 →
  /// 7×1 → 3×3 s2 (192) | max pool 3/2.
  static func inceptionD(_ b: NetworkBuilder, _ x: Value, _ p: String) throws -> Value {
    var b3 = try basicConv(b, x, "\(p).branch3x3_1", 192, kernel: (1, 1))
    b3 = try basicConv(b, b3, "\(p).branch3x3_2", 320, kernel: (3, 3), stride: 2)
    var b7 = try basicConv(b, x, "\(p).branch7x7x3_1", 192, kernel: (1, 1))
    b7 = try basicConv(b, b7, "\(p).branch7x7x3_2", 192, kernel: (1, 7), padding: (0, 3))
    b7 = try basicConv(b, b7, "\(p).branch7x7x3_3", 192, kernel: (7, 1), padding: (3, 0))
    b7 = try basicConv(b, b7, "\(p).branch7x7x3_4", 192, kernel: (3, 3), stride: 2)
    let bp = try b.graph.value(.maxPool2d(Pool2dParams(kernel: 3, stride: 2)), [x], name: "\(p) max_pool")
    return try concat(b, [b3, b7, bp], p)
  }

  /// FIDInceptionE_1 / E_2: 1×1 (320) | 1×1 (384) → [1×3 | 3×1] (384 each) | 1×1 (448) →
  /// 3×3 (384) → [1×3 | 3×1] (384 each) | pool → 1×1 (192). The pool is an average with
  /// count_include_pad=False in E_1 (Mixed_7b) and a 3×3 stride-1 max pool in E_2 (Mixed_7c).
  static func inceptionE(_ b: NetworkBuilder, _ x: Value, _ p: String, poolBranchMax: Bool) throws -> Value {
    let b1 = try basicConv(b, x, "\(p).branch1x1", 320, kernel: (1, 1))
    let b3 = try basicConv(b, x, "\(p).branch3x3_1", 384, kernel: (1, 1))
    let b3a = try basicConv(b, b3, "\(p).branch3x3_2a", 384, kernel: (1, 3), padding: (0, 1))
    let b3b = try basicConv(b, b3, "\(p).branch3x3_2b", 384, kernel: (3, 1), padding: (1, 0))
    var bd = try basicConv(b, x, "\(p).branch3x3dbl_1", 448, kernel: (1, 1))
    bd = try basicConv(b, bd, "\(p).branch3x3dbl_2", 384, kernel: (3, 3), padding: (1, 1))
    let bda = try basicConv(b, bd, "\(p).branch3x3dbl_3a", 384, kernel: (1, 3), padding: (0, 1))
    let bdb = try basicConv(b, bd, "\(p).branch3x3dbl_3b", 384, kernel: (3, 1), padding: (1, 0))
    let pooled =
      poolBranchMax
      ? try b.graph.value(.maxPool2d(Pool2dParams(kernel: 3, stride: 1, padding: 1)), [x], name: "\(p) max_pool")
      : try fidAveragePool(b, x, "\(p) avg_pool")
    let bp = try basicConv(b, pooled, "\(p).branch_pool", 192, kernel: (1, 1))
    // torch.cat([branch1x1, cat(3x3 a, b), cat(3x3dbl a, b), branch_pool]) is one flat concat.
    return try concat(b, [b1, b3a, b3b, bda, bdb, bp], p)
  }
}
