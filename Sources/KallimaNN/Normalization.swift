import KallimaCore
import KallimaGraph

/// nn.BatchNorm2d (Ioffe & Szegedy 2015): per-channel statistics over N, H, W. In train
/// mode the batch statistics normalise and the running statistics update (momentum 0.1,
/// unbiased variance, as PyTorch); in eval mode the running statistics normalise. With
/// `BindOptions.synchronizedRanks` the batch statistics are the data-parallel job's.
/// Parameters `weight`, `bias`; buffers `running_mean`, `running_var`.
public struct BatchNorm2d: Layer {
  public var features: Int
  public var momentum: Float
  public var eps: Float
  public var weightInit: ParameterInit
  /// Learnable per-channel scale and shift (`weight`, `bias`); without them (affine=False)
  /// the layer only normalises and keeps running statistics.
  public var affine: Bool

  /// `weightInit`: PyTorch's default is ones; DCGAN draws N(1, 0.02).
  public init(
    _ features: Int, momentum: Float = 0.1, eps: Float = 1e-5, weightInit: ParameterInit = .constant(1), affine: Bool = true
  ) {
    self.features = features
    self.momentum = momentum
    self.eps = eps
    self.weightInit = weightInit
    self.affine = affine
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let c = features
    let gamma = affine ? try scope.parameter("weight", [c], weightInit) : scope.graph.constant(1, [c], name: "1")
    let beta = affine ? try scope.parameter("bias", [c], .constant(0)) : scope.graph.constant(0, [c], name: "0")
    let mean = try scope.parameter("running_mean", [c], .constant(0), trainable: false)
    let variance = try scope.parameter("running_var", [c], .constant(1), trainable: false)
    // Momentum 0 leaves the running statistics as they are (running·1 + batch·0).
    let m = scope.options.updatesStatistics ? momentum : 0
    if scope.training, let ranks = scope.options.synchronizedRanks {
      return try scope.graph.synchronizedBatchNorm(
        x, gamma: gamma, beta: beta, runningMean: mean, runningVar: variance, momentum: m, eps: eps, ranks: ranks,
        name: scope.nodeName("batchnorm"))
    }
    let op: GraphOp = scope.training ? .batchnormTrain(momentum: m, eps: eps) : .batchnormEval(eps: eps)
    return try scope.graph.add(op, [x, gamma, beta, mean, variance], name: scope.nodeName("batchnorm"))[0]
  }
}

/// nn.BatchNorm1d on [N, C]: BatchNorm2d over [N, C, 1, 1] (per-feature statistics over
/// the batch), the same parameters and buffers.
public struct BatchNorm1d: Layer {
  public var norm: BatchNorm2d

  public init(_ features: Int, momentum: Float = 0.1, eps: Float = 1e-5, weightInit: ParameterInit = .constant(1)) {
    norm = BatchNorm2d(features, momentum: momentum, eps: eps, weightInit: weightInit)
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let s = scope.graph.shape(x)
    guard s.rank == 2, s[1] == norm.features else {
      throw KallimaError.shapeMismatch(op: scope.nodeName("batchnorm1d"), message: "input must be [N, \(norm.features)], got \(s)")
    }
    let y = try norm(try scope.value(.reshape([s[0], s[1], 1, 1]), [x], "as [N, C, 1, 1]"), in: scope)
    return try scope.value(.reshape(s), [y], "as [N, C]")
  }
}

/// Per-sample normalisation over groups of channels (Wu & He 2018), with an optional
/// per-channel affine (weight ones, bias zeros, as PyTorch): `nn.GroupNorm(groups, C)`.
/// groups = 1 is a layer norm over (C, H, W) with per-channel affine (what critics without
/// batch statistics use, Gulrajani et al. 2017), groups = C an instance norm.
/// Statistics use the biased variance with eps inside the square root; there are no
/// running statistics, so train and eval modes agree.
public struct GroupNorm: Layer {
  public var groups: Int
  public var channels: Int
  public var eps: Float
  public var affine: Bool

