/// A tensor's dimensions, outermost first. Image tensors are NCHW.
public struct Shape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
  public var dims: [Int]

  public init(_ dims: [Int]) { self.dims = dims }
  public init(arrayLiteral elements: Int...) { self.dims = elements }

  /// Number of elements (1 for a scalar, whose dims are empty).
  public var count: Int { dims.reduce(1, *) }
  public var rank: Int { dims.count }
  public subscript(_ axis: Int) -> Int { dims[axis] }

  public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

  /// Reads an NCHW shape; throws naming `op` unless the rank is 4.
  public func nchw(_ op: String, _ role: String) throws -> (n: Int, c: Int, h: Int, w: Int) {
    guard rank == 4 else {
      throw KallimaError.shapeMismatch(op: op, message: "\(role) must be NCHW (rank 4), got \(self)")
    }
    return (dims[0], dims[1], dims[2], dims[3])
  }
}
