import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpSuite
import Testing

@testable import KallimaOpenCL

/// The OpenCL runtime: device discovery, program building and caching, and the errors a
/// user sees for bad input.
@Suite("OpenCL runtime")
struct RuntimeTests {
  @Test("an OpenCL device is found and used (PoCL on a machine without a GPU)")
  func deviceFound() throws {
    let devices = try OpenCL.devices()
    #expect(!devices.isEmpty)
    let cl = try sharedOpenCL.get()
    #expect(cl.name.hasPrefix("opencl:"))
    #expect(cl.device.computeUnits >= 1)
  }

  @Test("every Kernels/*.cl file is embedded verbatim in the binary")
  func kernelsEmbedded() throws {
    let kernelDirectory = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Kernels")
    let files = try FileManager.default.contentsOfDirectory(atPath: kernelDirectory.path)
      .filter { $0.hasSuffix(".cl") || $0.hasSuffix(".h") }
    #expect(files.count >= 7)
    for file in files {
      let onDisk = try String(contentsOf: kernelDirectory.appendingPathComponent(file), encoding: .utf8)
      #expect(EmbeddedKernels.files[file] == onDisk, "\(file) differs from its embedded copy")
    }
  }

  @Test("every kernel program builds on the device")
  func allProgramsBuild() throws {
    let cl = try sharedOpenCL.get()
    let names = Set(OpenCLBackend.kernelFiles.keys)
    #expect(names.count >= 30)
    for name in names.sorted() { _ = try cl.locked { try cl.kernel(name) } }
  }

  @Test("a kernel that fails to compile throws with the build log and options")
  func buildFailure() throws {
    let cl = try sharedOpenCL.get()
    let cache = ProgramCache(context: cl.context, device: cl.device, directory: nil)
    do {
      _ = try cache.program(file: "broken.cl", source: "__kernel void f() { undefined_thing(); }", options: "-DX=1")
      Issue.record("expected a build failure")
    } catch let error as KallimaError {
      let text = error.description
      #expect(text.contains("broken.cl"))
      #expect(text.contains("-DX=1"))
      #expect(text.contains("undefined_thing"), "the compiler log should name the bad call: \(text)")
    }
  }

  @Test("compiled programs persist on disk: a second process loads instead of compiling")
  func diskCache() throws {
    let cl = try sharedOpenCL.get()
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kallima-cache-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let source = "__kernel void twice(__global float* x) { x[get_global_id(0)] *= 2.0f; }"
    let first = ProgramCache(context: cl.context, device: cl.device, directory: dir)
    _ = try first.program(file: "twice.cl", source: source, options: "")
    #expect(first.statistics.builtFromSource == 1)
    let second = ProgramCache(context: cl.context, device: cl.device, directory: dir)
    _ = try second.program(file: "twice.cl", source: source, options: "")
    #expect(second.statistics.loadedFromDisk == 1)
    #expect(second.statistics.builtFromSource == 0)
    // A corrupt entry is rebuilt, not fatal.
    for file in try FileManager.default.contentsOfDirectory(
      at: dir.appendingPathComponent("programs"), includingPropertiesForKeys: nil)
    {
      try Data("garbage".utf8).write(to: file)
    }
    let third = ProgramCache(context: cl.context, device: cl.device, directory: dir)
    _ = try third.program(file: "twice.cl", source: source, options: "")
    #expect(third.statistics.builtFromSource == 1)
  }

