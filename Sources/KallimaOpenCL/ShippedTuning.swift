import Foundation

/// Tuning tables measured with `kallima tune` on devices Kallima is developed on, compiled
/// into the binary so that the same device starts tuned on a fresh install. A user's own
/// table (in the cache folder) takes precedence; see `DeviceTuning`.
///
/// Each entry is the JSON `kallima tune` wrote, verbatim (a test checks each decodes and
/// names its device). To add one: run `kallima tune` on the device, and paste the file it
/// names between a new pair of `#"""` `"""#`.
enum ShippedTuning {
  static let json: [String] = []

  /// The entries that decode (a bad one is reported once and skipped, never fatal).
  static let tables: [TuningTable] = json.enumerated().compactMap { index, text in
    do {
      return try TuningTable.decode(Data(text.utf8), origin: "shipped tuning table \(index)")
    } catch {
      DeviceTuning.warnOnce("kallima: ignoring \(error)")
      return nil
    }
  }
}
