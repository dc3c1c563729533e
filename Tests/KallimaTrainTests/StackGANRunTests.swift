import Foundation
import KallimaCPU
import KallimaCore
import KallimaData
import KallimaTrain
import Testing

/// StackGAN's two stages as runs: stage I trains like any conditional run; stage II takes
/// its sizes and its frozen generator from stage I's checkpoint, leaves those weights exactly
/// as they were, resumes exactly, and `kallima sample` reads both stages' checkpoints.
@Suite("StackGAN runs", .serialized)
struct StackGANRunTests {
  /// Captioned Fashion-MNIST items at 32x32, conditioned on their captions (bags of words).
  static func options(_ folder: TemporaryFolder, steps: Int, out: String) throws -> TrainingOptions {
    let data = folder.path("captioned")
    if !FileManager.default.fileExists(atPath: data) { try CaptionedFashion.write(to: data, count: 24, seed: 1, size: 32) }
    var options = try tinyOptions(folder, steps: steps)
    options.data = data
    options.recipe.arch = "stackgan"
    options.recipe.condition = "text"
    options.recipe.conditionDim = 4
    (options.nz, options.ngf, options.ndf, options.size, options.flip) = (4, 2, 2, 8, false)
    options.out = folder.path(out)
    return options
  }

  static func stageTwo(_ folder: TemporaryFolder, steps: Int, out: String) throws -> TrainingOptions {
    var options = try Self.options(folder, steps: steps, out: out)
    (options.ngf, options.ndf) = (4, 2)
    options.recipe.residualBlocks = 1
    let (checkpoint, path) = try TrainingRun.stageOneCheckpoint(folder.path("stage1"))
    try TrainingRun.stageTwoOptions(&options, from: checkpoint, path: path, size: nil)
    return options
  }

  @Test("stage I, then stage II around it (OpenCL): sizes from stage I, stage I's weights untouched, an exact resume, samples of both")
  func twoStages() throws {
    let cl = try trainOpenCL.get()
    let folder = try TemporaryFolder()
    // Stage I with the paper's CA started at N(0, 1) (--paper-ca --ca-init 1); stage II builds
    // its own CA the same way.
    var first = try Self.options(folder, steps: 4, out: "stage1")
    (first.recipe.paperCA, first.recipe.caInit) = (true, 1)
    try TrainingRun(options: first, backend: cl).run()
    let stageOne = try checkpointBits(folder.path("stage1/checkpoints/latest.safetensors"))

    let options = try Self.stageTwo(folder, steps: 6, out: "stage2")
    #expect((options.size, options.nz, options.recipe.stage, options.recipe.stageOneWidth) == (32, 4, 2, 2))
    var notes: [String] = []
    let run = try TrainingRun(options: options, backend: cl, events: { if case .note(let n) = $0 { notes.append(n) } })
    #expect(notes.contains { $0.hasPrefix("stage I: generator of") })
    try run.run()
    let stageTwo = try checkpointBits(run.latestCheckpoint)
    // Every stage-I tensor is in stage II's G (and nowhere trained): the same bits as stage I's
    // checkpoint after six stage-II steps; stage II's own layers did move.
    let frozen = stageOne.keys.filter { $0.hasPrefix("generator.") && !$0.hasPrefix("generator_") }
    #expect(frozen.count > 10)
    for name in frozen {
      let inner = "generator.STAGE1_G." + name.dropFirst("generator.".count)
      #expect(stageTwo[inner] == stageOne[name], "\(inner) moved")
    }
    #expect(!stageTwo.keys.contains { $0.hasPrefix("generator_adam.STAGE1_G.") }, "stage I has no optimiser state")
    let model = try Checkpoint.read(run.latestCheckpoint)
    #expect(model.recipe.stage == 2 && model.config.imageSize == 32)
    #expect(model.recipe.paperCA == true && model.recipe.caInit == 1)
    // A few Adam steps of 2e-4 (4 in stage I, 6 in stage II) leave both CAs' weights at their
    // N(0, 1) start's spread (the reference's start is 0.02).
    for name in ["generator.ca_net.fc.weight", "generator.STAGE1_G.ca_net.fc.weight"] {
      let w = try #require(model.tensors.first { $0.name == name }, "no \(name)").values.map(Double.init)
      let std = (w.map { $0 * $0 }.reduce(0, +) / Double(w.count)).squareRoot()
      #expect(std > 0.7 && std < 1.3, "\(name): std \(std) over \(w.count) weights")
    }

    // Resumed half way (without --stage1: the checkpoint holds stage I), the same bits.
    try TrainingRun(options: try Self.stageTwo(folder, steps: 3, out: "split"), backend: cl).run()
    var more = try Self.stageTwo(folder, steps: 6, out: "split")
    (more.data, more.stageOne) = (nil, nil)
    try TrainingRun(options: more, backend: cl, resume: folder.path("split")).run()
    expectSameTensors(try checkpointBits(folder.path("split/checkpoints/latest.safetensors")), stageTwo, "resumed stage II")

    // The command line: stage II from the stage-I run folder, its sizes from stage I's checkpoint.
    try KallimaProcess.run([
      "train", "--arch", "stackgan", "--stage", "2", "--stage1", folder.path("stage1"), "--data", folder.path("captioned"),
      "--condition", "text", "--width", "4", "--residual-blocks", "1", "--batch", "4", "--steps", "2", "--log-every", "1",
      "--device", "cpu", "--out", folder.path("cli2"),
    ])
    let cli = try Checkpoint.read(folder.path("cli2/checkpoints/latest.safetensors"))
    #expect((cli.recipe.stage, cli.recipe.stageOneWidth, cli.config.imageSize, cli.config.nz) == (2, 2, 32, 4))

    // kallima sample at both stages: a row per caption, 8x8 and 32x32 images; and from stage
    // II's checkpoint with --stage 1, the 8x8 images its stage I draws.
    for (stage, side, extra) in [("stage1", 8, []), ("stage1", 8, ["--stage", "1"]), ("stage2", 32, []), ("stage2", 8, ["--stage", "1"])] {
      let out = folder.path("\(stage)\(extra.count)-\(side).png")
      try KallimaProcess.run([
        "sample", "--checkpoint", folder.path("\(stage)/checkpoints/latest.safetensors"), "--text", "red boot", "--text", "blue bag",
        "--n", "4", "--out", out, "--device", "cpu",
      ] + extra)
      let grid = try ImageIO.read(out)
      #expect(grid.width == 2 * (side + 2) + 2, "\(stage): \(grid.width)x\(grid.height)")
    }
  }