  @Test("shape mismatches name the op and both shapes")
  func shapeErrors() throws {
    let cl = try sharedOpenCL.get()
    let x = try cl.zeros([2, 3, 8, 8])
    let w = try cl.zeros([4, 3, 4, 4])
    let y = try cl.zeros([2, 4, 5, 5])
    #expect {
      try cl.conv2d_fwd(x: x, weight: w, bias: nil, y: y, params: Conv2dParams(stride: 2, padding: 1))
    } throws: { error in
      let text = "\(error)"
      return text.contains("conv2d_fwd") && text.contains("[2, 4, 5, 5]") && text.contains("[2, 4, 4, 4]")
    }
    let a = try cl.zeros([3, 4])
    #expect {
      try cl.matmul(a, transposeA: false, a, transposeB: false, c: a, alpha: 1, beta: 0)
    } throws: { "\($0)".contains("matmul") && "\($0)".contains("inner dimensions") }
  }

  /// What a data-parallel exchange relies on (`Plan`'s exchanges): a float download into
  /// pinned memory, waited on from another thread, holds what the launches enqueued before
  /// it computed; an upload from it lands before the launches enqueued after it.
  @Test("float transfers through pinned staging keep their place in the queue, waited on from another thread")
  func stagingTransfers() throws {
    let cl = try sharedOpenCL.get()
    let n = 1 << 16
    let x = try cl.makeTensor([n], values: (0..<n).map { Float($0) })
    let y = try cl.zeros([n])
    let staging = try cl.makeStagingBuffer(bytes: 4 * n)
    let floats = staging.bytes.bindMemory(to: Float.self)
    try cl.scale(x, alpha: 2, y: y)
    try cl.download(y, into: staging)
    let done = DispatchSemaphore(value: 0)
    final class Box: @unchecked Sendable {
      let staging: StagingBuffer
      var values: [Float] = []
      var error: Error?
      init(_ staging: StagingBuffer) { self.staging = staging }
    }
    let box = Box(staging)
    Thread {
      do {
        try box.staging.waitForTransfer()
        box.values = Array(box.staging.bytes.bindMemory(to: Float.self)[0..<n])
      } catch { box.error = error }
      done.signal()
    }.start()
    done.wait()
    #expect(box.error == nil)
    #expect(box.values == (0..<n).map { Float(2 * $0) })
    for i in 0..<n { floats[i] = 1 }
    try cl.upload(staging, to: y)
    try cl.scale(y, alpha: 3, y: x)
    #expect(try cl.read(x).allSatisfy { $0 == 3 })
    #expect(throws: (any Error).self) { try cl.download(try cl.zeros([2 * n]), into: staging) }
  }

  @Test("a tensor from another backend is refused by name")
  func wrongBackend() throws {
    let cl = try sharedOpenCL.get()
    let onCPU = try CPUBackend().zeros([4])
    let onCL = try cl.zeros([4])
    #expect { try cl.add(onCPU, onCL, y: onCL) } throws: { "\($0)".contains("cpu") }
  }

  @Test("an allocation beyond the device's limit names the size asked")
  func outOfMemory() throws {
    let cl = try sharedOpenCL.get()
    let count = cl.device.maxAllocation / 4 + 1_000_000
    #expect { _ = try cl.makeBuffer(count: count) } throws: { error in
      guard case KallimaError.outOfMemory(_, let bytes) = error else { return false }
      let text = "\(error)"
      return bytes == count * 4 && text.contains("\(count * 4) bytes") && text.contains("CL_DEVICE_MAX_MEM_ALLOC_SIZE")
        && text.contains("smaller batch")
    }
  }

  @Test("a memory limit counts live buffers: an allocation past it is refused with the size, use and limit")
  func memoryLimit() throws {
    let cl = try OpenCLBackend(device: try sharedOpenCL.get().device)
    if ProcessInfo.processInfo.environment["KALLIMA_DEVICE_MEMORY_LIMIT"] == nil {
      #expect(cl.memoryLimit == cl.device.globalMemory)
    }
    cl.memoryLimit = 1 << 20
    var held = [try cl.makeBuffer(count: 1 << 17), try cl.makeBuffer(count: 1 << 17)]  // 2 x 512 KiB: exactly the limit
    #expect(cl.allocatedBytes == 1 << 20)
    #expect { _ = try cl.makeBuffer(count: 1) } throws: { error in
      guard case KallimaError.outOfMemory(_, let bytes) = error else { return false }
      return bytes == 4 && "\(error)".contains("1048576 bytes are in use of the 1048576 bytes allowed")
    }
    held.removeLast()  // a released buffer leaves the count
    #expect(cl.allocatedBytes == 1 << 19)
    held.append(try cl.makeBuffer(count: 1 << 17))
    #expect(held.count == 2 && cl.allocatedBytes == 1 << 20)
  }

  @Test("out-of-memory status codes say what to change; other codes name the call and code only")
  func outOfMemoryStatus() {
    for code: Int32 in [-4, -5, -6] {
      let text = CLStatus.error(code, "clEnqueueNDRangeKernel(conv2d_fwd, 64 items)").description
      #expect(text.contains("clEnqueueNDRangeKernel(conv2d_fwd") && text.contains("ran out of memory"))
      #expect(text.contains("--batch") && text.contains("another --device") && text.contains("(\(code))"))
    }
    let other = CLStatus.error(-30, "clSetKernelArg(f, 0)").description
    #expect(other == "clSetKernelArg(f, 0) failed with CL_INVALID_VALUE (-30)")
  }

  @Test("a shipped kernel file that no longer compiles throws with its name, the options and the compiler log")
  func brokenKernelFile() throws {
    let cl = try sharedOpenCL.get()
    let cache = ProgramCache(context: cl.context, device: cl.device, directory: nil)
    let source = try #require(OpenCLBackend.expandedSource("data.cl")) + "\nkallima_broken_token here;\n"
    let error = try #require(throws: KallimaError.self) {
      _ = try cache.program(file: "data.cl", source: source, options: cl.buildOptions)
    }
    guard case .kernelBuild(let file, let device, let options, let log) = error else {
      Issue.record("expected a build failure, got \(error)")
      return
    }
    #expect(file == "data.cl" && device == cl.device.description && options == cl.buildOptions)
    #expect(log.contains("kallima_broken_token"), "the log should name the bad token: \(log)")
    #expect(error.description.contains("build log:\n") && error.description.contains("program data.cl failed to build"))
  }

  @Test("an unknown device selector lists the devices there are")
  func badSelector() {
    #expect { _ = try OpenCLBackend(selector: "opencl:7:3") } throws: { "\($0)".contains("opencl:0:0") }
    #expect { _ = try OpenCLBackend(selector: "cuda") } throws: { "\($0)".contains("unknown device") }
  }
}

