/// Padding of the two spatial axes of an NCHW tensor, each side on its own (PyTorch's
/// nn.ReflectionPad2d takes them as (left, right, top, bottom)).
public struct Padding2d: Hashable, Sendable, CustomStringConvertible {
  public var top: Int
  public var bottom: Int
  public var left: Int
  public var right: Int

  public init(top: Int, bottom: Int, left: Int, right: Int) {
    (self.top, self.bottom, self.left, self.right) = (top, bottom, left, right)
  }

  /// The same padding on all four sides.
  public init(_ all: Int) { self.init(top: all, bottom: all, left: all, right: all) }

  /// Output shape for input x [N, C, H, W] (not validated; see `ShapeCheck.reflectionPad2d`).
  public func outputShape(_ x: Shape) -> Shape {
    [x[0], x[1], x[2] + top + bottom, x[3] + left + right]
  }

  public var description: String { "pad(t\(top) b\(bottom) l\(left) r\(right))" }
}
