import CKallima
import Foundation

/// The tuning a backend runs with: its device's table (see `DeviceTuning`), applied when the
/// backend is made.
extension OpenCLBackend {
  /// What a backend's tuning came from and the CLBlast overrides it applied.
  struct TuningState {
    var source: TuningSource = .untuned
    var clblast: [String: [String: Int]] = [:]
  }

  /// Where this backend's tuning came from (user table, shipped table, untuned, off).
  public var tuning: TuningSource { locked { tuningState.source } }

  /// The CLBlast overrides in effect for this backend's device (kernel → parameter → value);
  /// empty with `KALLIMA_CLBLAST_TUNING=off`.
  public var clblastOverrides: [String: [String: Int]] { locked { tuningState.clblast } }

  /// Finds the device's table (user table in `directory`, else a shipped one) and applies
  /// it; returns where it came from. `OpenCLBackend.init` calls this with the cache folder's
  /// `tuning/`; tests pass a folder of their own.
  @discardableResult
  public func loadTuning(from directory: URL? = DeviceTuning.defaultDirectory()) -> TuningSource {
    let resolution = DeviceTuning.resolve(for: device, directory: directory)
    resolution.warnings.forEach(DeviceTuning.warnOnce)
    apply(resolution.table, source: resolution.source)
    return resolution.source
  }

  /// Applies `table` (nil: the untuned choices): its CLBlast overrides (unless
  /// `KALLIMA_CLBLAST_TUNING=off`) and its GEMM selection.
  public func apply(_ table: TuningTable?, source: TuningSource) {
    var overrides = table?.clblast ?? CLBlastTuning.genericOverrides(for: device)
    if CLBlastTuning.isDisabled { overrides = [:] }
    let accepted = Set(CLBlastTuning.apply(overrides, to: device))
    locked {
      tuningState = TuningState(source: source, clblast: overrides.filter { accepted.contains($0.key) })
      gemmChoices = table?.selection ?? .untuned(for: device)
    }
  }

  /// Applies CLBlast overrides for `kernel` for the rest of the process (the Xgemm search of
  /// `kallima tune`); false when CLBlast refuses them.
  func overrideCLBlast(_ kernel: String, _ parameters: [String: Int]) -> Bool {
    guard CLBlastTuning.override(kernel, parameters, on: device) == CLBlastSuccess else { return false }
    locked { tuningState.clblast[kernel] = parameters }
    return true
  }
}