  public init(groups: Int, channels: Int, eps: Float = 1e-5, affine: Bool = true) {
    self.groups = groups
    self.channels = channels
    self.eps = eps
    self.affine = affine
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let y = try scope.graph.groupNorm(x, groups: groups, eps: eps, name: scope.nodeName("group_norm"))
    return try scope.affine(y, channels: channels, enabled: affine)
  }
}

/// nn.InstanceNorm2d: statistics per (sample, channel) over H, W; PyTorch's default is
/// affine=False and no running statistics (track_running_stats=False), as here.
public struct InstanceNorm2d: Layer {
  public var features: Int
  public var eps: Float
  public var affine: Bool

  public init(_ features: Int, eps: Float = 1e-5, affine: Bool = false) {
    self.features = features
    self.eps = eps
    self.affine = affine
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let y = try scope.graph.instanceNorm(x, eps: eps, name: scope.nodeName("instance_norm"))
    return try scope.affine(y, channels: features, enabled: affine)
  }
}

extension Scope {
  /// y·weight[c] + bias[c] with this scope's `weight` (ones) and `bias` (zeros), or y.
  func affine(_ y: Value, channels: Int, enabled: Bool) throws -> Value {
    guard enabled else { return y }
    let gamma = try parameter("weight", [channels], .constant(1))
    let beta = try parameter("bias", [channels], .constant(0))
    return try value(.addChannel, [try value(.mulChannel, [y, gamma], "scale"), beta], "shift")
  }
}

/// Class-conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018's generator):
/// batch norm without affine, then a per-sample scale and shift looked up from the class,
/// y = x̂·gain[class] + bias[class]. The class comes as one-hot (or soft) rows [N, classes]
/// in the scope's condition `condition` (default "y"). Names as StudioGAN/BigGAN-PyTorch's
/// ConditionalBatchNorm2d: `bn.running_mean`, `bn.running_var`, `gain.weight` (ones) and
/// `bias.weight` (zeros), each embedding [classes, C].
public struct ConditionalBatchNorm2d: Layer {
  public var features: Int
  public var classes: Int
  public var condition: String
  public var momentum: Float
  public var eps: Float

  public init(_ features: Int, classes: Int, condition: String = "y", momentum: Float = 0.1, eps: Float = 1e-5) {
    self.features = features
    self.classes = classes
    self.condition = condition
    self.momentum = momentum
    self.eps = eps
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let y = try scope.condition(condition, for: "conditional batchnorm")
    let normalised = try BatchNorm2d(features, momentum: momentum, eps: eps, affine: false)(x, in: scope, named: "bn")
    let gain = try Embedding(classes, features, weightInit: .constant(1))(y, in: scope, named: "gain")
    let bias = try Embedding(classes, features, weightInit: .constant(0))(y, in: scope, named: "bias")
    // [N, C, H, W] as [1, N·C, H·W, 1]: one channel per (sample, channel) pair.
    let shape = scope.graph.shape(x)
    let (n, c) = (shape[0], shape[1])
    let planes = try scope.value(.reshape([1, n * c, shape.count / (n * c), 1]), [normalised], "planes")
    let scaled = try scope.value(.mulChannel, [planes, try scope.value(.reshape([n * c]), [gain], "gain rows")], "scale")
    let shifted = try scope.value(.addChannel, [scaled, try scope.value(.reshape([n * c]), [bias], "bias rows")], "shift")
    return try scope.value(.reshape(shape), [shifted], "conditional batchnorm")
  }
}

/// The normalisation a recipe puts between hidden layers.
public enum NormKind: String, Sendable, CaseIterable {
  case batch
  case none
  /// GroupNorm(1, C): statistics per sample over (C, H, W), per-channel affine.
  case layer
  /// InstanceNorm2d with affine.
  case instance

  /// The layer for `channels` feature maps (nil for `.none`).
  public func layer(channels: Int, side: Int, batchNormWeightInit: ParameterInit = .constant(1)) -> (any Layer)? {
    switch self {
    case .batch: return BatchNorm2d(channels, weightInit: batchNormWeightInit)
    case .none: return nil
    case .layer: return GroupNorm(groups: 1, channels: channels)
    case .instance: return InstanceNorm2d(channels, affine: true)
    }
  }
}