  /// `body` throws an error whose text contains `message` (the refusal says what to do).
  static func expectRefusal(_ message: String, _ what: String, _ body: () throws -> Void) {
    do {
      try body()
      Issue.record("\(what) was accepted")
    } catch { #expect("\(error)".contains(message), "\(what): \(error)") }
  }

  /// Stage I on captions with the reference's conditioning augmentation says what to use
  /// instead; with --paper-ca --ca-init 1 it says nothing.
  @Test("a text StackGAN with the reference's conditioning augmentation is told of --paper-ca --ca-init 1")
  func advice() throws {
    let folder = try TemporaryFolder()
    for (k, (paperCA, caInit)) in [(nil, nil), (true, nil), (nil, Float(1)), (true, Float(1))].enumerated() {
      var options = try Self.options(folder, steps: 1, out: "advice\(k)")
      (options.recipe.paperCA, options.recipe.caInit) = (paperCA, caInit)
      var notes: [String] = []
      _ = try TrainingRun(options: options, backend: CPUBackend(), events: { if case .note(let n) = $0 { notes.append(n) } })
      let advised = notes.contains { $0.contains("--paper-ca --ca-init 1") }
      #expect(advised == (k < 3), "paper-ca \(String(describing: paperCA)), ca-init \(String(describing: caInit)): \(notes)")
    }
  }

  @Test("bad StackGAN requests are refused with what to do")
  func refusals() throws {
    let folder = try TemporaryFolder()
    let changes: [(String, String, (inout TrainingOptions) -> Void)] = [
      ("add --condition text|embedding", "an unconditional StackGAN", { $0.recipe.condition = nil }),
      ("drop --d-head projection", "--d-head projection", { $0.recipe.dHead = "projection" }),
      ("--stage1", "stage II without stage I", { $0.recipe.stage = 2 }),
      ("initial std must be positive", "--ca-init 0", { $0.recipe.caInit = 0 }),
      ("choose one of dcgan, resnet, stackgan, progan", "--arch stackgan2", { $0.recipe.arch = "stackgan2" }),
    ]
    for (k, (message, what, change)) in changes.enumerated() {
      var options = try Self.options(folder, steps: 1, out: "refused\(k)")
      change(&options)
      Self.expectRefusal(message, what) { _ = try TrainingRun(options: options, backend: CPUBackend()) }
    }
    // A DCGAN checkpoint is not a stage I.
    var dcgan = try tinyOptions(folder, steps: 1)
    dcgan.out = folder.path("dcgan")
    try TrainingRun(options: dcgan, backend: CPUBackend()).run()
    Self.expectRefusal("--stage1 takes a checkpoint", "a dcgan checkpoint as stage I") {
      _ = try TrainingRun.stageOneCheckpoint(folder.path("dcgan"))
    }
  }
}
