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
  /// CL_KERNEL_WORK_GROUP_SIZE: the largest work-group this kernel runs in on its device
  /// (a GPU may allow fewer than the device's maximum for a kernel that needs many registers).
  let maxGroupSize: Int
  init(_ handle: cl_kernel, name: String, device: cl_device_id) throws {
    var size = 0
    let status = clGetKernelWorkGroupInfo(
      handle, device, cl_kernel_work_group_info(CL_KERNEL_WORK_GROUP_SIZE), MemoryLayout<Int>.size, &size, nil)
    guard status == CL_SUCCESS else {
      clReleaseKernel(handle)
      throw CLStatus.error(status, "clGetKernelWorkGroupInfo(\(name), CL_KERNEL_WORK_GROUP_SIZE)")
    }
    self.handle = handle
    self.name = name
    maxGroupSize = max(1, size)
  }
  deinit { clReleaseKernel(handle) }
}

/// A device buffer of float32 elements.
public final class CLBuffer: DeviceBuffer {
  let handle: cl_mem
  public let count: Int
  public let backendName: String
  /// The backend's count of live device bytes, in which this buffer's `bytes` were reserved
  /// (`DeviceMemoryLedger.reserve`) and which it leaves when released.
  let ledger: DeviceMemoryLedger
  let bytes: Int
  init(_ handle: cl_mem, count: Int, backendName: String, ledger: DeviceMemoryLedger, bytes: Int) {
    self.handle = handle
    self.count = count
    self.backendName = backendName
    self.ledger = ledger
    self.bytes = bytes
  }
  deinit {
    let status = clReleaseMemObject(handle)
    if status != CL_SUCCESS {
      FileHandle.standardError.write(Data("kallima: clReleaseMemObject: \(CLStatus.name(status))\n".utf8))
    }
    ledger.release(bytes)
  }
}

/// The bytes a backend holds in live buffers, checked against a limit before each
/// allocation: drivers often accept an allocation beyond the device's memory and fail (or
/// are killed) at first use, so Kallima refuses it up front with the size asked for.
final class DeviceMemoryLedger: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var live = 0
  /// Largest total of live bytes; nil: no limit.
  var limit: Int?

  init(limit: Int?) { self.limit = limit }

  /// Counts `bytes` as allocated, or returns false (counting nothing) when that would pass
  /// the limit.
  func reserve(_ bytes: Int) -> Bool {
    lock.lock()
    defer { lock.unlock() }
    if let limit, live + bytes > limit { return false }
    live += bytes
    return true
  }

  func release(_ bytes: Int) {
    lock.lock()
    live -= bytes
    lock.unlock()
  }

  var allocated: Int {
    lock.lock()
    defer { lock.unlock() }
    return live
  }
}
