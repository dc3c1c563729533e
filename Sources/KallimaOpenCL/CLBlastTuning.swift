import CKallima
import Foundation

/// Per-device CLBlast parameter overrides, chosen at run time from the device name and
/// platform. CLBlast ships tuned entries for many GPUs but none for PoCL on CPUs, where its
/// generic defaults run SGEMM about 4x slower than the parameters below (measured on a
/// 2-core Zen 3 under PoCL 3.1; see ../shared/PERF-NOTES.md and the closing notes).
/// `KALLIMA_CLBLAST_TUNING=off` disables the overrides, to measure their effect.
enum CLBlastTuning {
  struct Entry {
    let matches: (OpenCLDeviceInfo) -> Bool
    let kernel: String
    let parameters: [(String, Int)]
  }

  static let table: [Entry] = [
    Entry(
      matches: { $0.platformName.contains("Portable Computing Language") && $0.type == "CPU" },
      kernel: "Xgemm",
      parameters: [
        ("GEMMK", 0), ("KREG", 1), ("KWG", 32), ("KWI", 4), ("MDIMA", 8), ("MDIMC", 8), ("MWG", 128),
        ("NDIMB", 8), ("NDIMC", 8), ("NWG", 128), ("SA", 0), ("SB", 0), ("STRM", 1), ("STRN", 1),
        ("VWM", 8), ("VWN", 8),
      ]),
    Entry(
      matches: { $0.platformName.contains("Portable Computing Language") && $0.type == "CPU" },
      kernel: "GemmRoutine",
      parameters: [("XGEMM_MIN_INDIRECT_SIZE", 128)]),
  ]

  /// Names of the overrides applied to `device` (empty when none match or they are off).
  @discardableResult
  static func apply(to device: OpenCLDeviceInfo) -> [String] {
    if ProcessInfo.processInfo.environment["KALLIMA_CLBLAST_TUNING"] == "off" { return [] }
    var applied: [String] = []
    for entry in table where entry.matches(device) {
      let names = entry.parameters.map { strdup($0.0) }
      defer { names.forEach { free($0) } }
      var pointers = names.map { UnsafePointer<CChar>($0) }
      var values = entry.parameters.map { $0.1 }
      let status = CLBlastOverrideParameters(
        device.deviceID, entry.kernel, CLBlastPrecisionSingle, entry.parameters.count, &pointers, &values)
      if status == CLBlastSuccess {
        applied.append(entry.kernel)
      } else {
        FileHandle.standardError.write(
          Data("kallima: CLBlast override \(entry.kernel) refused (\(CLStatus.name(status.rawValue)))\n".utf8))
      }
    }
    return applied
  }
}
