import Foundation
import KallimaCPU
import KallimaCore
import KallimaData
import KallimaTrain
import Testing

/// Rewrites the `training` metadata of a checkpoint file with `edit` (to make checkpoints
/// as older versions wrote them).
func editTrainingMetadata(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
  var (metadata, tensors) = try SafetensorsFile.read(path)
  var training = try #require(try JSONSerialization.jsonObject(with: Data(metadata["training"]!.utf8)) as? [String: Any])
  edit(&training)
  metadata["training"] = String(decoding: try JSONSerialization.data(withJSONObject: training), as: UTF8.self)
  try SafetensorsFile.write(tensors, metadata: metadata, to: path)
}

/// A run of `steps` steps in `folder` stopped after `stopAt` (as Ctrl-C would), on the CPU.
func stoppedRun(_ folder: TemporaryFolder, steps: Int, stopAt: Int) throws -> TrainingRun {
  let run = try TrainingRun(options: tinyOptions(folder, steps: steps), backend: CPUBackend())
  try run.run(shouldStop: { run.step >= stopAt })
  return run
}

/// Resume options as the command line makes them with only --resume: no data, no --limit,
/// the default --steps, the checkpoint's target kept.
func bareResumeOptions(_ folder: TemporaryFolder) throws -> TrainingOptions {
  var o = try tinyOptions(folder, steps: 1000)
  (o.data, o.keepCheckpointTarget) = (nil, true)
  return o
}

@Suite("Resume checks its data", .serialized)
struct ResumeDataTests {
  @Test("--resume without --steps keeps the checkpoint's target; --steps replaces it")
  func keepsTarget() throws {
    let folder = try TemporaryFolder()
    _ = try stoppedRun(folder, steps: 10, stopAt: 4)
    let resumed = try TrainingRun(options: bareResumeOptions(folder), backend: CPUBackend(), resume: folder.path("run"))
    #expect(resumed.step == 4 && resumed.options.steps == 10)
    try resumed.run()
    #expect(resumed.step == 10)
    let kept = try Checkpoint.read(resumed.latestCheckpoint).training.targetSteps
    #expect(kept == 10)

    var more = try tinyOptions(folder, steps: 12)
    more.data = nil
    let longer = try TrainingRun(options: more, backend: CPUBackend(), resume: folder.path("run"))
    try longer.run()
    let target = try Checkpoint.read(longer.latestCheckpoint).training.targetSteps
    #expect(longer.step == 12 && target == 12)
  }

  @Test("a resume on other data (--limit, image count, files) stops and says what differs")
  func refusesOtherData() throws {
    let folder = try TemporaryFolder()
    let first = try stoppedRun(folder, steps: 10, stopAt: 4)
    let recorded = try #require(try Checkpoint.read(first.latestCheckpoint).training.dataStream)
    #expect(recorded.images == 40 && recorded.limit == nil && recorded.fingerprint.hasPrefix("fnv1a64:"))

    var limited = try bareResumeOptions(folder)
    limited.limit = 30
    let limitError = try #require(throws: KallimaError.self) {
      _ = try TrainingRun(options: limited, backend: CPUBackend(), resume: folder.path("run"))
    }
    let text = "\(limitError)"
    #expect(text.contains("--limit: none in the checkpoint, 30 now"), "\(text)")
    #expect(text.contains("images loaded: 40 in the checkpoint, 30 now"), "\(text)")
    #expect(text.contains("--allow-data-change") && !text.contains("fingerprint"), "\(text)")