/// The Philox streams: identical bits everywhere, and statistically what they claim.
@Suite("Philox random fills")
struct RandomTests {
  @Test("large fills are bit-identical on CPU and OpenCL")
  func bitIdenticalLarge() throws {
    let cl = try sharedOpenCL.get()
    let cpu = CPUBackend()
    let n = 1 << 17
    let stream = RandomStream(seed: 42, counter: 1 << 40)
    for normal in [false, true] {
      let (a, b) = (try cpu.outputTensor([n]), try cl.outputTensor([n]))
      if normal {
        try cpu.random_normal(a, stream: stream, mean: 0, std: 1)
        try cl.random_normal(b, stream: stream, mean: 0, std: 1)
      } else {
        try cpu.random_uniform(a, stream: stream, low: 0, high: 1)
        try cl.random_uniform(b, stream: stream, low: 0, high: 1)
      }
      let (onCL, onCPU) = (try cl.read(b), try cpu.read(a))
      expectBitIdentical(onCL, onCPU, normal ? "normal" : "uniform")
      #expect(!onCPU.contains { $0.isNaN }, "every element written (outputs start as the NaN sentinel)")
    }
  }

  @Test("normal and uniform fills have the moments they claim")
  func moments() throws {
    let cpu = CPUBackend()
    let n = 200_000
    let y = try cpu.makeTensor([n])
    try cpu.random_normal(y, stream: RandomStream(seed: 7), mean: 0.5, std: 2)
    let v = try cpu.readDouble(y)
    let mean = v.reduce(0, +) / Double(n)
    let std = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)).squareRoot()
    #expect(abs(mean - 0.5) < 0.02)
    #expect(abs(std - 2) < 0.02)
    let tail = Double(v.filter { abs($0 - 0.5) > 4 }.count) / Double(n)  // beyond 2 sigma: 4.55%
    #expect(abs(tail - 0.0455) < 0.003)
    try cpu.random_uniform(y, stream: RandomStream(seed: 7), low: -1, high: 3)
    let u = try cpu.readDouble(y)
    #expect(u.allSatisfy { $0 >= -1 && $0 < 3 })
    #expect(abs(u.reduce(0, +) / Double(n) - 1) < 0.02)
  }

  @Test("streams at different counters or seeds differ; advancing skips whole blocks")
  func counters() throws {
    let cpu = CPUBackend()
    let s = RandomStream(seed: 1, counter: 0)
    let (a, b, c) = (try cpu.makeTensor([10]), try cpu.makeTensor([10]), try cpu.makeTensor([10]))
    try cpu.random_uniform(a, stream: s, low: 0, high: 1)
    try cpu.random_uniform(b, stream: s.advanced(by: 10), low: 0, high: 1)
    try cpu.random_uniform(c, stream: RandomStream(seed: 2), low: 0, high: 1)
    #expect(try cpu.read(a) != cpu.read(b))
    #expect(try cpu.read(a) != cpu.read(c))
    #expect(s.advanced(by: 10).counter == 3)
    // Value i of a fill at counter k + 1 is value i + 4 of the fill at counter k.
    let long = try cpu.makeTensor([8])
    try cpu.random_uniform(long, stream: s, low: 0, high: 1)
    let shifted = try cpu.makeTensor([4])
    try cpu.random_uniform(shifted, stream: RandomStream(seed: 1, counter: 1), low: 0, high: 1)
    #expect(Array(try cpu.read(long)[4..<8]) == (try cpu.read(shifted)))
  }

  @Test("Philox4x32-10 matches the three Random123 known-answer vectors (zero, all-ones, digits of π)")
  func knownAnswers() {
    // Random123's kat_vectors, "philox4x32 10" lines: counter (4 words), key (2 words) → output.
    let vectors: [(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32), output: [UInt32])] = [
      ((0, 0, 0, 0), (0, 0), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
      ((0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), (0xffff_ffff, 0xffff_ffff),
       [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
      ((0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), (0xa409_3822, 0x299f_31d0),
       [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]),
    ]
    for v in vectors {
      let b = Philox.block(counter: v.counter, key: v.key)
      #expect([b.0, b.1, b.2, b.3] == v.output, "counter \(v.counter), key \(v.key)")
    }
    // The streams' form: counter c is the 128-bit counter (c, 0), the seed the key (low, high).
    let stream = Philox.block(seed: 0xffff_ffff_ffff_ffff, counter: 0xffff_ffff_ffff_ffff)
    let full = Philox.block(counter: (0xffff_ffff, 0xffff_ffff, 0, 0), key: (0xffff_ffff, 0xffff_ffff))
    #expect([stream.0, stream.1, stream.2, stream.3] == [full.0, full.1, full.2, full.3])
  }
}
