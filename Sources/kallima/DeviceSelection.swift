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
  /// `suggestTuning`: for training and benchmarking, say once when the device is untuned.
  static func makeBackend(_ selector: String, profiling: Bool = false, suggestTuning: Bool = true) throws -> Backend {
    if selector == "cpu" { return CPUBackend() }
    if selector == "opencl" || selector.hasPrefix("opencl:") {
      let backend = try OpenCLBackend(selector: selector, profiling: profiling)
      if suggestTuning { suggestTuningOnce(backend) }
      return backend
    }
    throw KallimaError.invalidArgument(
      op: "--device", message: "unknown device '\(selector)': use cpu, opencl or opencl:PLATFORM:DEVICE (see `kallima devices`)")
  }

  nonisolated(unsafe) private static var suggested = false

  /// One line per process when `backend`'s device has no tuning table (not when
  /// KALLIMA_TUNING=off: then the user chose it).
  static func suggestTuningOnce(_ backend: OpenCLBackend) {
    guard backend.tuning == .untuned, !suggested else { return }
    suggested = true
    printError(
      "kallima: \(backend.device.name) is untuned; `kallima tune --device \(backend.device.selector)` measures "
        + "the fastest GEMM per shape once and every later run uses it")
  }
}
