import KallimaCore
import KallimaGraph
import KallimaNN

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
    let rule: String
    if multiple == 1 {
      rule = "height and width must be at least \(minimum)"
    } else {
      let first = (minimum + multiple - 1) / multiple * multiple
      let examples = (0..<4).map { String(first + $0 * multiple) }.joined(separator: ", ")
      rule = "height and width must be multiples of \(multiple) and at least \(minimum) (\(examples), …)"
    }
    throw KallimaError.invalidArgument(
      op: network, message: "cannot take \(height)x\(width) images: \(rule); resize or crop the images to such a size")
  }
}
