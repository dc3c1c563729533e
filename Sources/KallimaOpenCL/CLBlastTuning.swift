import CKallima
import Foundation

/// CLBlast parameter overrides: the generic ones for devices without a tuning table, and
/// applying a table's (see `TuningTable.clblast`). CLBlast ships tuned entries for many GPUs
/// but none for PoCL on CPUs, where its generic defaults run SGEMM about 4x slower than the
/// parameters below (measured on a 2-core Zen 3 under PoCL 3.1; see ../shared/PERF-NOTES.md).
///
/// `KALLIMA_CLBLAST_TUNING=off` applies no override at all (neither these nor a table's),
/// to measure their effect. Overrides are process-wide in CLBlast: they hold for every
/// context on the device until overridden again.
enum CLBlastTuning {
  /// Whether `KALLIMA_CLBLAST_TUNING=off` is set.
  static var isDisabled: Bool { ProcessInfo.processInfo.environment["KALLIMA_CLBLAST_TUNING"] == "off" }

  /// Hand-set parameters for PoCL on a CPU, from a 15-point search on a Zen 3 (the Xgemm
  /// kernel for sizes from 128 up, where CLBlast would otherwise use its direct kernel).
  static let pocl: [String: [String: Int]] = [
    "Xgemm": [
      "GEMMK": 0, "KREG": 1, "KWG": 32, "KWI": 4, "MDIMA": 8, "MDIMC": 8, "MWG": 128, "NDIMB": 8, "NDIMC": 8,
      "NWG": 128, "SA": 0, "SB": 0, "STRM": 1, "STRN": 1, "VWM": 8, "VWN": 8,
    ],
    "GemmRoutine": ["XGEMM_MIN_INDIRECT_SIZE": 128],
  ]

  /// The overrides for a device with no tuning table: `pocl` on PoCL CPU devices, none
  /// elsewhere (CLBlast's own database).
  static func genericOverrides(for device: OpenCLDeviceInfo) -> [String: [String: Int]] {
    device.platformName.contains("Portable Computing Language") && device.type == "CPU" ? pocl : [:]
  }

  /// Applies `overrides` (kernel → parameter → value) to `device` for single precision;
  /// returns the kernels CLBlast accepted, saying on stderr which it refused and why.
  @discardableResult
  static func apply(_ overrides: [String: [String: Int]], to device: OpenCLDeviceInfo) -> [String] {
    var applied: [String] = []
    for (kernel, parameters) in overrides.sorted(by: { $0.key < $1.key }) {
      let status = override(kernel, parameters, on: device)
      if status == CLBlastSuccess {
        applied.append(kernel)
      } else {
        FileHandle.standardError.write(
          Data("kallima: CLBlast override \(kernel) refused (\(CLStatus.name(status.rawValue)))\n".utf8))
      }
    }
    return applied
  }

  /// One CLBlastOverrideParameters call. CLBlast wants every parameter of the kernel
  /// (kMissingOverrideParameter otherwise).
  static func override(_ kernel: String, _ parameters: [String: Int], on device: OpenCLDeviceInfo) -> CLBlastStatusCode {
    let sorted = parameters.sorted { $0.key < $1.key }
    let names = sorted.map { strdup($0.key) }
    defer { names.forEach { free($0) } }
    var pointers = names.map { UnsafePointer<CChar>($0) }
    var values = sorted.map { $0.value }
    return CLBlastOverrideParameters(
      device.deviceID, kernel, CLBlastPrecisionSingle, sorted.count, &pointers, &values)
  }
}