    // One changed byte of the idx file: same count, different fingerprint.
    let data = folder.path("images-idx3-ubyte")
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: data)))
    bytes[100] ^= 1
    try Data(bytes).write(to: URL(fileURLWithPath: data))
    let changedError = try #require(throws: KallimaError.self) {
      _ = try TrainingRun(options: bareResumeOptions(folder), backend: CPUBackend(), resume: folder.path("run"))
    }
    #expect("\(changedError)".contains("fingerprint of the files: \(recorded.fingerprint) in the checkpoint"))
    #expect(!"\(changedError)".contains("images loaded"), "\(changedError)")

    // --allow-data-change continues, warns, and the checkpoints record it.
    var allowed = try bareResumeOptions(folder)
    allowed.allowDataChange = true
    var warnings: [String] = []
    let resumed = try TrainingRun(options: allowed, backend: CPUBackend(), resume: folder.path("run")) {
      if case .warning(let w) = $0 { warnings.append(w) }
    }
    try resumed.run()
    #expect(warnings.count == 1 && warnings[0].contains("--allow-data-change") && warnings[0].contains("fingerprint"))
    let training = try Checkpoint.read(resumed.latestCheckpoint).training
    #expect(training.dataChanges?.count == 1 && training.dataChanges?[0].hasPrefix("step 4: ") == true)
    #expect(training.dataStream?.fingerprint != recorded.fingerprint)
    // The next resume compares with the new data and goes through.
    _ = try TrainingRun(options: bareResumeOptions(folder), backend: CPUBackend(), resume: folder.path("run"))
  }

  @Test("moved data resumes when given by --data; missing data says how to point at it")
  func movedData() throws {
    let folder = try TemporaryFolder()
    _ = try stoppedRun(folder, steps: 10, stopAt: 4)
    var options = try bareResumeOptions(folder)  // before the move: tinyOptions would write the data again
    let moved = folder.path("moved-idx")
    try FileManager.default.moveItem(atPath: folder.path("images-idx3-ubyte"), toPath: moved)
    #expect {
      _ = try TrainingRun(options: options, backend: CPUBackend(), resume: folder.path("run"))
    } throws: { "\($0)".contains("is gone") && "\($0)".contains("--data") }
    options.data = moved
    let resumed = try TrainingRun(options: options, backend: CPUBackend(), resume: folder.path("run"))
    try resumed.run()
    #expect(try Checkpoint.read(resumed.latestCheckpoint).training.data == moved)
  }

  @Test("a resume removes the temporary files of checkpoint writes killed part way, not those of live writers")
  func leftoverTemporaries() throws {
    let folder = try TemporaryFolder()
    _ = try stoppedRun(folder, steps: 10, stopAt: 4)
    let finished = Process()
    finished.executableURL = URL(fileURLWithPath: "/bin/true")
    try finished.run()
    finished.waitUntilExit()
    let (dead, live) = (finished.processIdentifier, getppid())
    let directory = folder.path("run/checkpoints")
    let names = [".latest.safetensors.tmp.\(dead)", ".step_000005.safetensors.tmp.\(dead)", ".latest.safetensors.tmp.\(live)"]
    for name in names { try Data([1, 2, 3]).write(to: URL(fileURLWithPath: directory + "/" + name)) }
    var notes: [String] = []
    _ = try TrainingRun(options: bareResumeOptions(folder), backend: CPUBackend(), resume: folder.path("run")) {
      if case .note(let n) = $0 { notes.append(n) }
    }
    let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
    #expect(left == [names[2]])
    #expect(notes.contains { $0.contains("removed 2 unfinished checkpoint file(s)") }, "\(notes)")
  }

  @Test("a checkpoint written before data streams were recorded still resumes, with warnings")
  func olderCheckpoint() throws {
    let folder = try TemporaryFolder()
    let first = try stoppedRun(folder, steps: 10, stopAt: 4)
    try editTrainingMetadata(first.latestCheckpoint) { training in
      for key in ["dataStream", "targetSteps", "dataChanges"] { training[key] = nil }
    }
    #expect(try Checkpoint.read(first.latestCheckpoint).training.dataStream == nil)
    var warnings: [String] = []
    let resumed = try TrainingRun(options: bareResumeOptions(folder), backend: CPUBackend(), resume: folder.path("run")) {
      if case .warning(let w) = $0 { warnings.append(w) }
    }
    #expect(warnings.count == 2, "\(warnings)")
    #expect(warnings.contains { $0.contains("cannot check") })
    #expect(warnings.contains { $0.contains("target step count") && $0.contains("1000") })
    #expect(resumed.step == 4 && resumed.options.steps == 1000)
    // What it writes from now on records the stream.
    let written = try Checkpoint.read(try resumed.writeCheckpoint()).training
    #expect(written.dataStream?.images == 40 && written.targetSteps == 1000)
  }
}

@Suite("Dataset fingerprints")
struct DatasetFingerprintTests {
  @Test("a folder's fingerprint follows its file names and sizes, not where it lives")
  func folder() throws {
    let scratch = try TemporaryFolder()
    let root = scratch.path("images")
    try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
    for (name, size) in [("a.png", 10), ("sub/b.jpg", 20), ("notes.txt", 5)] {
      try Data(repeating: 7, count: size).write(to: URL(fileURLWithPath: root + "/" + name))
    }
    let base = try DatasetFingerprint.of(.folder(root))
    #expect(try DatasetFingerprint.of(.folder(root + "/")) == base)
    try FileManager.default.copyItem(atPath: root, toPath: scratch.path("copy"))
    #expect(try DatasetFingerprint.of(.folder(scratch.path("copy"))) == base)
    // Not an image: ignored, as the loader ignores it.
    try Data(repeating: 1, count: 9).write(to: URL(fileURLWithPath: root + "/notes.txt"))
    #expect(try DatasetFingerprint.of(.folder(root)) == base)
    // A renamed, a resized and an added image each change it.
    var seen: Set<String> = [base]
    try FileManager.default.moveItem(atPath: root + "/a.png", toPath: root + "/c.png")
    seen.insert(try DatasetFingerprint.of(.folder(root)))
    try Data(repeating: 7, count: 11).write(to: URL(fileURLWithPath: root + "/c.png"))
    seen.insert(try DatasetFingerprint.of(.folder(root)))
    try Data(repeating: 7, count: 11).write(to: URL(fileURLWithPath: root + "/d.png"))
    seen.insert(try DatasetFingerprint.of(.folder(root)))
    #expect(seen.count == 4)
  }

  @Test("idx fingerprints follow the bytes of images and labels, not the file names")
  func idx() throws {
    let scratch = try TemporaryFolder()
    let images = scratch.path("images-idx3-ubyte")
    try writeIDX(images, count: 10)
    let base = try DatasetFingerprint.of(.idx(images: images, labels: nil))
    try FileManager.default.copyItem(atPath: images, toPath: scratch.path("renamed"))
    #expect(try DatasetFingerprint.of(.idx(images: scratch.path("renamed"), labels: nil)) == base)
    try Data([0, 0, 8, 1, 0, 0, 0, 10] + [UInt8](repeating: 1, count: 10)).write(to: URL(fileURLWithPath: scratch.path("labels")))
    let labelled = try DatasetFingerprint.of(.idx(images: images, labels: scratch.path("labels")))
    #expect(labelled != base)
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: images)))
    bytes[bytes.count - 1] ^= 0x80
    try Data(bytes).write(to: URL(fileURLWithPath: images))
    #expect(try DatasetFingerprint.of(.idx(images: images, labels: nil)) != base)
    #expect { _ = try DatasetFingerprint.of(.idx(images: scratch.path("none"), labels: nil)) } throws: {
      "\($0)".contains(scratch.path("none"))
    }
  }
}
