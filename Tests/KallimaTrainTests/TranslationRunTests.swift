import Foundation
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaTrain
import Testing

/// Tiny translation runs on the project's synthetic sets (PoCL): the run folder, the held-out
/// evaluation, an interrupted run resumed to the same bits as an uninterrupted one, and the
/// translate command on the checkpoints.
@Suite("Image-to-image runs")
struct TranslationRunTests {
  static func options(_ method: TranslationOptions.Method, data: String, out: String) -> TranslationOptions {
    var o = TranslationOptions(method: method)
    (o.data, o.out, o.size, o.ngf, o.ndf) = (data, out, 32, 4, 4)
    (o.steps, o.logEvery, o.sampleEvery, o.checkpointEvery, o.evalImages) = (6, 2, 3, 3, 4)
    o.classifierSteps = 0
    return o
  }

  /// Trains to the end in one go and in two (stopped after 3 iterations, then resumed);
  /// returns both final checkpoints.
  func straightAndResumed(_ o: TranslationOptions, folder: TemporaryFolder) throws -> (TranslationCheckpoint, TranslationCheckpoint) {
    let backend = try trainOpenCL.get()
    var straight = o
    straight.out = folder.path("straight")
    try TranslationRun(options: straight, backend: backend).run()
    var split = o
    split.out = folder.path("split")
    let first = try TranslationRun(options: split, backend: backend)
    try first.run(shouldStop: { first.iteration >= 3 })
    #expect(first.iteration == 3)
    let status = try String(contentsOfFile: folder.path("split/status.json"), encoding: .utf8)
    #expect(status.contains("stopped"), "\(status)")
    var resumed = TranslationOptions(method: o.method)
    resumed.data = o.data
    let second = try TranslationRun(options: resumed, backend: backend, resume: folder.path("split"))
    #expect(second.iteration == 3 && second.targetIterations == 6)
    try second.run()
    let a = try TranslationCheckpoint.read(folder.path("straight/checkpoints/latest.safetensors"))
    let b = try TranslationCheckpoint.read(folder.path("split/checkpoints/latest.safetensors"))
    return (a, b)
  }

