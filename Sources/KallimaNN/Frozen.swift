import KallimaCore
import KallimaGraph

/// A network bound with its weights fixed, as a PyTorch module whose parameters have
/// `requires_grad = False` and whose output is `.detach()`ed (StackGAN's stage II runs the
/// trained stage I this way): its parameters are made as buffers, so they get no gradient
/// and no optimiser state; in train mode its batch norms normalise by the batch's statistics
/// without moving their running statistics; its layers add no training losses; and nothing
/// flows back through its output. In eval mode it is the network as it is.
public struct Frozen: Layer {
  public var layer: any Layer

  public init(_ layer: any Layer) { self.layer = layer }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    var fixed = scope
    fixed.options.frozen = true
    fixed.options.updatesStatistics = false
    return try scope.value(.detach, [try layer(x, in: fixed)], "frozen output")
  }
}
