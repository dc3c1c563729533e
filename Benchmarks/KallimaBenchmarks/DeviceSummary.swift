import KallimaCore
import KallimaOpenCL

/// A device as a benchmark report and `kallima devices` state it: enough to tell which
/// hardware and driver produced a figure.
public struct DeviceSummary: Codable, Equatable {
  /// The `--device` spelling: "cpu" or "opencl:P:D".
  public var selector: String
  public var name: String
  public var platform: String
  /// "CPU", "GPU", "accelerator", "other", or "reference" for Kallima's CPU backend.
  public var type: String
  public var driverVersion: String
  public var openCLCVersion: String?
  public var computeUnits: Int?
  public var globalMemoryBytes: Int?
  public var maxAllocationBytes: Int?
  /// Kallima's tuning table for the device: "tuned DATE" (the user's, from `kallima tune`),
  /// "shipped" (compiled in), "untuned", or "off" (KALLIMA_TUNING=off); nil for the
  /// reference backend.
  public var tuning: String?

  public init(_ info: OpenCLDeviceInfo) {
    selector = info.selector
    name = info.name
    platform = info.platformName
    type = info.type
    driverVersion = info.driverVersion
    openCLCVersion = info.openCLCVersion
    computeUnits = info.computeUnits
    globalMemoryBytes = info.globalMemory
    maxAllocationBytes = info.maxAllocation
    tuning = DeviceTuning.source(for: info).summary
  }

  /// Kallima's reference backend (plain Swift, Double arithmetic, one thread).
  public static let cpuReference = DeviceSummary(
    selector: "cpu", name: "Kallima reference backend (plain Swift, Double arithmetic)",
    platform: "host", type: "reference", driverVersion: "n/a")

  public init(
    selector: String, name: String, platform: String, type: String, driverVersion: String,
    openCLCVersion: String? = nil, computeUnits: Int? = nil, globalMemoryBytes: Int? = nil,
    maxAllocationBytes: Int? = nil, tuning: String? = nil
  ) {
    self.selector = selector
    self.name = name
    self.platform = platform
    self.type = type
    self.driverVersion = driverVersion
    self.openCLCVersion = openCLCVersion
    self.computeUnits = computeUnits
    self.globalMemoryBytes = globalMemoryBytes
    self.maxAllocationBytes = maxAllocationBytes
    self.tuning = tuning
  }

  /// The device behind `backend` (the reference summary for anything but OpenCL).
  public init(backend: Backend) {
    if let cl = backend as? OpenCLBackend {
      self.init(cl.device)
      tuning = cl.tuning.summary
    } else {
      self = .cpuReference
      selector = backend.name
    }
  }
}
