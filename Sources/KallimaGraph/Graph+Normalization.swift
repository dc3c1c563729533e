import KallimaCore

/// Normalisations without batch statistics (critics for WGAN-GP, DRAGAN and R1 should not
/// use batch norm: it couples the samples, and the penalty is per sample). All three are the
/// `.instanceNorm` op on a view of x, and return the normalised value without affine: the
/// per-channel γ, β of PyTorch's affine versions are `mulChannel` / `addChannel` on the
/// result. As in PyTorch the variance is the biased one (divided by the group size, not one
/// less) and eps is added inside the square root: y = (x − mean)/√(var + eps); PyTorch's
/// default eps is 1e-5 for all three.
extension Graph {
  /// `nn.InstanceNorm2d(C, affine=False)` (Ulyanov et al. 2016): each (n, c) plane of
  /// x [N, C, H, W] normalised over H·W (needs H·W > 1). Running statistics are not kept
  /// (PyTorch's default track_running_stats=False), so train and eval agree.
  public func instanceNorm(_ x: Value, eps: Float = 1e-5, name: String? = nil) throws -> Value {
    try add(.instanceNorm(eps: eps), [x], name: name ?? "instance_norm")[0]
  }

  /// `nn.GroupNorm(groups, C, affine=False)` (Wu & He 2018): x [N, C, ...] with C divisible
  /// by `groups`; each sample's channels split into `groups` consecutive blocks, each block
  /// normalised over its channels and spatial positions together. Computed as instance norm
  /// of the view [N, groups, (C/groups)·H·W, 1] (a block is contiguous in NCHW).
  public func groupNorm(_ x: Value, groups: Int, eps: Float = 1e-5, name: String? = nil) throws -> Value {
    let s = shape(x)
    let label = name ?? "group_norm"
    guard s.rank >= 2, groups > 0, s[1] % groups == 0 else {
      throw KallimaError.shapeMismatch(
        op: "group_norm '\(label)'", message: "x \(s) must be [N, C, ...] with C divisible by \(groups) groups")
    }
    let view: Shape = [s[0], groups, s.count / (s[0] * groups), 1]
    let viewed = try value(.reshape(view), [x], name: label)
    return try value(.reshape(s), [try instanceNorm(viewed, eps: eps, name: label)], name: label)
  }

  /// `nn.LayerNorm([C, H, W], elementwise_affine=False)` (Ba et al. 2016): each sample of
  /// x [N, ...] normalised over all its other axes; `groupNorm` with one group. (PyTorch's
  /// affine LayerNorm has a γ, β per element of [C, H, W], not per channel.)
  public func layerNorm(_ x: Value, eps: Float = 1e-5, name: String? = nil) throws -> Value {
    try groupNorm(x, groups: 1, eps: eps, name: name ?? "layer_norm")
  }
}
