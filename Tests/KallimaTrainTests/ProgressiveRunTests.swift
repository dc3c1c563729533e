import Foundation
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaOpenCL
import KallimaTrain
import Testing

/// `kallima train progan`'s run folder: grids per phase, metrics with the phase and α, and
/// checkpoints that resume mid-phase bit-identically.
@Suite("Progressive GAN runs", .serialized)
struct ProgressiveRunTests {
  /// 8x8 from 4x4: three phases of 4 steps (batch 4, 16 images per phase).
  static func options(_ folder: TemporaryFolder, steps: Int?) throws -> ProgressiveOptions {
    let data = folder.path("images-idx3-ubyte")
    if !FileManager.default.fileExists(atPath: data) { try writeIDX(data, count: 40) }
    var o = ProgressiveOptions()
    (o.data, o.size, o.batch, o.phaseImages, o.steps) = (data, 8, 4, 16, steps)
    (o.latent, o.width, o.seed, o.flip) = (8, 8, 3, true)
    (o.logEvery, o.sampleEvery, o.checkpointEvery, o.sampleCount) = (2, 5, 3, 4)
    o.out = folder.path("run")
    return o
  }

  static func checkpoint(_ path: String) throws -> [String: [UInt32]] {
    let (_, tensors) = try SafetensorsFile.read(path)
    return Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.values.map(\.bitPattern)) })
  }

  @Test("a run grows through its phases, writes a grid per phase, and resumed mid-fade ends bit-identical (OpenCL)")
  func growsAndResumes() throws {
    let backend = try trainOpenCL.get()
    let through = try TemporaryFolder()
    let run = try ProgressiveRun(options: try Self.options(through, steps: nil), backend: backend)
    #expect(run.options.totalSteps == 12)
    var notes: [String] = []
    try run.run(events: { if case .note(let n) = $0 { notes.append(n) } })
    #expect(notes == ["phase 2 of 3: 8x8 fade-in from step 4", "phase 3 of 3: 8x8 stable from step 8"])
    let samples = try FileManager.default.contentsOfDirectory(atPath: through.path("run/samples")).sorted()
    #expect(samples == ["phase_0_4_stable.png", "phase_1_8_fade.png", "step_000005_8x8.png", "step_000010_8x8.png", "step_000012_8x8.png"])
    let lines = try String(contentsOfFile: through.path("run/metrics.jsonl"), encoding: .utf8).split(separator: "\n")
    let metrics = try lines.map { try JSONDecoder().decode(ProgressiveRun.Metrics.self, from: Data($0.utf8)) }
    #expect(metrics.map(\.step) == [2, 4, 6, 8, 10, 12])
    // Step 6: the fade's second step done, α = 2·4/16.
    #expect(metrics[2].phase == "8x8 fade-in" && metrics[2].alpha == 0.5 && metrics[3].alpha == nil)
    #expect(metrics.allSatisfy { $0.loss_d.isFinite && $0.loss_d != 0 }, "every interval's statistics, across the phase changes")
    let status = try JSONDecoder().decode(RunStatus.self, from: Data(contentsOf: URL(fileURLWithPath: through.path("run/status.json"))))
    #expect(status.state == .finished && status.step == 12)
    let checkpoints = try FileManager.default.contentsOfDirectory(atPath: through.path("run/checkpoints")).sorted()
    #expect(checkpoints.filter { $0.hasPrefix("phase_") } == ["phase_0_4_stable.safetensors", "phase_1_8_fade.safetensors"])

    // Stopped after step 6 (mid-fade), resumed in a new process's way: a new run on the folder.
    let split = try TemporaryFolder()
    let first = try ProgressiveRun(options: try Self.options(split, steps: 6), backend: backend)
    try first.run()
    let resumed = try ProgressiveRun(options: try Self.options(split, steps: 12), backend: backend, resume: split.path("run"))
    #expect(resumed.step == 6 && resumed.trainer.phase.description == "8x8 fade-in")
    try resumed.run()
    let (a, b) = (try Self.checkpoint(through.path("run/checkpoints/latest.safetensors")), try Self.checkpoint(split.path("run/checkpoints/latest.safetensors")))
    #expect(Set(a.keys) == Set(b.keys) && a.count > 40)
    #expect(a.keys.filter { a[$0] != b[$0] }.sorted().isEmpty)

    // Resumed on other data (another file of 30 images): refused, naming what changed.
    var other = try Self.options(split, steps: 14)
    other.data = split.path("other-idx3-ubyte")
    try writeIDX(other.data!, count: 30)
    #expect { try ProgressiveRun(options: other, backend: backend, resume: split.path("run")) } throws: {
      "\($0)".contains("the data differs") && "\($0)".contains("30")
    }
  }

  @Test("kallima train --arch progan runs kallima train progan with the shared options; a GAN-only option is refused; kallima sample reads the checkpoint")
  func commandLine() throws {
    let folder = try TemporaryFolder()
    let o = try Self.options(folder, steps: 2)
    let out = folder.path("cli")
    try KallimaProcess.run(["train", "--arch", "progan", "--data", o.data!, "--size", "8", "--steps", "5", "--batch", "4", "--width", "8", "--nz", "8", "--out", out])
    let (metadata, _) = try SafetensorsFile.read(out + "/checkpoints/latest.safetensors")
    #expect(metadata["format"] == ProgressiveRun.format && metadata["phase"] == "4x4 stable")
    let options = try JSONDecoder().decode(ProgressiveOptions.self, from: Data(metadata["options"]!.utf8))
    #expect(options.batch == 4 && options.latent == 8 && options.width == 8 && options.size == 8 && options.phaseImages == 600_000)
    let refused = try KallimaProcess.run(["train", "--arch", "progan", "--loss", "hinge", "--out", out], expecting: 64)
    #expect(refused.contains("--loss does not apply to --arch progan"))
    try KallimaProcess.run(["sample", "--checkpoint", out + "/checkpoints/latest.safetensors", "--n", "4", "--out", folder.path("grid.png")])
    // Two columns of the 4x4 stage's images, 2 pixels apart.
    #expect(try ImageIO.read(folder.path("grid.png")).width == 2 * 4 + 3 * 2)
  }

  @Test("a checkpoint of another kind, or none, is refused with what to do")
  func refusesOtherCheckpoints() throws {
    let folder = try TemporaryFolder()
    let backend = try trainOpenCL.get()
    #expect { try ProgressiveRun(options: try Self.options(folder, steps: 2), backend: backend, resume: folder.path("nothing")) } throws: {
      "\($0)".contains("no checkpoint to resume from")
    }
    try FileManager.default.createDirectory(atPath: folder.path("dcgan/checkpoints"), withIntermediateDirectories: true)
    try SafetensorsFile.write([SafetensorsTensor(name: "generator.x", shape: [1], values: [0])], metadata: ["format": "kallima-1"], to: folder.path("dcgan/checkpoints/latest.safetensors"))
    #expect { try ProgressiveRun(options: try Self.options(folder, steps: 2), backend: backend, resume: folder.path("dcgan")) } throws: {
      "\($0)".contains("not a Progressive GAN checkpoint")
    }
  }
}
