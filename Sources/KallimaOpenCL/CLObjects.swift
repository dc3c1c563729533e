import CKallima
import Foundation
import KallimaCore

// Owning wrappers: each releases its handle in deinit (and only logs there, never traps).

final class CLContext {
  let handle: cl_context
  init(_ handle: cl_context) { self.handle = handle }
  deinit { clReleaseContext(handle) }
}

final class CLQueue {
  let handle: cl_command_queue
  init(_ handle: cl_command_queue) { self.handle = handle }
  deinit {
    clFinish(handle)
    clReleaseCommandQueue(handle)
  }
}

final class CLProgram {
  let handle: cl_program
  init(_ handle: cl_program) { self.handle = handle }
  deinit { clReleaseProgram(handle) }
}

final class CLKernel {
  let handle: cl_kernel
  let name: String
  init(_ handle: cl_kernel, name: String) {
    self.handle = handle
    self.name = name
  }
  deinit { clReleaseKernel(handle) }
}

/// A device buffer of float32 elements.
public final class CLBuffer: DeviceBuffer {
  let handle: cl_mem
  public let count: Int
  public let backendName: String
  init(_ handle: cl_mem, count: Int, backendName: String) {
    self.handle = handle
    self.count = count
    self.backendName = backendName
  }
  deinit {
    let status = clReleaseMemObject(handle)
    if status != CL_SUCCESS {
      FileHandle.standardError.write(Data("kallima: clReleaseMemObject: \(CLStatus.name(status))\n".utf8))
    }
  }
}
