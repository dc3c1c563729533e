import Foundation
import KallimaCore
import KallimaData

/// How a resume decides its data and target, and checks that the data stream is the one the
/// checkpoint was trained on.
extension TrainingRun {
  /// The data path, --limit and target step count of a resumed run: the checkpoint's unless
  /// `options` gives them (the data path and limit given are checked after loading, by
  /// `checkData`). A checkpoint from before these were recorded warns that they cannot be.
  static func resumeData(
    _ options: inout TrainingOptions, from checkpoint: Checkpoint, path: String, events: (Event) -> Void
  ) throws {
    let recorded = checkpoint.training
    // A run killed while writing a checkpoint leaves its temporary file (never the checkpoint).
    let leftovers = AtomicFileWriter.removeLeftoverTemporaries(
      inDirectory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    if !leftovers.isEmpty {
      events(.note("removed \(leftovers.count) unfinished checkpoint file(s) of an interrupted write: \(leftovers.joined(separator: ", "))"))
    }
    if let given = options.data, standardized(given) != recorded.data {
      events(.note("data: \(given) (the checkpoint's was \(recorded.data)); checking that it holds the same images"))
    }
    options.data = options.data ?? recorded.data
    if let stream = recorded.dataStream {
      options.limit = options.limit ?? stream.limit
    } else {
      events(.warning(
        "\(path) was written before Kallima recorded the data stream (no --limit, image count or fingerprint in it): "
          + "this resume cannot check that \(options.dataPath) still holds the same images"
          + (options.limit == nil ? " or that the run used all of them (give --limit if it did not)" : "")))
    }
    if options.keepCheckpointTarget {
      if let target = recorded.targetSteps {
        options.steps = target
      } else {
        events(.warning(
          "\(path) does not record the run's target step count (written by an older Kallima): training to "
            + "\(options.steps); give --steps to choose"))
      }
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: options.dataPath, isDirectory: &isDirectory) else {
      throw KallimaError.io(
        path: options.dataPath,
        message: "the run's data (recorded in \(path)) is gone; if it moved, resume with --data NEW_PATH "
          + "(the fingerprint check confirms it holds the same images)")
    }
  }

  /// Compares the loaded data stream with the checkpoint's. The same stream: nil. A
  /// different one: throws an error listing what differs and how to proceed, or, when
  /// `options.allowDataChange`, warns and returns the line to record in the checkpoint.
  static func checkData(
    _ stream: Checkpoint.DataStream, against checkpoint: Checkpoint, path: String, options: TrainingOptions,
    events: (Event) -> Void
  ) throws -> String? {
    guard let recorded = checkpoint.training.dataStream else { return nil }
    // A conditional checkpoint written before the fingerprint covered the conditions: compare
    // the images' part (the condition vocabulary is still checked against the checkpoint's).
    var stream = stream
    let marker = Checkpoint.DataStream.conditionsMarker
    if checkpoint.recipe.condition != nil, !recorded.fingerprint.contains(marker),
      let range = stream.fingerprint.range(of: marker)
    {
      stream.fingerprint = String(stream.fingerprint[..<range.lowerBound])
      events(.note("\(path) predates fingerprints of the conditions; only the images' fingerprint is compared"))
    }
    let differences = stream.differences(from: recorded)
    guard !differences.isEmpty else { return nil }
    let step = checkpoint.training.step
    let list = differences.map { "  " + $0 }.joined(separator: "\n")
    let data = standardized(options.dataPath)
    let source = data == checkpoint.training.data ? data : "\(data) (the checkpoint's data was \(checkpoint.training.data))"
    if options.allowDataChange {
      events(.warning(
        "resuming at step \(step) on data that differs from the checkpoint's (--allow-data-change); from here on "
          + "the run is not the one an uninterrupted run would have made:\n\(list)"))
      return "step \(step): continued on \(source) with --allow-data-change; " + differences.joined(separator: "; ")
    }
    throw KallimaError.invalidArgument(
      op: "train --resume",
      message: "the data differs from the data the run was trained on (\(path), step \(step)):\n\(list)\n"
        + "data: \(source)\n"
        + "A resume on other data does not continue the same data stream. Restore the original data "
        + "(\(checkpoint.training.data)"
        + (recorded.limit.map { ", --limit \($0)" } ?? "") + ") and resume again, or pass --allow-data-change to "
        + "continue on this data anyway (the change is recorded in the checkpoints).")
  }

  static func standardized(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
}
