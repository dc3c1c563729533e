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

extension Graph {
  /// Batch norm in train mode with statistics over the whole batch of a data-parallel job of
  /// `ranks` equal parts (`torch.nn.SyncBatchNorm`): the per-channel mean, then the variance
  /// around it, each a local sum averaged over the ranks (`allreduceMean`, two passes, as
  /// stable as one process's), y = (x − mean)·rsqrt(var + eps)·γ + β, and the running
  /// statistics moved by `momentum` with the unbiased variance of all ranks' values. Built
  /// from differentiable ops: the gradient flows through the statistics, and through the
  /// averages into every rank's x, as `allreduceMean`'s rule averages dy. With one rank it
  /// is plain batch norm (the `batchnormTrain` op's values, computed another way).
  public func synchronizedBatchNorm(
    _ x: Value, gamma: Value, beta: Value, runningMean: Value, runningVar: Value, momentum: Float, eps: Float, ranks: Int,
    name: String
  ) throws -> Value {
    let s = shape(x)
    guard s.rank >= 2, s.count / s[1] >= 1, ranks >= 1 else {
      throw KallimaError.shapeMismatch(op: "synchronized batch norm '\(name)'", message: "x \(s) must be [N, C, ...]")
    }
    let c = s[1]
    let m = s.count / c  // values per channel on this rank
    func mean(_ v: Value, _ what: String) throws -> Value {
      let total = try value(.allreduceMean, [try value(.channelSum, [v], name: "\(name) Σ \(what)")], name: "\(name) Σ \(what) over ranks")
      return try value(.scale(1 / Float(m)), [total], name: "\(name) \(what)")
    }
    let mu = try mean(x, "mean")
    let centered = try value(.addChannel, [x, try value(.scale(-1), [mu], name: "\(name) −mean")], name: "\(name) x − mean")
    let variance = try mean(try value(.activation(.square), [centered], name: "\(name) (x − mean)²"), "variance")
    let shifted = try value(.add, [variance, constant(eps, [c], name: "eps")], name: "\(name) var + eps")
    let invstd = try value(.activation(.rsqrt), [shifted], name: "\(name) invstd")
    let normalised = try value(.mulChannel, [centered, invstd], name: "\(name) x̂")
    let y = try value(.addChannel, [try value(.mulChannel, [normalised, gamma], name: "\(name) γ·x̂"), beta], name: name)
    if momentum > 0 {
      let count = Float(m * ranks)
      let unbiased = try value(.scale(count / max(count - 1, 1)), [variance], name: "\(name) unbiased variance")
      for (running, batch, what) in [(runningMean, mu, "mean"), (runningVar, unbiased, "var")] {
        let kept = try value(.scale(1 - momentum), [running], name: "\(name) running \(what)·(1 − momentum)")
        let moved = try value(.add, [kept, try value(.scale(momentum), [batch], name: "\(name) batch \(what)·momentum")], name: "\(name) running \(what)")
        try add(.assign, [running, try value(.detach, [moved], name: "\(name) running \(what) (no gradient)")], name: "\(name) update running \(what)")
      }
    }
    return y
  }
}
