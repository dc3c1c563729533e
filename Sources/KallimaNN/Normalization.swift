import KallimaCore
import KallimaGraph

/// nn.BatchNorm2d (Ioffe & Szegedy 2015): per-channel statistics over N, H, W. In train
/// mode the batch statistics normalise and the running statistics update (momentum 0.1,
/// unbiased variance, as PyTorch); in eval mode the running statistics normalise.
/// Parameters `weight`, `bias`; buffers `running_mean`, `running_var`.
public struct BatchNorm2d: Layer {
  public var features: Int
  public var momentum: Float
  public var eps: Float
  public var weightInit: ParameterInit

  /// `weightInit`: PyTorch's default is ones; DCGAN draws N(1, 0.02).
  public init(_ features: Int, momentum: Float = 0.1, eps: Float = 1e-5, weightInit: ParameterInit = .constant(1)) {
    self.features = features
    self.momentum = momentum
    self.eps = eps
    self.weightInit = weightInit
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let c = features
    let gamma = try scope.parameter("weight", [c], weightInit)
    let beta = try scope.parameter("bias", [c], .constant(0))
    let mean = try scope.parameter("running_mean", [c], .constant(0), trainable: false)
    let variance = try scope.parameter("running_var", [c], .constant(1), trainable: false)
    let op: GraphOp = scope.training ? .batchnormTrain(momentum: momentum, eps: eps) : .batchnormEval(eps: eps)
    return try scope.graph.add(op, [x, gamma, beta, mean, variance], name: scope.nodeName("batchnorm"))[0]
  }
}

/// The normalisation a recipe puts between hidden layers.
public enum NormKind: String, Sendable, CaseIterable {
  case batch
  case none

  /// The layer for `channels` feature maps of side `side` (nil for `.none`).
  public func layer(channels: Int, side: Int, batchNormWeightInit: ParameterInit = .constant(1)) -> (any Layer)? {
    switch self {
    case .batch: return BatchNorm2d(channels, weightInit: batchNormWeightInit)
    case .none: return nil
    }
  }
}
