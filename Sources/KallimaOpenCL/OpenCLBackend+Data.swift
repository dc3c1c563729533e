import CKallima
import Foundation
import KallimaCore

/// 8-bit storage on the device (datasets): `count` bytes.
public final class CLByteBuffer: ByteBuffer {
  let storage: CLBuffer
  public var count: Int { storage.count }
  public var backendName: String { storage.backendName }
  init(_ storage: CLBuffer) { self.storage = storage }
}

/// A page-locked host buffer (CL_MEM_ALLOC_HOST_PTR, mapped for its lifetime): transfers
/// from and to it go by DMA without a driver-side copy, and return at once. `pending` is the
/// last transfer's event; the host waits on it before touching the memory again.
final class CLStagingBuffer: StagingBuffer {
  let memory: CLBuffer
  let bytes: UnsafeMutableRawBufferPointer
  let backend: OpenCLBackend
  private var pending: (event: cl_event, isUpload: Bool)?
  private let lock = NSLock()

  init(backend: OpenCLBackend, bytes count: Int) throws {
    self.backend = backend
    var status: cl_int = 0
    let size = max(count, 1)
    let mem = clCreateBuffer(
      backend.context.handle, cl_mem_flags(CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR), size, nil, &status)
    if status == CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL_OUT_OF_RESOURCES || status == CL_OUT_OF_HOST_MEMORY {
      throw KallimaError.outOfMemory(device: "\(backend.device.name) (pinned host memory for staging)", bytes: size)
    }
    try CLStatus.check(status, "clCreateBuffer(CL_MEM_ALLOC_HOST_PTR, \(size) bytes)")
    // Pinned host memory, not device memory: it is not counted against the device's limit.
    memory = CLBuffer(mem!, count: size, backendName: backend.name, ledger: backend.ledger, bytes: 0)
    let pointer = clEnqueueMapBuffer(
      backend.queue.handle, mem, cl_bool(CL_TRUE), cl_map_flags(CL_MAP_WRITE | CL_MAP_READ), 0, size, 0, nil, nil,
      &status)
    try CLStatus.check(status, "clEnqueueMapBuffer(\(size) bytes)")
    bytes = UnsafeMutableRawBufferPointer(start: pointer, count: count)
  }

  deinit {
    if let pending { clReleaseEvent(pending.event) }
    let status = clEnqueueUnmapMemObject(backend.queue.handle, memory.handle, bytes.baseAddress, 0, nil, nil)
    if status != CL_SUCCESS {
      FileHandle.standardError.write(Data("kallima: clEnqueueUnmapMemObject: \(CLStatus.name(status))\n".utf8))
    }
    // The unmap must complete before the buffer is released.
    clFinish(backend.queue.handle)
  }

  /// Records the event of a transfer just enqueued from or to this buffer.
  func enqueued(_ event: cl_event?, isUpload: Bool) {
    lock.lock()
    defer { lock.unlock() }
    if let pending { clReleaseEvent(pending.event) }
    pending = event.map { ($0, isUpload) }
  }

  func waitForTransfer() throws -> Bool {
    lock.lock()
    let last = pending
    pending = nil
    lock.unlock()
    guard let last else { return false }
    defer { clReleaseEvent(last.event) }
    var state: cl_int = 0
    try CLStatus.check(
      clGetEventInfo(last.event, cl_event_info(CL_EVENT_COMMAND_EXECUTION_STATUS), MemoryLayout<cl_int>.size, &state, nil),
      "clGetEventInfo(transfer)")
    if state < 0 { throw KallimaError.openCL(call: "transfer to or from pinned host memory", code: state, name: CLStatus.name(state)) }
    guard state != CL_COMPLETE else { return false }
    if last.isUpload { backend.locked { backend.counters.stagingWaits += 1 } }
    // The transfer may still sit unsubmitted in the queue; waiting alone need not submit it.
    try CLStatus.check(clFlush(backend.queue.handle), "clFlush")
    var handle: cl_event? = last.event
    try CLStatus.check(clWaitForEvents(1, &handle), "clWaitForEvents(transfer)")
    return true
  }
}

extension OpenCLBackend {
  func bytes(_ t: Tensor, _ op: String) throws -> CLBuffer {
    try t.storage(CLByteBuffer.self, op: op, backend: name).storage
  }

  public func makeByteBuffer(count: Int) throws -> DeviceBuffer {
    CLByteBuffer(try makeCLBuffer(count: count, elementSize: 1))
  }

  public func write(bytes: UnsafeRawBufferPointer, to tensor: Tensor, offset: Int) throws {
    let op = "write(bytes:)"
    let b = try self.bytes(tensor, op)
    try ShapeCheck.expect(
      op, offset >= 0 && offset + bytes.count <= b.count,
      "\(bytes.count) bytes at offset \(offset) do not fit a byte tensor of \(b.count)")
    guard bytes.count > 0 else { return }
    try locked {
      try CLStatus.check(
        clEnqueueWriteBuffer(
          queue.handle, b.handle, cl_bool(CL_TRUE), offset, bytes.count, bytes.baseAddress, 0, nil, nil),
        "clEnqueueWriteBuffer(\(bytes.count) bytes)")
      counters.bytesToDevice += bytes.count
    }
  }

