import Foundation
import KallimaCPU
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaOpenCL
import KallimaTrain
import Testing

let trainOpenCL: Result<OpenCLBackend, Error> = Result { try OpenCLBackend() }

/// A temporary folder removed at the end of the test.
final class TemporaryFolder {
  let url: URL
  init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("kallima-train-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }
  deinit { try? FileManager.default.removeItem(at: url) }
  func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// A tiny idx3 file of `count` random 8x8 gray images.
func writeIDX(_ path: String, count: Int, side: Int = 8) throws {
  var bytes: [UInt8] = [0, 0, 8, 3]
  for v in [count, side, side] { bytes += withUnsafeBytes(of: UInt32(v).bigEndian) { Array($0) } }
  bytes += (0..<(count * side * side)).map { UInt8(truncatingIfNeeded: DataOrder.mix(UInt32($0))) }
  try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func tinyOptions(_ folder: TemporaryFolder, steps: Int) throws -> TrainingOptions {
  let data = folder.path("images-idx3-ubyte")
  if !FileManager.default.fileExists(atPath: data) { try writeIDX(data, count: 40) }
  var o = TrainingOptions()
  o.data = data
  o.size = 8
  o.batch = 4
  o.nz = 8
  o.ngf = 4
  o.ndf = 4
  o.steps = steps
  o.flip = true
  o.seed = 11
  o.logEvery = 3
  o.sampleEvery = 5
  o.checkpointEvery = 4
  o.sampleCount = 4
  o.out = folder.path("run")
  return o
}

func parameters(_ run: TrainingRun) throws -> [String: [Float]] {
  var all: [String: [Float]] = [:]
  for (prefix, store) in [("G.", run.trainer.generatorParameters), ("D.", run.trainer.discriminatorParameters)] {
    for e in store.entries { all[prefix + e.name] = try run.backend.read(e.tensor) }
  }
  return all
}

@Suite("Training runs", .serialized)
struct TrainingRunTests {
  @Test("a run of N steps resumed for N more is bit-identical to a run of 2N steps (OpenCL)")
  func resumeIsExact() throws {
    let cl = try trainOpenCL.get()
    let straight = try TemporaryFolder()
    let full = try TrainingRun(options: tinyOptions(straight, steps: 14), backend: cl)
    try full.run()
    let expected = try parameters(full)

    let split = try TemporaryFolder()
    let first = try TrainingRun(options: tinyOptions(split, steps: 7), backend: cl)
    try first.run()
    var more = try tinyOptions(split, steps: 14)
    more.data = nil  // taken from the checkpoint
    let resumed = try TrainingRun(options: more, backend: cl, resume: split.path("run"))
    #expect(resumed.step == 7)
    try resumed.run()
    #expect(resumed.step == 14)
    let actual = try parameters(resumed)
    #expect(actual.keys.sorted() == expected.keys.sorted())
    for (name, values) in expected {
      #expect(actual[name]!.map(\.bitPattern) == values.map(\.bitPattern), "\(name) differs after resuming")
    }
    // The run folder has what a user looks at.
    let files = try FileManager.default.contentsOfDirectory(atPath: split.path("run/samples"))
    #expect(files.contains("step_000005.png") && files.contains("step_000014.png"))
    let metrics = try String(contentsOfFile: split.path("run/metrics.jsonl"), encoding: .utf8)
    #expect(metrics.split(separator: "\n").count >= 4)
  }

  @Test("a diverging run stops with a message and keeps the last good checkpoint")
  func divergenceGuard() throws {
    let folder = try TemporaryFolder()
    var options = try tinyOptions(folder, steps: 50)
    (options.recipe.lrG, options.recipe.lrD) = (1e30, 1e30)
    options.logEvery = 1
    options.checkpointEvery = 1
    let run = try TrainingRun(options: options, backend: CPUBackend())
    #expect { try run.run() } throws: { "\($0)".contains("diverged") }
    let kept = try Checkpoint.read(run.latestCheckpoint)
    #expect(kept.training.step >= 1 && kept.training.step < run.step)
    // "Good": every value the kept checkpoint holds is finite.
    let nonFinite = kept.tensors.filter { !$0.values.allSatisfy(\.isFinite) }.map(\.name)
    #expect(nonFinite.isEmpty, "the kept checkpoint has non-finite tensors: \(nonFinite)")
  }

  @Test("bad input gets clear errors")
  func badInput() throws {
    let folder = try TemporaryFolder()
    var options = try tinyOptions(folder, steps: 2)
    options.data = folder.path("no-such-folder")
    #expect { _ = try TrainingRun(options: options, backend: CPUBackend()) } throws: { "\($0)".contains("no-such-folder") }

    // A checkpoint of another width is refused, naming the tensor.
    let good = try tinyOptions(folder, steps: 2)
    try TrainingRun(options: good, backend: CPUBackend()).run()
    let checkpoint = try Checkpoint.read(folder.path("run/checkpoints/latest.safetensors"))
    let wider = try GANTrainer(
      backend: CPUBackend(), config: DCGANConfig(nz: 8, ngf: 8, ndf: 8, channels: 1, imageSize: 8), batch: 4)
    #expect { try checkpoint.restore(into: wider, path: "x") } throws: { "\($0)".contains("main.0.weight") }

    // A truncated checkpoint is refused with a message, not a crash.
    let data = try Data(contentsOf: URL(fileURLWithPath: folder.path("run/checkpoints/latest.safetensors")))
    try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: folder.path("cut.safetensors")))
    #expect { _ = try Checkpoint.read(folder.path("cut.safetensors")) } throws: { "\($0)".contains("truncated") }

    // Damaged metadata: the error names the file, the entry and the field.
    let (metadata, tensors) = try SafetensorsFile.read(folder.path("run/checkpoints/latest.safetensors"))
    var damaged = metadata
    damaged["training"] = metadata["training"]!.replacingOccurrences(of: "\"step\":", with: "\"step\":\"two\",\"was\":")
    try SafetensorsFile.write(tensors, metadata: damaged, to: folder.path("bad-meta.safetensors"))
    #expect { _ = try Checkpoint.read(folder.path("bad-meta.safetensors")) } throws: {
      let text = "\($0)"
      return text.contains("bad-meta.safetensors") && text.contains("'training'") && text.contains("step")
    }
    damaged = metadata
    damaged["config"] = nil
    try SafetensorsFile.write(tensors, metadata: damaged, to: folder.path("no-config.safetensors"))
    #expect { _ = try Checkpoint.read(folder.path("no-config.safetensors")) } throws: { "\($0)".contains("no 'config' entry") }
  }

