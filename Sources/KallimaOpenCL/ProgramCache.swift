import CKallima
import Foundation
import KallimaCore

/// Compiles OpenCL programs once per (source, options, device, driver) and keeps them in
/// memory and on disk, so a second process loads binaries instead of recompiling.
///
/// Disk location: `$KALLIMA_CACHE_DIR`, else `$XDG_CACHE_HOME/kallima`, else
/// `~/.cache/kallima`; `KALLIMA_CACHE_DIR=off` disables the disk cache. Entries are written
/// atomically (temporary file, then rename); an unreadable entry is rebuilt from source.
final class ProgramCache {
  struct Statistics {
    var builtFromSource = 0
    var loadedFromDisk = 0
    var secondsBuilding = 0.0
  }

  let context: CLContext
  let device: OpenCLDeviceInfo
  let directory: URL?
  private var programs: [String: CLProgram] = [:]
  private let lock = NSLock()
  private(set) var statistics = Statistics()

  init(context: CLContext, device: OpenCLDeviceInfo, directory: URL? = ProgramCache.defaultDirectory()) {
    self.context = context
    self.device = device
    self.directory = directory
  }

  static func defaultDirectory() -> URL? {
    let env = ProcessInfo.processInfo.environment
    if let dir = env["KALLIMA_CACHE_DIR"] {
      return dir == "off" || dir.isEmpty ? nil : URL(fileURLWithPath: dir)
    }
    if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty {
      return URL(fileURLWithPath: xdg).appendingPathComponent("kallima")
    }
    return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/kallima")
  }

  /// 128-bit FNV-1a (two 64-bit lanes with different offsets) of everything that decides
  /// the compiled binary.
  static func key(source: String, options: String, device: OpenCLDeviceInfo) -> String {
    let material = [source, options, device.name, device.vendor, device.driverVersion, device.platformVersion]
      .joined(separator: "\u{1}")
    var a: UInt64 = 0xcbf2_9ce4_8422_2325
    var b: UInt64 = 0x6c62_272e_07bb_0142
    for byte in material.utf8 {
      a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
      b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
      b = b &+ (b >> 29)
    }
    return String(a, radix: 16) + String(b, radix: 16)
  }

  /// The built program for `source` (named `file` in errors).
  func program(file: String, source: String, options: String) throws -> CLProgram {
    let key = ProgramCache.key(source: source, options: options, device: device)
    lock.lock()
    defer { lock.unlock() }
    if let p = programs[key] { return p }
    let start = Date()
    let program: CLProgram
    if let cached = try? loadBinary(key: key, options: options) {
      program = cached
      statistics.loadedFromDisk += 1
    } else {
      program = try build(file: file, source: source, options: options)
      statistics.builtFromSource += 1
      storeBinary(program, key: key)
    }
    statistics.secondsBuilding += Date().timeIntervalSince(start)
    programs[key] = program
    return program
  }

  private func build(file: String, source: String, options: String) throws -> CLProgram {
    var status: cl_int = 0
    let handle: cl_program? = source.withCString { cstr in
      var pointer: UnsafePointer<CChar>? = cstr
      var length = strlen(cstr)
      return clCreateProgramWithSource(context.handle, 1, &pointer, &length, &status)
    }
    try CLStatus.check(status, "clCreateProgramWithSource(\(file))")
    let program = CLProgram(handle!)
    var deviceID: cl_device_id? = device.deviceID
    let built = clBuildProgram(program.handle, 1, &deviceID, options, nil, nil)
    if built != CL_SUCCESS {
      throw KallimaError.kernelBuild(
        file: file, device: device.description, options: options, log: buildLog(program))
    }
    return program
  }

  private func buildLog(_ program: CLProgram) -> String {
    var size = 0
    clGetProgramBuildInfo(
      program.handle, device.deviceID, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size)
    var bytes = [CChar](repeating: 0, count: size + 1)
    clGetProgramBuildInfo(
      program.handle, device.deviceID, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil)
    let log = String(cString: bytes)
    return log.isEmpty ? "(the driver gave no log)" : log
  }

  private func path(for key: String) -> URL? {
    directory?.appendingPathComponent("programs").appendingPathComponent(key + ".clbin")
  }

  private func loadBinary(key: String, options: String) throws -> CLProgram? {
    guard let url = path(for: key), let data = try? Data(contentsOf: url), !data.isEmpty else {
      return nil
    }
    var status: cl_int = 0
    var binaryStatus: cl_int = 0
    var deviceID: cl_device_id? = device.deviceID
    let handle: cl_program? = data.withUnsafeBytes { raw in
      var pointer: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
      var length = data.count
      return clCreateProgramWithBinary(
        context.handle, 1, &deviceID, &length, &pointer, &binaryStatus, &status)
    }
    guard status == CL_SUCCESS, binaryStatus == CL_SUCCESS, let handle else { return nil }
    let program = CLProgram(handle)
    guard clBuildProgram(program.handle, 1, &deviceID, options, nil, nil) == CL_SUCCESS else {
      return nil
    }
    return program
  }

  /// Best effort: a cache that cannot be written only costs compile time next run.
  private func storeBinary(_ program: CLProgram, key: String) {
    guard let url = path(for: key) else { return }
    var size = 0
    guard
      clGetProgramInfo(
        program.handle, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil)
        == CL_SUCCESS, size > 0
    else { return }
    var bytes = [UInt8](repeating: 0, count: size)
    let ok = bytes.withUnsafeMutableBufferPointer { buffer -> Bool in
      var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
      return clGetProgramInfo(
        program.handle, cl_program_info(CL_PROGRAM_BINARIES), MemoryLayout<UnsafeMutablePointer<UInt8>>.size,
        &pointer, nil) == CL_SUCCESS
    }
    guard ok else { return }
    do {
      try FileManager.default.createDirectory(
        at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try Data(bytes).write(to: url, options: .atomic)
    } catch {
      FileHandle.standardError.write(Data("kallima: cannot write program cache \(url.path): \(error)\n".utf8))
    }
  }
}