  func expectSame(_ a: TranslationCheckpoint, _ b: TranslationCheckpoint, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.training.iterations == 6 && b.training.iterations == 6, sourceLocation: sourceLocation)
    let (x, y) = (Dictionary(uniqueKeysWithValues: a.tensors.map { ($0.name, $0.values.map(\.bitPattern)) }),
      Dictionary(uniqueKeysWithValues: b.tensors.map { ($0.name, $0.values.map(\.bitPattern)) }))
    #expect(x.keys.sorted() == y.keys.sorted(), sourceLocation: sourceLocation)
    let differing = x.keys.sorted().filter { x[$0] != y[$0] }
    #expect(differing.isEmpty, "\(differing.count) tensors differ, first \(differing.first ?? "")", sourceLocation: sourceLocation)
  }

  func metrics(_ folder: String) throws -> [[String: Any]] {
    try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
      try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
    }
  }

  @Test("pix2pix: grids, fidelity on the held-out pairs, and a resumed run equal to one run to the bit (dropout, crops, flips)")
  func pix2pix() throws {
    let folder = try TemporaryFolder()
    try TranslationFashion.write(.edges, to: folder.path("edges"), size: 32, train: 12, test: 4, seed: 3)
    var o = Self.options(.pix2pix, data: folder.path("edges"), out: "")
    o.evalEvery = 3
    let (a, b) = try straightAndResumed(o, folder: folder)
    expectSame(a, b)
    #expect(a.tensors.contains { $0.name == "G.model.model.0.weight" } && a.tensors.contains { $0.name == "D.model.0.weight" })
    #expect(a.tensors.contains { $0.name == "G.model.model.0.weight.exp_avg" })
    let lines = try metrics(folder.path("straight"))
    let evaluations = lines.filter { $0["metric"] as? String == "translation" }
    #expect(evaluations.map { $0["step"] as? Int } == [3, 6], "\(evaluations)")
    for e in evaluations {
      let (l1, ssim) = (e["l1"] as? Double ?? -1, e["ssim"] as? Double ?? -2)
      #expect(l1 > 0 && l1 < 1 && ssim > -1 && ssim < 1 && e["psnr"] is Double, "\(e)")
    }
    let logs = lines.filter { $0["metric"] == nil }
    #expect(logs.map { $0["step"] as? Int } == [2, 4, 6])
    #expect(logs.allSatisfy { ["D_real", "D_fake", "G_GAN", "G_L1"].allSatisfy(($0 as [String: Any]).keys.contains) })
    for step in [3, 6] {
      let grid = try ImageIO.read(folder.path(String(format: "straight/samples/step_%06d.png", step)))
      // 4 rows of input | output | target, 32 px cells with 2 px borders.
      #expect(grid.width == 3 * 34 + 2 && grid.height == 4 * 34 + 2, "\(grid.width)x\(grid.height)")
    }

    // translate: the aligned test files give input | output | target rows.
    let out = folder.path("translated")
    try KallimaProcess.run([
      "translate", "--checkpoint", folder.path("straight"), "--input", folder.path("edges/test"), "--out", out,
      "--device", "opencl",
    ])
    let written = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
    #expect(written.count == 5 && written.contains("comparison.png"), "\(written)")
    let comparison = try ImageIO.read(out + "/comparison.png")
    #expect(comparison.width == 3 * 34 + 2 && comparison.height == 4 * 34 + 2)
    // On other data the resume is refused, naming what changed.
    try TranslationFashion.write(.edges, to: folder.path("other"), size: 32, train: 10, test: 2, seed: 4)
    var moved = TranslationOptions(method: .pix2pix)
    moved.data = folder.path("other")
    #expect(throws: KallimaError.self) { try TranslationRun(options: moved, backend: try trainOpenCL.get(), resume: folder.path("split")) }
  }

  @Test("CycleGAN: a resumed run equals one run to the bit, pools and their draws included; cycle and ground-truth errors")
  func cycleGAN() throws {
    let folder = try TemporaryFolder()
    try TranslationFashion.write(.colour, to: folder.path("colour"), size: 32, train: 8, test: 3, seed: 5)
    var o = Self.options(.cyclegan, data: folder.path("colour"), out: "")
    (o.poolSize, o.channels) = (3, 3)
    let (a, b) = try straightAndResumed(o, folder: folder)
    expectSame(a, b)
    #expect(a.tensors.contains { $0.name == "pools.fake_B_pool" } && a.tensors.contains { $0.name == "G_B.model.1.weight" })
    let e = try #require(try metrics(folder.path("straight")).last { $0["metric"] as? String == "translation" })
    for key in ["cycle_A", "cycle_B", "l1_AtoB", "l1_BtoA", "ssim_AtoB", "l1_unchanged"] {
      #expect((e[key] as? Double).map { $0.isFinite } == true, "\(key) in \(e)")
    }
    // translate takes any height and width the ResNet G's strides allow (multiples of 4),
    // and resizes the others, saying so.
    let inputs = folder.path("odd")
    try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
    for (name, w, h) in [("wide", 64, 32), ("odd", 30, 30)] {
      let pixels = (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: $0 * 7) }
      try ImageIO.writePNG(try RGBImage(width: w, height: h, channels: 3, pixels: pixels), to: "\(inputs)/\(name).png")
    }
    let said = try KallimaProcess.run([
      "translate", "--checkpoint", folder.path("straight"), "--input", inputs, "--out", folder.path("odd-out"),
      "--direction", "BtoA",
    ])
    #expect(said.contains("1 of 2 images had a height or width the network cannot take"), "\(said)")
    let wide = try ImageIO.read(folder.path("odd-out/wide.png"))
    let odd = try ImageIO.read(folder.path("odd-out/odd.png"))
    #expect((wide.width, wide.height, odd.width, odd.height) == (64, 32, 32, 32))
  }

  @Test("StarGAN: D and G phases, per-attribute accuracy and reconstruction; translate needs --to")
  func starGAN() throws {
    let folder = try TemporaryFolder()
    try TranslationFashion.write(.attributes, to: folder.path("attrs"), size: 32, train: 12, test: 3, seed: 6)
    var o = Self.options(.stargan, data: folder.path("attrs"), out: folder.path("run"))
    (o.batch, o.nCritic, o.classifierSteps) = (2, 2, 3)
    let run = try TranslationRun(options: o, backend: try trainOpenCL.get())
    #expect(run.data.vocabulary?.names == ["red", "inverted", "thick"] && run.data.testSplit == "test")
    // The ground truth of a held-out image under its own labels is the image itself.
    let truth = try #require(run.data.groundTruth)
    let labels = try #require(run.data.testLabels)
    let per = 3 * 32 * 32
    for i in 0..<run.data.testCount {
      #expect(truth(i, Array(labels[(i * 3)..<(i * 3 + 3)])) == Array(run.data.testA[(i * per)..<((i + 1) * per)]), "image \(i)")
    }
    try run.run()
    let e = try #require(try metrics(folder.path("run")).last { $0["metric"] as? String == "translation" })
    for key in ["reconstruction", "accuracy", "accuracy_red", "accuracy_inverted", "accuracy_thick", "l1_truth", "ssim_truth"] {
      let v = e[key] as? Double
      #expect(v.map { $0 >= -1 && $0 <= 1 } == true, "\(key) in \(e)")
    }
    let logs = try metrics(folder.path("run")).filter { $0["metric"] == nil }
    // G runs on iterations 2, 4, 6: every log interval of 2 has both phases.
    #expect(logs.allSatisfy { $0["G_rec"] is Double && $0["D_gp"] is Double }, "\(logs)")
    let refused = try KallimaProcess.run(
      ["translate", "--checkpoint", folder.path("run"), "--input", folder.path("attrs/test/images"), "--out", folder.path("t")],
      expecting: 1)
    #expect(refused.contains("needs --to") && refused.contains("red, inverted, thick"), "\(refused)")
    try KallimaProcess.run([
      "translate", "--checkpoint", folder.path("run"), "--input", folder.path("attrs/test/images"), "--out", folder.path("t"),
      "--to", "red, thick",
    ])
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path("t")).count == 4)
  }

  @Test("options round-trip through JSON; a checkpoint that lacks fields (older, or converted) keeps their defaults")
  func optionsJSON() throws {
    var o = TranslationOptions(method: .stargan)
    (o.size, o.attributes, o.lambdaGP, o.steps, o.evalMode) = (64, ["red", "thick"], 5, 123, true)
    let back = try JSONDecoder().decode(TranslationOptions.self, from: try JSONEncoder().encode(o))
    #expect(back == o)
    let sparse = try JSONDecoder().decode(TranslationOptions.self, from: Data(#"{"method": "cyclegan", "size": 128, "netG": "resnet_9blocks"}"#.utf8))
    var expected = TranslationOptions(method: .cyclegan)
    (expected.size, expected.netG) = (128, "resnet_9blocks")
    #expect(sparse == expected)
    #expect(sparse.resolvedLoadSize == 143 && sparse.resolvedBatch == 1 && sparse.resolvedNetG == "resnet_9blocks")
  }
}
