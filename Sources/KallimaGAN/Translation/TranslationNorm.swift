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
