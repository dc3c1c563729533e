import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpSuite
@testable import KallimaOpenCL
@testable import KallimaSelfTest
import Testing

/// What the kernels assume of a device is checked when it is opened, and work-group sizes
/// are chosen within its limits: never a wrong result on a device that differs from PoCL.
@Suite("Device capabilities")
struct CapabilityTests {
  /// This machine's device with some of its reported limits replaced.
  static func device(
    openCLC: String? = nil, workItemSizes: [Int]? = nil, localMemory: Int? = nil
  ) throws -> OpenCLDeviceInfo {
    let d = try sharedOpenCL.get().device
    return OpenCLDeviceInfo(
      platformIndex: d.platformIndex, deviceIndex: d.deviceIndex, platformName: d.platformName,
      platformVersion: d.platformVersion, name: d.name, vendor: d.vendor, driverVersion: d.driverVersion,
      deviceVersion: d.deviceVersion, openCLCVersion: openCLC ?? d.openCLCVersion, type: d.type,
      computeUnits: d.computeUnits, globalMemory: d.globalMemory, maxAllocation: d.maxAllocation,
      localMemory: localMemory ?? d.localMemory, maxWorkGroupSize: d.maxWorkGroupSize,
      maxWorkItemSizes: workItemSizes ?? d.maxWorkItemSizes, preferredFloatWidth: d.preferredFloatWidth,
      platformID: d.platformID, deviceID: d.deviceID)
  }

  @Test("this device passes the checks; OpenCL C 1.1, two dimensions or no local memory are refused by name")
  func refusals() throws {
    #expect(try Self.device().capabilityProblems.isEmpty)
    #expect(try Self.device().openCLC.map { $0.major * 10 + $0.minor } ?? 0 >= 12)
    for (device, words) in [
      (try Self.device(openCLC: "OpenCL C 1.1 "), "OpenCL C is 1.1"),
      (try Self.device(openCLC: "garbled"), "no OpenCL C version"),
      (try Self.device(workItemSizes: [256, 256]), "2 work-item dimensions"),
      (try Self.device(localMemory: 8), "8 bytes of local memory"),
    ] {
      #expect(device.capabilityProblems.contains { $0.contains(words) }, "\(device.capabilityProblems)")
      #expect { try OpenCLBackend(device: device) } throws: { error in
        "\(error)".contains("cannot run Kallima") && "\(error)".contains(words) && "\(error)".contains("--device cpu")
      }
    }
  }

  @Test("work-groups follow the first dimension's limit and local memory")
  func groupLimits() throws {
    // Both below the 16 a CPU's reductions use and the 256 of elementwise launches, so
    // ignoring either limit shows.
    let narrow = try OpenCLBackend(device: try Self.device(workItemSizes: [8, 8, 8]))
    #expect(narrow.groupSize == 8 && narrow.reduceGroupSize == 8)
    let little = try OpenCLBackend(device: try Self.device(localMemory: 32))  // 8 floats of scratch
    #expect(little.reduceGroupSize == 8 && little.groupSize == min(256, little.device.maxWorkGroupSize))
  }

  /// Groups of 7 items (not a power of two, not a multiple of any SIMD width) for every
  /// element-wise launch and of 4 for the reductions: the quick self-test's cases still match
  /// the CPU reference, so no kernel relies on the group sizes PoCL happens to be given.
  @Test("the quick parity cases pass with work-groups of 7 (reductions: 4)")
  func oddGroups() throws {
    let odd = try OpenCLBackend(device: try sharedOpenCL.get().device, workGroupLimit: 7)
    #expect(odd.groupSize == 7 && odd.reduceGroupSize == 4)
    let report = try SelfTest.run(on: odd, deviceName: "groups of 7", quick: true, trainingSteps: 0)
    #expect(report.passed, "\(report.table)")
  }
}