  public func makeStagingBuffer(bytes: Int) throws -> StagingBuffer {
    try CLStagingBuffer(backend: self, bytes: bytes)
  }

  public func upload(_ staging: StagingBuffer, to tensor: Tensor) throws {
    try transfer(staging, tensor, toDevice: true)
  }

  public func download(_ tensor: Tensor, into staging: StagingBuffer) throws {
    try transfer(staging, tensor, toDevice: false)
  }

  /// A non-blocking copy between pinned memory and a tensor (bytes of a byte tensor, floats
  /// of a float one; downloads take float tensors), after everything enqueued before it;
  /// the staging buffer keeps its event for `waitForTransfer`.
  private func transfer(_ staging: StagingBuffer, _ tensor: Tensor, toDevice: Bool) throws {
    let op = toDevice ? "upload" : "download"
    guard let pinned = staging as? CLStagingBuffer, pinned.backend === self else {
      throw KallimaError.wrongBackend(op: op, expected: name, got: "a staging buffer of another backend")
    }
    let isBytes = toDevice && tensor.buffer is CLByteBuffer
    let (b, count) = isBytes ? (try bytes(tensor, op), tensor.count) : (try mem(tensor, op), 4 * tensor.count)
    try ShapeCheck.expect(op, staging.bytes.count >= count, "staging buffer of \(staging.bytes.count) bytes for \(count)")
    try locked {
      var event: cl_event?
      let pointer = staging.bytes.baseAddress
      let status = toDevice
        ? clEnqueueWriteBuffer(queue.handle, b.handle, cl_bool(CL_FALSE), 0, count, pointer, 0, nil, &event)
        : clEnqueueReadBuffer(queue.handle, b.handle, cl_bool(CL_FALSE), 0, count, pointer, 0, nil, &event)
      try CLStatus.check(status, "\(toDevice ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer")(\(count) bytes, non-blocking)")
      pinned.enqueued(event, isUpload: toDevice)
      if toDevice { counters.bytesToDevice += count } else { counters.bytesFromDevice += count }
      try enqueued()
    }
  }

  public var defaultDataMemory: Int { min(device.globalMemory / 2, device.maxAllocation) }

  public func gather_images_u8(
    source: Tensor, y: Tensor, order: DataOrder, position: UInt64, flip: Bool, streamed: Bool
  ) throws {
    let op = "gather_images_u8"
    let geometry = try ShapeCheck.gatherImages(op, source: source, y: y, order: order, streamed: streamed)
    try launchGather(
      op, source: bytes(source, op), y: y, order: order, position: position, flip: flip, streamed: streamed,
      geometry: geometry)
  }

  public func mismatch_rows(x: Tensor, y: Tensor) throws {
    let op = "mismatch_rows"
    let (n, d) = try ShapeCheck.mismatchRows(op, x: x, y: y)
    try launch(op, items: n, [.buffer(mem(x, op)), .buffer(mem(y, op)), .int(n), .int(d)])
  }

  public func random_crop(x: Tensor, y: Tensor, seed: UInt64, position: UInt64) throws {
    let op = "random_crop"
    let (n, c, h, w, ih, iw) = try ShapeCheck.randomCrop(op, x: x, y: y)
    let rows = n * c * h
    try launch(
      op, items: rows,
      [
        .buffer(mem(x, op)), .buffer(mem(y, op)), .ulong(seed), .ulong(position), .int(c), .int(h), .int(w), .int(ih),
        .int(iw), .int(rows),
      ])
  }

  public func image_pool(pool: Tensor, x: Tensor, y: Tensor, seed: UInt64, position: UInt64) throws {
    let op = "image_pool"
    let (slots, n, image) = try ShapeCheck.imagePool(op, pool: pool, x: x, y: y)
    try launch(
      op, items: image,
      [
        .buffer(mem(pool, op)), .buffer(mem(x, op)), .buffer(mem(y, op)), .ulong(seed), .ulong(position), .int(slots),
        .int(n), .int(image),
      ])
  }

  /// One work-item per (sample, channel, row) of y; both gather kernels take these arguments
  /// (`streamed` only the 8-bit one).
  func launchGather(
    _ op: String, source: CLBuffer, y: Tensor, order: DataOrder, position: UInt64, flip: Bool, streamed: Bool? = nil,
    geometry g: ShapeCheck.Gather
  ) throws {
    let rows = g.n * g.channels * g.height
    try launch(
      op, items: rows,
      [
        .buffer(source), .buffer(mem(y, op)), .uint(order.seed), .int(order.count), .int(Int(order.halfBits)),
        .ulong(position), .int(flip ? 1 : 0),
      ] + (streamed.map { [.int($0 ? 1 : 0)] } ?? []) + [.int(g.channels * g.height), .int(g.width), .int(rows)])
  }
}
