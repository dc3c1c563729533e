import CKallima
import Foundation
import KallimaCore

/// One OpenCL device as the driver describes it.
public struct OpenCLDeviceInfo: CustomStringConvertible {
  public let platformIndex: Int
  public let deviceIndex: Int
  public let platformName: String
  public let platformVersion: String
  public let name: String
  public let vendor: String
  public let driverVersion: String
  public let deviceVersion: String
  public let openCLCVersion: String
  public let type: String
  public let computeUnits: Int
  public let globalMemory: Int
  public let maxAllocation: Int
  public let localMemory: Int
  public let maxWorkGroupSize: Int
  /// CL_DEVICE_MAX_WORK_ITEM_SIZES: the largest work-group extent per dimension.
  public let maxWorkItemSizes: [Int]
  /// CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT: the SIMD width PoCL compiles for on a CPU
  /// (16 with AVX-512, 8 with AVX2), usually 1 on GPUs.
  public let preferredFloatWidth: Int
  let platformID: cl_platform_id
  let deviceID: cl_device_id

  /// The OpenCL C version as (major, minor), from "OpenCL C 1.2 ..."; nil when unreadable.
  public var openCLC: (major: Int, minor: Int)? {
    let words = openCLCVersion.split(separator: " ")
    guard words.count >= 3, words[0] == "OpenCL", words[1] == "C" else { return nil }
    let parts = words[2].split(separator: ".").compactMap { Int($0) }
    return parts.count >= 2 ? (parts[0], parts[1]) : nil
  }

  /// What Kallima's kernels and launches assume that this device does not offer; empty when
  /// it can run them. (Work-group sizes are chosen within the device's limits, not assumed.)
  public var capabilityProblems: [String] {
    var problems: [String] = []
    if let version = openCLC {
      if (version.major, version.minor) < (1, 2) {
        problems.append("its OpenCL C is \(version.major).\(version.minor); the kernels are OpenCL C 1.2")
      }
    } else {
      problems.append("it reports no OpenCL C version Kallima can read ('\(openCLCVersion)')")
    }
    if maxWorkItemSizes.count < 3 {
      problems.append("it has \(maxWorkItemSizes.count) work-item dimensions; batched GEMMs launch 3")
    }
    if localMemory < 16 {
      // The reductions' scratch holds one float per work-item: groups of 4 at least (the
      // smallest the tests run them with).
      problems.append("it has \(localMemory) bytes of local memory; the reductions need at least 16")
    }
    return problems
  }

  /// The `--device` spelling that selects this device.
  public var selector: String { "opencl:\(platformIndex):\(deviceIndex)" }

  public var description: String { "\(selector) \(name) (\(platformName), driver \(driverVersion))" }
}

/// Platform and device discovery.
public enum OpenCL {
  /// Message for machines with no usable OpenCL platform.
  static let installHint = """
    No OpenCL platform found. Install an OpenCL driver: on Debian or Ubuntu \
    `apt-get install pocl-opencl-icd` gives a CPU device (PoCL); GPU vendors ship their own \
    ICD (NVIDIA's driver, Mesa's rusticl, ROCm, Intel compute-runtime). \
    Or run with `--device cpu` to use Kallima's reference backend.
    """

  private static let discoveryLock = NSLock()
  nonisolated(unsafe) private static var discovered: [OpenCLDeviceInfo]?

  /// Every device of every platform, in driver order. Discovered once per process and
  /// under a lock: the ICD loader's first clGetPlatformIDs is not safe to race (concurrent
  /// first calls were seen to report no platform).
  public static func devices() throws -> [OpenCLDeviceInfo] {
    discoveryLock.lock()
    defer { discoveryLock.unlock() }
    if let discovered { return discovered }
    let result = try discover()
    discovered = result
    return result
  }

