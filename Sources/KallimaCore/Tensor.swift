/// Storage owned by one backend. The element type is float32 on devices; the CPU
/// reference backend keeps Double so that it can serve as the oracle and for
/// finite-difference checks.
public protocol DeviceBuffer: AnyObject {
  /// Capacity in elements.
  var count: Int { get }
  /// Name of the backend that owns the buffer.
  var backendName: String { get }
}

/// A shaped view of a buffer (NCHW for images). Tensors are cheap values: copying one
/// shares the buffer.
public struct Tensor {
  public let shape: Shape
  public let buffer: DeviceBuffer

  public init(shape: Shape, buffer: DeviceBuffer) {
    precondition(buffer.count >= shape.count, "buffer of \(buffer.count) too small for \(shape)")
    self.shape = shape
    self.buffer = buffer
  }

  public var count: Int { shape.count }

  /// The same buffer seen with another shape of equal element count.
  public func reshaped(_ newShape: Shape) throws -> Tensor {
    guard newShape.count == shape.count else {
      throw KallimaError.shapeMismatch(
        op: "reshape", message: "cannot view \(shape) (\(shape.count) elements) as \(newShape)")
    }
    return Tensor(shape: newShape, buffer: buffer)
  }

  /// The buffer as the concrete type a backend expects, or an error naming the op.
  public func storage<B: DeviceBuffer>(_ type: B.Type, op: String, backend: String) throws -> B {
    guard let b = buffer as? B else {
      throw KallimaError.wrongBackend(op: op, expected: backend, got: buffer.backendName)
    }
    return b
  }
}
