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

  /// The device of local rank `localRank` of `localSize` (ranks on one machine, under
  /// mpirun): from a comma-separated list (`opencl:0:0,opencl:0:1`), the rank's entry
  /// (round robin); for plain "opencl" with several local ranks, the rank's OpenCL device in
  /// `kallima devices` order (round robin); anything else as given.
  static func selector(_ option: String?, localRank: Int, localSize: Int) throws -> String {
    let chosen = selector(option)
    let list = chosen.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    if list.count > 1 { return list[localRank % list.count] }
    guard chosen == "opencl", localSize > 1 else { return list.first ?? chosen }
    let devices = try OpenCL.devices()
    return devices.isEmpty ? chosen : devices[localRank % devices.count].selector
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
