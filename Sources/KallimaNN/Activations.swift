import KallimaCore
import KallimaGraph

/// Elementwise activations (no parameters; in a Sequential they still take an index).
public struct ReLU: Layer {
  public init() {}
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try scope.value(.activation(.relu), [x], "relu")
  }
}

/// LeakyReLU(slope): x for x > 0, slope·x otherwise (DCGAN's D uses 0.2).
public struct LeakyReLU: Layer {
  public var slope: Float
  public init(_ slope: Float = 0.01) { self.slope = slope }
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try scope.value(.activation(.leakyRelu(slope: slope)), [x], "leaky_relu")
  }
}

public struct Tanh: Layer {
  public init() {}
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try scope.value(.activation(.tanh), [x], "tanh")
  }
}

public struct Sigmoid: Layer {
  public init() {}
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try scope.value(.activation(.sigmoid), [x], "sigmoid")
  }
}

/// Bilinear resize by an integer factor, as nn.Upsample(scale_factor=k, mode="bilinear")
/// with align_corners=False (the output is exactly k·H × k·W, so PyTorch's 1/k source
/// scale equals H/OH).
public struct UpsampleBilinear: Layer {
  public var scale: Int
  public init(scale: Int = 2) { self.scale = scale }
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let s = scope.graph.shape(x)
    return try scope.value(.upsampleBilinear(height: s[2] * scale, width: s[3] * scale), [x], "upsample_bilinear")
  }
}