  @Test("--eval-every: mode coverage in metrics.jsonl, a best checkpoint, a cached classifier; unlabelled data is refused")
  func evalEvery() throws {
    let folder = try TemporaryFolder()
    var options = try tinyOptions(folder, steps: 2)
    #expect {
      var o = options
      o.evalEvery = 1
      _ = try TrainingRun(options: o, backend: CPUBackend())
    } throws: { "\($0)".contains("labelled") }

    // Labels beside the images (the idx1 file the loader looks for): 4 classes.
    var labels: [UInt8] = [0, 0, 8, 1] + withUnsafeBytes(of: UInt32(40).bigEndian) { Array($0) }
    labels += (0..<40).map { UInt8($0 % 4) }
    try Data(labels).write(to: URL(fileURLWithPath: folder.path("labels-idx1-ubyte")))
    options.steps = 8
    (options.evalEvery, options.evalSamples, options.classifierSteps) = (4, 20, 10)
    var notes: [String] = []
    let run = try TrainingRun(options: options, backend: CPUBackend()) { if case .note(let n) = $0 { notes.append(n) } }
    var evaluations: [TrainingRun.Evaluation] = []
    try run.run(events: { if case .evaluation(let e) = $0 { evaluations.append(e) } })
    #expect(evaluations.map(\.step) == [4, 8] && evaluations.allSatisfy { $0.classes == 4 && $0.samples == 20 })
    #expect(evaluations.first?.best == true)
    let lines = try String(contentsOfFile: folder.path("run/metrics.jsonl"), encoding: .utf8).split(separator: "\n")
    #expect(lines.filter { $0.contains("\"mode_coverage\"") }.count == 2)
    #expect(FileManager.default.fileExists(atPath: folder.path("run/checkpoints/best.safetensors")))
    #expect(notes.contains { $0.contains("trained") })
    // A second run in the same folder reuses the classifier instead of training it again.
    notes = []
    _ = try TrainingRun(options: options, backend: CPUBackend()) { if case .note(let n) = $0 { notes.append(n) } }
    #expect(notes == ["mode classifier: \(folder.path("run/classifier.safetensors"))"], "\(notes)")
  }
}
