import KallimaCore
import KallimaGraph
import KallimaNN

/// The normalisation of pix2pix/CycleGAN's networks (`get_norm_layer` in
/// junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py), and with it whether their
/// convolutions carry a bias: `use_bias = norm is InstanceNorm2d` (batch norm's shift makes a
/// bias redundant; instance norm here has no affine, so the bias is kept).
public enum TranslationNorm: String, Sendable, CaseIterable {
  /// `nn.BatchNorm2d(C, affine=True, track_running_stats=True)`; weight N(1, 0.02), bias 0
  /// (`init_weights('normal', 0.02)`). Parameters `weight`, `bias`; buffers `running_mean`,
  /// `running_var` (PyTorch's `num_batches_tracked` counter is not kept).
  case batch
  /// `nn.InstanceNorm2d(C, affine=False, track_running_stats=False)` (Ulyanov et al. 2016):
  /// no parameters, no buffers, the same in train and eval.
  case instance
  /// No normalisation: an identity module that still takes its index (networks.py's
  /// `Identity`); convolutions without bias, as there (`use_bias` is False).
  case none

  /// networks.py's `use_bias`.
  public var convolutionBias: Bool { self == .instance }

  /// The norm module for `channels` feature maps (it always takes a Sequential index).
  public func layer(_ channels: Int) -> any Layer {
    switch self {
    case .batch: return BatchNorm2d(channels, weightInit: .normal(mean: 1, std: 0.02))
    case .instance: return InstanceNorm2d(channels, affine: false)
    case .none: return IdentityLayer()
    }
  }
}

/// A module that returns its input (PyTorch's `nn.Identity`): a placeholder that keeps the
/// Sequential indices of the layers after it.
struct IdentityLayer: Layer {
  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value { x }
}

/// pix2pix/CycleGAN's `init_weights(net, 'normal', gain=0.02)`: every conv and
/// conv-transpose weight N(0, 0.02), every bias 0.
enum Pix2PixInit {
  static let weight = ParameterInit.normal(mean: 0, std: 0.02)
  static let bias = ParameterInit.constant(0)

  static func conv(_ i: Int, _ o: Int, _ k: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) -> Conv2d {
    Conv2d(i, o, kernelSize: k, stride: stride, padding: padding, bias: bias, weightInit: weight, biasInit: Pix2PixInit.bias)
  }

  static func convTranspose(
    _ i: Int, _ o: Int, _ k: Int, stride: Int, padding: Int, outputPadding: Int = 0, bias: Bool = true
  ) -> ConvTranspose2d {
    ConvTranspose2d(
      i, o, kernelSize: k, stride: stride, padding: padding, outputPadding: outputPadding, bias: bias, weightInit: weight,
      biasInit: Pix2PixInit.bias)
  }
}

/// A translation network: a layer that takes images [N, C, H, W] of the sizes its strides
/// allow, and says which those are before anything is built.
public protocol TranslationNetwork: Layer {
  /// Throws a clear error when an H x W input cannot go through the network.
  func validate(height: Int, width: Int) throws
}

extension TranslationNetwork {
  /// Checks that `x` is [N, channels, H, W] with a size `validate` allows.
  func checkInput(_ x: Value, channels: Int, in scope: Scope, _ what: String) throws {
    let s = scope.graph.shape(x)
    guard s.rank == 4, s[1] == channels else {
      throw KallimaError.shapeMismatch(
        op: scope.nodeName(what), message: "input must be images [N, \(channels), H, W], got \(s)")
    }
    try validate(height: s[2], width: s[3])
  }
}

/// Throws unless H and W are positive multiples of `multiple` and at least `minimum`.
func requireSide(_ height: Int, _ width: Int, multipleOf multiple: Int, atLeast minimum: Int, network: String) throws {
  for side in [height, width] where side < minimum || side % multiple != 0 {
    let examples = (0..<4).map { String(max(minimum, multiple) + $0 * multiple) }.joined(separator: ", ")
    throw KallimaError.invalidArgument(
      op: network,
      message: "cannot take \(height)x\(width) images: height and width must be multiples of \(multiple) and at least "
        + "\(minimum) (\(examples), …); resize or crop the images to such a size")
  }
}