  static func discover() throws -> [OpenCLDeviceInfo] {
    var platformCount: cl_uint = 0
    let status = clGetPlatformIDs(0, nil, &platformCount)
    if status == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || platformCount == 0 {
      throw KallimaError.noDevice(installHint)
    }
    try CLStatus.check(status, "clGetPlatformIDs")
    var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
    try CLStatus.check(clGetPlatformIDs(platformCount, &platforms, nil), "clGetPlatformIDs")
    var result: [OpenCLDeviceInfo] = []
    for (p, platformOpt) in platforms.enumerated() {
      guard let platform = platformOpt else { continue }
      var deviceCount: cl_uint = 0
      let s = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount)
      if s == CL_DEVICE_NOT_FOUND || deviceCount == 0 { continue }
      try CLStatus.check(s, "clGetDeviceIDs")
      var devices = [cl_device_id?](repeating: nil, count: Int(deviceCount))
      try CLStatus.check(
        clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &devices, nil),
        "clGetDeviceIDs")
      for (d, deviceOpt) in devices.enumerated() {
        guard let device = deviceOpt else { continue }
        let typeBits: cl_device_type = try deviceValue(device, CL_DEVICE_TYPE)
        let type =
          typeBits & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 ? "GPU"
          : typeBits & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 ? "CPU"
          : typeBits & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 ? "accelerator" : "other"
        result.append(
          OpenCLDeviceInfo(
            platformIndex: p, deviceIndex: d,
            platformName: try platformString(platform, CL_PLATFORM_NAME),
            platformVersion: try platformString(platform, CL_PLATFORM_VERSION),
            name: try deviceString(device, CL_DEVICE_NAME),
            vendor: try deviceString(device, CL_DEVICE_VENDOR),
            driverVersion: try deviceString(device, CL_DRIVER_VERSION),
            deviceVersion: try deviceString(device, CL_DEVICE_VERSION),
            openCLCVersion: try deviceString(device, CL_DEVICE_OPENCL_C_VERSION),
            type: type,
            computeUnits: Int(try deviceValue(device, CL_DEVICE_MAX_COMPUTE_UNITS) as cl_uint),
            globalMemory: Int(try deviceValue(device, CL_DEVICE_GLOBAL_MEM_SIZE) as cl_ulong),
            maxAllocation: Int(try deviceValue(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE) as cl_ulong),
            localMemory: Int(try deviceValue(device, CL_DEVICE_LOCAL_MEM_SIZE) as cl_ulong),
            maxWorkGroupSize: Int(try deviceValue(device, CL_DEVICE_MAX_WORK_GROUP_SIZE) as Int),
            maxWorkItemSizes: try workItemSizes(device),
            preferredFloatWidth: Int(try deviceValue(device, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT) as cl_uint),
            platformID: platform, deviceID: device))
      }
    }
    if result.isEmpty { throw KallimaError.noDevice(installHint) }
    return result
  }

  static func platformString(_ platform: cl_platform_id, _ param: Int32) throws -> String {
    var size = 0
    try CLStatus.check(clGetPlatformInfo(platform, cl_platform_info(param), 0, nil, &size), "clGetPlatformInfo")
    var bytes = [CChar](repeating: 0, count: size + 1)
    try CLStatus.check(
      clGetPlatformInfo(platform, cl_platform_info(param), size, &bytes, nil), "clGetPlatformInfo")
    return String(cString: bytes).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  static func deviceString(_ device: cl_device_id, _ param: Int32) throws -> String {
    var size = 0
    try CLStatus.check(clGetDeviceInfo(device, cl_device_info(param), 0, nil, &size), "clGetDeviceInfo")
    var bytes = [CChar](repeating: 0, count: size + 1)
    try CLStatus.check(clGetDeviceInfo(device, cl_device_info(param), size, &bytes, nil), "clGetDeviceInfo")
    return String(cString: bytes).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  static func workItemSizes(_ device: cl_device_id) throws -> [Int] {
    let dimensions = Int(try deviceValue(device, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS) as cl_uint)
    var sizes = [Int](repeating: 0, count: max(dimensions, 1))
    try CLStatus.check(
      clGetDeviceInfo(device, cl_device_info(CL_DEVICE_MAX_WORK_ITEM_SIZES), MemoryLayout<Int>.size * sizes.count, &sizes, nil),
      "clGetDeviceInfo(CL_DEVICE_MAX_WORK_ITEM_SIZES)")
    return Array(sizes.prefix(dimensions))
  }

  static func deviceValue<T: FixedWidthInteger>(_ device: cl_device_id, _ param: Int32) throws -> T {
    var value: T = 0
    try CLStatus.check(
      clGetDeviceInfo(device, cl_device_info(param), MemoryLayout<T>.size, &value, nil), "clGetDeviceInfo")
    return value
  }
}

