import CKallima
import Foundation
import KallimaCore

/// A kernel argument.
enum KernelArg {
  case buffer(CLBuffer)
  case int(Int)
  case float(Float)
  case uint(UInt32)
  case ulong(UInt64)
  /// Local (work-group shared) memory of this many bytes.
  case local(Int)
  /// A NULL buffer (optional inputs such as an absent bias).
  case null

  /// A buffer, or NULL when absent.
  static func optional(_ b: CLBuffer?) -> KernelArg { b.map { .buffer($0) } ?? .null }
}

/// The OpenCL backend: one context and one in-order queue on one device. Ops enqueue
/// kernels (and CLBlast GEMMs) and return at once; only `read` and `synchronize` block.
///
/// Thread safety: each op holds the backend's lock while it sets kernel arguments and
/// enqueues, so ops issued from several threads interleave whole, never half.
public final class OpenCLBackend: Backend {
  public let device: OpenCLDeviceInfo
  public let name: String
  let context: CLContext
  let queue: CLQueue
  let programs: ProgramCache
  /// Work-group size for 1-D elementwise launches.
  let groupSize: Int
  /// Work-group size of the reduction kernels, compiled into every program as REDUCE_WG
  /// (`reductionGroupSize(type:maxWorkGroupSize:)`).
  let reduceGroupSize: Int
  /// Options every program is built with: the OpenCL C version and REDUCE_WG.
  let buildOptions: String
  let lock = NSRecursiveLock()
  var counters = HostTraffic()
  /// Events of recorded kernels while kernel timing is on.
  private var recording: [(String, UnsafeMutablePointer<cl_event?>)]?
  public let canTimeKernels: Bool
  public var traffic: HostTraffic { locked { counters } }
  private var kernels: [String: CLKernel] = [:]
  /// Bounded queue: a marker event every `commandsPerMarker` commands; once more than
  /// `markersInFlight` are outstanding the host waits for the oldest. Without it a loop of
  /// plan runs with no read enqueues without limit, and the driver's per-command memory
  /// (CLBlast's temporary buffers included) grows until the process is killed. The device
  /// never idles for it: the commands after the awaited marker are still queued.
  static let commandsPerMarker = 128
  static let markersInFlight = 4
  private var commandsSinceMarker = 0
  private var markers: [cl_event] = []
  deinit { for m in markers { clReleaseEvent(m) } }
  private var workspaces: [Int: CLBuffer] = [:]
  /// Which algorithm each GEMM shape runs (see OpenCLBackend+Gemm.swift).
  var gemmChoices: GemmSelection
  /// Shapes of the GEMMs enqueued while recording (for `kallima tune`); nil when off.
  var gemmShapeLog: Set<GemmShape>?
  /// col2im's form (Kernels/conv.cl COL2IM_GATHER): each output gathers its taps (GPUs),
  /// or a row is built in private memory (CPUs). Tests switch it to cover both.
  var col2imGathers: Bool
  /// Where the tuning came from and the CLBlast overrides applied (OpenCLBackend+Tuning.swift).
  var tuningState = TuningState()
  /// The kernel sources by file name: the embedded Kernels/*.cl and *.h, each replaced by
  /// the file of the same name in `$KALLIMA_KERNELS_DIR` when that is set (to try a kernel
  /// change without rebuilding; the program cache is keyed by source, so nothing stale runs).
  static let kernelSources: [String: String] = {
    var sources = EmbeddedKernels.files
    guard let folder = ProcessInfo.processInfo.environment["KALLIMA_KERNELS_DIR"], !folder.isEmpty else {
      return sources
    }
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
      FileHandle.standardError.write(
        Data("kallima: KALLIMA_KERNELS_DIR=\(folder) cannot be read; using the built-in kernels\n".utf8))
      return sources
    }
    var replaced: [String] = []
    for name in names.sorted() where name.hasSuffix(".cl") || name.hasSuffix(".h") {
      guard let text = try? String(contentsOfFile: (folder as NSString).appendingPathComponent(name), encoding: .utf8)
      else { continue }
      sources[name] = text
      replaced.append(name)
    }
    FileHandle.standardError.write(
      Data("kallima: kernels from KALLIMA_KERNELS_DIR=\(folder): \(replaced.joined(separator: ", "))\n".utf8))
    return sources
  }()

  /// Which Kernels/*.cl file defines each kernel, read from the kernel sources.
  static let kernelFiles: [String: String] = {
    var table: [String: String] = [:]
    for (file, source) in kernelSources {
      // Entry points are declared at the start of a line, `__kernel void NAME(`, or, when a
      // macro makes them, listed on `// KERNELS: a b c` lines.
      for line in source.split(separator: "\n") {
        if line.hasPrefix("__kernel void ") {
          let name = line.dropFirst("__kernel void ".count).prefix { $0.isLetter || $0.isNumber || $0 == "_" }
          table[String(name)] = file
        } else if line.hasPrefix("// KERNELS:") {
          for name in line.dropFirst("// KERNELS:".count).split(separator: " ") { table[String(name)] = file }
        }
      }
    }
    return table
  }()
  /// The reductions' work-group size on `device`: 16 on CPUs, where PoCL runs a work-group
  /// as a loop and every barrier of the group's tree splits it (a DCGAN-32 step's batch-norm
  /// statistics and their gradient: 12.6 ms with groups of 256, 2.5-3.0 with 16; 4 and 64
  /// measured within noise of 16); elsewhere 256, or the largest power of two the device
  /// allows (reduce.h's tree needs a power of two).
  static func reductionGroupSize(type: String, maxWorkGroupSize: Int) -> Int {
    let limit = type == "CPU" ? 16 : 256
    var size = 1
    while size * 2 <= min(limit, max(1, maxWorkGroupSize)) { size *= 2 }
    return size
  }

  /// The text of Kernels/`file` with each `#include "x.h"` replaced by Kernels/x.h, so every
  /// program is one self-contained source (and its cache key covers the headers).
  static func expandedSource(_ file: String) -> String? {
    guard let source = kernelSources[file] else { return nil }
    return source.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      guard trimmed.hasPrefix("#include \""), trimmed.hasSuffix("\"") else { return String(line) }
      let header = String(trimmed.dropFirst("#include \"".count).dropLast())
      return kernelSources[header] ?? String(line)
    }.joined(separator: "\n")
  }

  /// Opens the device named by `selector`: "opencl" (the first device) or "opencl:P:D".
  public convenience init(selector: String = "opencl", profiling: Bool = false) throws {
    let devices = try OpenCL.devices()
    let parts = selector.split(separator: ":")
    guard parts.first == "opencl", parts.count == 1 || parts.count == 3 else {
      throw KallimaError.invalidArgument(
        op: "device", message: "unknown device '\(selector)': use cpu, opencl or opencl:PLATFORM:DEVICE")
    }
    var chosen = devices[0]
    if parts.count == 3 {
      guard let p = Int(parts[1]), let d = Int(parts[2]),
        let match = devices.first(where: { $0.platformIndex == p && $0.deviceIndex == d })
      else {
        throw KallimaError.noDevice(
          "no OpenCL device \(selector); available: "
            + devices.map(\.description).joined(separator: "; ") + " (see `kallima devices`)")
      }
      chosen = match
    }
    try self.init(device: chosen, profiling: profiling)
  }

  /// `reductionGroupSize` overrides the device's choice (a power of two; tests run the
  /// reductions both ways on one device).
  /// `workGroupLimit` caps every work-group below the device's own limits (tests: the
  /// kernels may assume no particular group size).
  public init(
    device: OpenCLDeviceInfo, profiling: Bool = false, reductionGroupSize: Int? = nil, workGroupLimit: Int? = nil
  ) throws {
    let problems = device.capabilityProblems
    guard problems.isEmpty else {
      throw KallimaError.noDevice(
        "\(device.description) cannot run Kallima: " + problems.joined(separator: "; ")
          + ". Choose another device (`kallima devices`) or --device cpu")
    }
    self.device = device
    // The largest group any launch may use: the device's limits (total and first
    // dimension), and local memory for the reductions' scratch (one float per item).
    let groupLimit = min(
      device.maxWorkGroupSize, device.maxWorkItemSizes.first ?? 1, workGroupLimit ?? .max)
    reduceGroupSize =
      reductionGroupSize
      ?? OpenCLBackend.reductionGroupSize(type: device.type, maxWorkGroupSize: min(groupLimit, device.localMemory / 4))
    guard reduceGroupSize > 0, reduceGroupSize & (reduceGroupSize - 1) == 0, reduceGroupSize <= max(1, groupLimit)
    else {
      throw KallimaError.invalidArgument(
        op: "OpenCLBackend", message: "reduction group size \(reduceGroupSize) is not a power of two the device allows")
    }
    buildOptions = "-cl-std=CL1.2 -DREDUCE_WG=\(reduceGroupSize)"
    self.name = "\(device.selector) \(device.name)"
    self.canTimeKernels = profiling
    var status: cl_int = 0
    var deviceID: cl_device_id? = device.deviceID
    let ctx = clCreateContext(nil, 1, &deviceID, nil, nil, &status)
    try CLStatus.check(status, "clCreateContext(\(device.name))")
    context = CLContext(ctx!)
    let properties: cl_command_queue_properties =
      profiling ? cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE) : 0
    let q = clCreateCommandQueue(context.handle, device.deviceID, properties, &status)
    try CLStatus.check(status, "clCreateCommandQueue(\(device.name))")
    queue = CLQueue(q!)
    programs = ProgramCache(context: context, device: device)
    ledger = DeviceMemoryLedger(limit: try OpenCLBackend.memoryLimit(device: device))
    groupSize = min(256, max(1, groupLimit))
    gemmChoices = .untuned(for: device)
    col2imGathers = device.type != "CPU"
    loadTuning()
  }

  /// Program-cache counters (programs built from source vs loaded from disk, seconds spent).
  public var programCacheSummary: String {
    let s = programs.statistics
    return "\(s.builtFromSource) built from source, \(s.loadedFromDisk) loaded from disk cache, "
      + String(format: "%.2f s", s.secondsBuilding)
  }

  // MARK: Memory

  /// Live bytes in this backend's buffers, checked against `memoryLimit` before each allocation.
  let ledger: DeviceMemoryLedger

  /// The most bytes this backend holds in buffers at once: the device's global memory, or
  /// less when `KALLIMA_DEVICE_MEMORY_LIMIT` says so (to try what fits a smaller device, and
  /// in tests). An allocation past it throws `KallimaError.outOfMemory` with the size asked.
  public var memoryLimit: Int? {
    get { ledger.limit }
    set { ledger.limit = newValue }
  }

  /// Bytes held in live buffers (not counting CLBlast's and the driver's own).
  public var allocatedBytes: Int { ledger.allocated }

  /// `KALLIMA_DEVICE_MEMORY_LIMIT` (bytes, or with a K, M or G suffix: KiB, MiB, GiB) capped
  /// by the device's global memory.
  static func memoryLimit(device: OpenCLDeviceInfo) throws -> Int {
    guard let text = ProcessInfo.processInfo.environment["KALLIMA_DEVICE_MEMORY_LIMIT"], !text.isEmpty else {
      return device.globalMemory
    }
    let shifts: [Character: Int] = ["K": 10, "M": 20, "G": 30]
    let shift = text.last.flatMap { shifts[Character($0.uppercased())] }
    guard let number = Int(shift == nil ? text : String(text.dropLast())), number > 0 else {
      throw KallimaError.invalidArgument(
        op: "KALLIMA_DEVICE_MEMORY_LIMIT",
        message: "'\(text)' is not a size; give bytes or a number with K, M or G (e.g. 512M), or unset it")
    }
    return min(number << (shift ?? 0), device.globalMemory)
  }

  public func makeBuffer(count: Int) throws -> DeviceBuffer {
    try makeCLBuffer(count: count)
  }

  /// A buffer of `count` elements of `elementSize` bytes (4: float32; 1: 8-bit images).
  func makeCLBuffer(count: Int, elementSize: Int = MemoryLayout<Float>.size) throws -> CLBuffer {
    let bytes = max(count, 1) * elementSize
    if bytes > device.maxAllocation {
      throw outOfMemory(bytes, "its largest single allocation, CL_DEVICE_MAX_MEM_ALLOC_SIZE, is \(device.maxAllocation) bytes")
    }
    guard ledger.reserve(bytes) else {
      let limit = ledger.limit ?? 0
      let source = limit < device.globalMemory ? "KALLIMA_DEVICE_MEMORY_LIMIT" : "the device's global memory"
      throw outOfMemory(bytes, "\(ledger.allocated) bytes are in use of the \(limit) bytes allowed by \(source)")
    }
    var status: cl_int = 0
    let mem = clCreateBuffer(context.handle, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status)
    if status != CL_SUCCESS { ledger.release(bytes) }
    if status == CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL_OUT_OF_RESOURCES
      || status == CL_OUT_OF_HOST_MEMORY || status == CL_INVALID_BUFFER_SIZE
    {
      throw outOfMemory(bytes, "the driver refused it with \(CLStatus.name(status)); \(ledger.allocated) bytes in use")
    }
    try CLStatus.check(status, "clCreateBuffer(\(bytes) bytes)")
    return CLBuffer(mem!, count: count, backendName: name, ledger: ledger, bytes: bytes)
  }

  /// The error for an allocation of `bytes` that does not fit, saying why.
  func outOfMemory(_ bytes: Int, _ why: String) -> KallimaError {
    .outOfMemory(device: "\(name) (\(why))", bytes: bytes)
  }

  func mem(_ t: Tensor, _ op: String) throws -> CLBuffer {
    try t.storage(CLBuffer.self, op: op, backend: name)
  }

  public func write(_ values: [Float], to tensor: Tensor) throws {
    try ShapeCheck.expect("write", values.count == tensor.count, "\(values.count) values for tensor \(tensor.shape)")
    let b = try mem(tensor, "write")
    try values.withUnsafeBytes { raw in
      try CLStatus.check(
        clEnqueueWriteBuffer(queue.handle, b.handle, cl_bool(CL_TRUE), 0, raw.count, raw.baseAddress, 0, nil, nil),
        "clEnqueueWriteBuffer(\(raw.count) bytes)")
    }
    locked { counters.bytesToDevice += values.count * MemoryLayout<Float>.size }
  }

  public func read(_ tensor: Tensor) throws -> [Float] {
    let b = try mem(tensor, "read")
    var values = [Float](repeating: 0, count: tensor.count)
    try values.withUnsafeMutableBytes { raw in
      try CLStatus.check(
        clEnqueueReadBuffer(queue.handle, b.handle, cl_bool(CL_TRUE), 0, raw.count, raw.baseAddress, 0, nil, nil),
        "clEnqueueReadBuffer(\(raw.count) bytes)")
    }
    locked {
      counters.blockingReads += 1
      counters.bytesFromDevice += values.count * MemoryLayout<Float>.size
      releaseMarkers()  // a blocking read on the in-order queue means all before it is done
    }
    return values
  }

  public func synchronize() throws {
    locked { counters.synchronizations += 1 }
    try CLStatus.check(clFinish(queue.handle), "clFinish")
    locked { releaseMarkers() }
  }

  /// Counts one enqueued command (call with the lock held) and keeps the queue bounded.
  func enqueued() throws {
    commandsSinceMarker += 1
    guard commandsSinceMarker >= OpenCLBackend.commandsPerMarker else { return }
    commandsSinceMarker = 0
    var marker: cl_event?
    try CLStatus.check(clEnqueueMarkerWithWaitList(queue.handle, 0, nil, &marker), "clEnqueueMarkerWithWaitList")
    markers.append(marker!)
    if markers.count > OpenCLBackend.markersInFlight {
      var oldest: cl_event? = markers.removeFirst()
      counters.throttleWaits += 1
      let status = clWaitForEvents(1, &oldest)
      clReleaseEvent(oldest)
      try CLStatus.check(status, "clWaitForEvents (queue bound)")
    }
  }

  /// Forgets the markers once everything enqueued has finished (after a blocking call).
  func releaseMarkers() {
    for m in markers { clReleaseEvent(m) }
    markers.removeAll()
    commandsSinceMarker = 0
  }

  public func fill(_ y: Tensor, value: Float) throws {
    let b = try mem(y, "fill")
    var pattern = value
    try locked {
      try CLStatus.check(
        clEnqueueFillBuffer(
          queue.handle, b.handle, &pattern, MemoryLayout<Float>.size, 0, y.count * MemoryLayout<Float>.size, 0, nil,
          eventSlot("fill")),
        "clEnqueueFillBuffer")
      try enqueued()
    }
  }

  /// A scratch buffer of at least `count` floats. Slots are reused across ops; the queue is
  /// in order and ops hold the lock, so one op's scratch is never overwritten mid-use.
  func workspace(_ slot: Int, count: Int) throws -> CLBuffer {
    if let b = workspaces[slot], b.count >= count { return b }
    // The old buffer is released once the commands already enqueued on it finish.
    let b = try makeCLBuffer(count: count)
    workspaces[slot] = b
    return b
  }

  // MARK: Launching

  /// The kernel `name`, from its program built with `defines` as `-D` options (compile-time
  /// constants such as a layer's geometry; one program per distinct set, cached).
  func kernel(_ name: String, defines: [(String, Int)] = []) throws -> CLKernel {
    let options = ([buildOptions] + defines.map { "-D\($0.0)=\($0.1)" }).joined(separator: " ")
    let key = name + " " + options
    if let k = kernels[key] { return k }
    guard let file = OpenCLBackend.kernelFiles[name], let source = OpenCLBackend.expandedSource(file) else {
      throw KallimaError.invalidArgument(op: name, message: "no kernel named \(name) in Kernels/*.cl")
    }
    let program = try programs.program(file: file, source: source, options: options)
    var status: cl_int = 0
    let handle = clCreateKernel(program.handle, name, &status)
    try CLStatus.check(status, "clCreateKernel(\(name))")
    let k = try CLKernel(handle!, name: name, device: device.deviceID)
    kernels[key] = k
    return k
  }

  /// Enqueues a 1-D launch of `items` work-items (rounded up to whole groups; kernels
  /// bound-check against the count they are given).
  func launch(
    _ name: String, items: Int, group: Int? = nil, defines: [(String, Int)] = [], _ args: [KernelArg]
  ) throws {
    guard items > 0 else { return }
    try locked {
      // `group` (default `groupSize`) is a preference, kept within what this kernel allows
      // on the device; the reductions' exact REDUCE_WG goes through `launchGroups`.
      let k = try kernel(name, defines: defines)
      let local = min(group ?? groupSize, k.maxGroupSize)
      try enqueue(k, global: [(items + local - 1) / local * local], local: [local], label: nil, args)
    }
  }

  /// Enqueues an N-D launch (1 to 3 dimensions); each global size must be a multiple of
  /// the local one. `label` names the launch in kernel timings (default: the kernel's name;
  /// evaluated only while timing).
  func launch(
    _ name: String, global: [Int], local: [Int], defines: [(String, Int)] = [],
    label: @autoclosure () -> String? = nil, _ args: [KernelArg]
  ) throws {
    guard global.allSatisfy({ $0 > 0 }) else { return }
    try locked { try enqueue(try kernel(name, defines: defines), global: global, local: local, label: label(), args) }
  }

  /// Sets `args` on `k` and enqueues it. Call holding the lock.
  private func enqueue(
    _ k: CLKernel, global: [Int], local: [Int], label: @autoclosure () -> String?, _ args: [KernelArg]
  ) throws {
    let name = k.name
    let groupItems = local.reduce(1, *)
    guard groupItems <= k.maxGroupSize else {
      throw KallimaError.noDevice(
        "\(device.description) runs kernel \(name) in work-groups of at most \(k.maxGroupSize) items "
          + "(CL_KERNEL_WORK_GROUP_SIZE) and this launch needs \(groupItems); report it with `kallima devices --json` "
          + "and `kallima selftest --json`")
    }
    for (i, arg) in args.enumerated() {
      let status: cl_int
      switch arg {
      case .buffer(let b):
        var h: cl_mem? = b.handle
        status = clSetKernelArg(k.handle, cl_uint(i), MemoryLayout<cl_mem>.size, &h)
      case .int(let v):
        guard let v32 = cl_int(exactly: v) else {
          throw KallimaError.invalidArgument(op: name, message: "argument \(i) = \(v) exceeds 32 bits")
        }
        var x = v32
        status = clSetKernelArg(k.handle, cl_uint(i), MemoryLayout<cl_int>.size, &x)
      case .float(let v):
        var x = v
        status = clSetKernelArg(k.handle, cl_uint(i), MemoryLayout<cl_float>.size, &x)
      case .uint(let v):
        var x = cl_uint(v)
        status = clSetKernelArg(k.handle, cl_uint(i), MemoryLayout<cl_uint>.size, &x)
      case .ulong(let v):
        var x = cl_ulong(v)
        status = clSetKernelArg(k.handle, cl_uint(i), MemoryLayout<cl_ulong>.size, &x)
      case .local(let bytes):
        status = clSetKernelArg(k.handle, cl_uint(i), bytes, nil)
      case .null:
        var h: cl_mem? = nil
        status = clSetKernelArg(k.handle, cl_uint(i), MemoryLayout<cl_mem>.size, &h)
      }
      try CLStatus.check(status, "clSetKernelArg(\(name), \(i))")
    }
    var globalSizes = global
    var localSizes = local
    try CLStatus.check(
      clEnqueueNDRangeKernel(
        queue.handle, k.handle, cl_uint(global.count), nil, &globalSizes, &localSizes, 0, nil,
        eventSlot(label() ?? name)),
      "clEnqueueNDRangeKernel(\(name), \(global) items)")
    try enqueued()
  }

  /// Launches one work-group of `reduceGroupSize` items per output (reduction kernels).
  func launchGroups(_ name: String, groups: Int, _ args: [KernelArg]) throws {
    guard groups > 0 else { return }
    try launch(name, global: [groups * reduceGroupSize], local: [reduceGroupSize], args)
  }

  /// Where the next enqueue stores its event: nil unless kernel timing is on. Call with the
  /// lock held; the pointer stays valid until the next call.
  /// `name` is evaluated only then, so launches build no label strings outside profiling.
  func eventSlot(_ name: @autoclosure () -> String) -> UnsafeMutablePointer<cl_event?>? {
    guard recording != nil else { return nil }
    let slot = UnsafeMutablePointer<cl_event?>.allocate(capacity: 1)
    slot.initialize(to: nil)
    recording!.append((name(), slot))
    return slot
  }

  /// Runs `body` holding the backend lock: ops that use workspaces or several launches
  /// call this so their commands enqueue as one unit.
  func locked<T>(_ body: () throws -> T) rethrows -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }

  /// `batch` row-major SGEMMs through CLBlast, operand i starting `stride` floats after
  /// operand i − 1: C_i = alpha·op(A_i)·op(B_i) + beta·C_i. CLBlast runs the batch as one
  /// launch, so small products share the device's compute units.
  func sgemmStridedBatched(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: CLBuffer, lda: Int, strideA: Int, b: CLBuffer, ldb: Int, strideB: Int, beta: Float,
    c: CLBuffer, ldc: Int, strideC: Int, batch: Int
  ) throws {
    guard m > 0, n > 0, batch > 0 else { return }
    lock.lock()
    defer { lock.unlock() }
    var q: cl_command_queue? = queue.handle
    func name() -> String { "sgemm \(batch)x(\(m)x\(n)x\(k))" }
    if let before = eventSlot(name() + " start") {
      try CLStatus.check(clEnqueueMarkerWithWaitList(queue.handle, 0, nil, before), "clEnqueueMarkerWithWaitList")
    }
    defer {
      if let after = eventSlot(name()) { clEnqueueMarkerWithWaitList(queue.handle, 0, nil, after) }
    }
    let status = CLBlastSgemmStridedBatched(
      CLBlastLayoutRowMajor, transposeA ? CLBlastTransposeYes : CLBlastTransposeNo,
      transposeB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a.handle, 0, lda, strideA,
      b.handle, 0, ldb, strideB, beta, c.handle, 0, ldc, strideC, batch, &q, nil)
    try CLStatus.check(status.rawValue, "CLBlastSgemmStridedBatched(\(batch) x m \(m), n \(n), k \(k))")
    try enqueued()
  }

  /// Row-major SGEMM through CLBlast: c = alpha·op(a)·op(b) + beta·c.
  func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: CLBuffer, lda: Int, b: CLBuffer, ldb: Int, beta: Float, c: CLBuffer, ldc: Int
  ) throws {
    guard m > 0, n > 0 else { return }
    lock.lock()
    defer { lock.unlock() }
    var q: cl_command_queue? = queue.handle
    // CLBlast's event covers only its last kernel; when timing, markers around the call
    // bracket all of it (the time from the first marker's start to the second's end).
    func name() -> String { "sgemm \(m)x\(n)x\(k)" }
    if let before = eventSlot(name() + " start") {
      try CLStatus.check(clEnqueueMarkerWithWaitList(queue.handle, 0, nil, before), "clEnqueueMarkerWithWaitList")
    }
    defer {
      if let after = eventSlot(name()) { clEnqueueMarkerWithWaitList(queue.handle, 0, nil, after) }
    }
    let status = CLBlastSgemm(
      CLBlastLayoutRowMajor, transposeA ? CLBlastTransposeYes : CLBlastTransposeNo,
      transposeB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a.handle, 0, lda,
      b.handle, 0, ldb, beta, c.handle, 0, ldc, &q, nil)
    try CLStatus.check(status.rawValue, "CLBlastSgemm(m \(m), n \(n), k \(k))")
    try enqueued()
  }
}

