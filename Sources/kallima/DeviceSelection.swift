import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpenCL

/// Turns a `--device` spelling into a backend.
enum DeviceSelection {
  /// `--device` when given, else `$KALLIMA_DEVICE`, else "opencl".
  static func selector(_ option: String?) -> String {
    if let option, !option.isEmpty { return option }
    if let env = ProcessInfo.processInfo.environment["KALLIMA_DEVICE"], !env.isEmpty { return env }
    return "opencl"
  }

  /// "cpu" is the reference backend; "opencl" and "opencl:P:D" open an OpenCL device.
  static func makeBackend(_ selector: String, profiling: Bool = false) throws -> Backend {
    if selector == "cpu" { return CPUBackend() }
    if selector == "opencl" || selector.hasPrefix("opencl:") {
      return try OpenCLBackend(selector: selector, profiling: profiling)
    }
    throw KallimaError.invalidArgument(
      op: "--device", message: "unknown device '\(selector)': use cpu, opencl or opencl:PLATFORM:DEVICE (see `kallima devices`)")
  }
}
