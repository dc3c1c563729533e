import CKallima
import KallimaCore

extension OpenCLBackend {
  /// Enqueues a device-side copy of all of `x` into `y` with `clEnqueueCopyBuffer`: the
  /// driver's own copy path, used by the benchmarks as a memory-bandwidth reference.
  public func copyBuffer(_ x: Tensor, to y: Tensor) throws {
    try ShapeCheck.expect("copyBuffer", x.count == y.count, "\(x.shape) into \(y.shape)")
    let src = try mem(x, "copyBuffer")
    let dst = try mem(y, "copyBuffer")
    try locked {
      try CLStatus.check(
        clEnqueueCopyBuffer(
          queue.handle, src.handle, dst.handle, 0, 0, x.count * MemoryLayout<Float>.size, 0, nil, nil),
        "clEnqueueCopyBuffer(\(x.count * MemoryLayout<Float>.size) bytes)")
    }
  }
}