extension OpenCLBackend: KernelTiming {
  public func startKernelTimings() {
    locked { recording = canTimeKernels ? [] : nil }
  }

  public var recordedKernelCount: Int { locked { recording?.count ?? 0 } }

  public func stopKernelTimings() throws -> [(name: String, seconds: Double)] {
    try synchronize()
    let slots = locked { () -> [(String, UnsafeMutablePointer<cl_event?>)] in
      defer { recording = nil }
      return recording ?? []
    }
    defer { slots.forEach { $0.1.deallocate() } }
    func time(_ slot: UnsafeMutablePointer<cl_event?>, _ which: Int32) throws -> cl_ulong? {
      guard let event = slot.pointee else { return nil }
      var t: cl_ulong = 0
      try CLStatus.check(
        clGetEventProfilingInfo(event, cl_profiling_info(which), 8, &t, nil), "clGetEventProfilingInfo")
      return t
    }
    defer { slots.forEach { if let e = $0.1.pointee { clReleaseEvent(e) } } }
    // Each entry is one command, except a "NAME start" marker, which opens an interval that
    // the next entry (its closing marker) ends. Every entry counts, so callers can slice by
    // `recordedKernelCount`; the opening marker reports 0 s and the closing one the interval.
    var result: [(name: String, seconds: Double)] = []
    var open: cl_ulong?
    for (name, slot) in slots {
      if name.hasSuffix(" start") {
        open = try time(slot, CL_PROFILING_COMMAND_START)
        result.append((name, 0))
        continue
      }
      let start = try open ?? time(slot, CL_PROFILING_COMMAND_START)
      open = nil
      let end = try time(slot, CL_PROFILING_COMMAND_END)
      if let start, let end { result.append((name, Double(end &- start) * 1e-9)) } else { result.append((name, 0)) }
    }
    return result
  }
}
