import KallimaCore
import KallimaGraph

/// nn.AvgPool2d(kernel, stride) (no padding): the down-sampling of residual D blocks.
public struct AvgPool2d: Layer {
  public var kernel: Int
  public var stride: Int
  public init(_ kernel: Int = 2, stride: Int? = nil) {
    self.kernel = kernel
    self.stride = stride ?? kernel
  }
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try scope.value(.avgPool2d(Pool2dParams(kernel: kernel, stride: stride), countIncludePad: true), [x], "avg_pool")
  }
}

/// nn.MaxPool2d(kernel, stride, padding).
public struct MaxPool2d: Layer {
  public var kernel: Int
  public var stride: Int
  public var padding: Int
  public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) {
    self.kernel = kernel
    self.stride = stride ?? kernel
    self.padding = padding
  }
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try scope.value(.maxPool2d(Pool2dParams(kernel: kernel, stride: stride, padding: padding)), [x], "max_pool")
  }
}

/// Σ over H and W per sample and channel: [N, C, H, W] -> [N, C] (the global sum pooling of
/// SNGAN's and the projection discriminator's ResNet critics, `torch.sum(h, dim=(2, 3))`).
public struct GlobalSumPool: Layer {
  public init() {}
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let (n, c, h, w) = try scope.graph.shape(x).nchw(scope.nodeName("global_sum_pool"), "x")
    let rows = try scope.value(.reshape([n * c, h * w]), [x], "global_sum_pool rows")
    let ones = scope.graph.constant(1, [h * w, 1], name: "ones")
    let sums = try scope.value(.matmul(transposeA: false, transposeB: false, alpha: 1), [rows, ones], "global_sum_pool")
    return try scope.value(.reshape([n, c]), [sums], "global_sum_pool view")
  }
}
