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

/// nn.Upsample(scale_factor=k, mode="nearest") for an integer k.
public struct UpsampleNearest: Layer {
  public var scale: Int
  public init(scale: Int = 2) { self.scale = scale }
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try scope.value(.upsampleNearest(scale: scale), [x], "upsample_nearest")
  }
}

/// nn.ReflectionPad2d(p): mirrors p pixels at each border (p < the input's side).
public struct ReflectionPad2d: Layer {
  public var padding: Padding2d
  public init(_ padding: Int) { self.padding = Padding2d(padding) }
  public init(_ padding: Padding2d) { self.padding = padding }
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try scope.value(.reflectionPad2d(padding), [x], "reflection_pad")
  }
}

/// nn.Dropout(p) (inverted dropout): in train mode each element is zeroed with probability
/// p and the rest scaled by 1/(1 − p), the mask drawn on the device from Philox (a new mask
/// each plan run); in eval mode the identity. pix2pix keeps dropout at test time unless
/// --eval: bind G in train mode for that.
public struct Dropout: Layer {
  public var p: Float
  public var seed: UInt64
  public init(_ p: Float = 0.5, seed: UInt64 = 0xD50) {
    self.p = p
    self.seed = seed
  }
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    guard scope.training, p > 0 else { return x }
    // Each Dropout layer of a network draws its own stream: the seed mixes in the path.
    let mask = try scope.graph.dropoutMask(
      scope.graph.shape(x), seed: Philox.seed(seed, mixing: scope.tag + scope.path), p: p, name: scope.nodeName("dropout mask"))
    return try scope.value(.mul, [x, mask], "dropout")
  }
}
