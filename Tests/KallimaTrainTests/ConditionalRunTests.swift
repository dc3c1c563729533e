import Foundation
import KallimaCPU
import KallimaCore
import KallimaData
import KallimaTrain
import Testing

/// Conditional runs end to end: each condition kind trains from the formats people have,
/// grids carry a caption per row, checkpoints remember the vocabulary (resume is exact, and
/// `kallima sample` / `interpolate` encode --label/--tags/--text/--embedding from it), and
/// bad requests get clear errors.
@Suite("Conditional runs", .serialized)
struct ConditionalRunTests {
  /// The tiny idx set of TrainingRunTests with idx1 labels of 4 classes beside it.
  static func labelledOptions(_ folder: TemporaryFolder, steps: Int, head: String = "matching") throws -> TrainingOptions {
    var options = try tinyOptions(folder, steps: steps)
    var labels: [UInt8] = [0, 0, 8, 1] + withUnsafeBytes(of: UInt32(40).bigEndian) { Array($0) }
    labels += (0..<40).map { UInt8($0 % 4) }
    try Data(labels).write(to: URL(fileURLWithPath: folder.path("labels-idx1-ubyte")))
    options.recipe.condition = "class"
    options.recipe.dHead = head
    options.recipe.conditionDim = 4
    options.sampleCount = 8
    return options
  }

  /// TrainingRunTests' tiny options on `count` items of the captioned Fashion-MNIST set
  /// (`make-captioned`'s metadata.jsonl), conditioned on `condition`.
  static func captionedOptions(_ folder: TemporaryFolder, count: Int, steps: Int, condition: String) throws -> TrainingOptions {
    try CaptionedFashion.write(to: folder.path("captioned"), count: count, seed: 1, size: 28)
    var options = try tinyOptions(folder, steps: steps)
    options.data = folder.path("captioned")
    options.recipe.condition = condition
    return options
  }

  @Test("class-conditional: a captioned class grid, conditional accuracy in metrics.jsonl, and an exact resume (OpenCL)")
  func classRun() throws {
    let cl = try trainOpenCL.get()
    let straight = try TemporaryFolder()
    var options = try Self.labelledOptions(straight, steps: 8)
    (options.evalEvery, options.evalSamples, options.classifierSteps) = (4, 20, 10)
    let full = try TrainingRun(options: options, backend: cl)
    var evaluations: [TrainingRun.Evaluation] = []
    try full.run(events: { if case .evaluation(let e) = $0 { evaluations.append(e) } })
    #expect(evaluations.count == 2 && evaluations.allSatisfy { $0.conditional_accuracy != nil && $0.per_class?.count == 4 })
    #expect(evaluations.allSatisfy { $0.metric == "conditional_accuracy" && $0.conditional_error == 1 - $0.conditional_accuracy! })
    // 4 classes x 2 columns of 8x8 images, each row with a 12-pixel caption strip under it.
    let grid = try ImageIO.read(straight.path("run/samples/step_000008.png"))
    #expect(grid.width == 2 * (8 + 2) + 2 && grid.height == 4 * (8 + 12 + 2) + 2, "\(grid.width)x\(grid.height)")
    let checkpoint = try Checkpoint.read(full.latestCheckpoint)
    #expect(checkpoint.conditions?.kind == .class && checkpoint.conditions?.width == 4)
    #expect(checkpoint.recipe.condition == "class" && checkpoint.recipe.dHead == "matching")

    // Resumed half way, the same tensors bit for bit (the condition rows follow the data order).
    let split = try TemporaryFolder()
    var first = try Self.labelledOptions(split, steps: 4)
    first.evalEvery = nil
    try TrainingRun(options: first, backend: cl).run()
    var more = try Self.labelledOptions(split, steps: 8)
    (more.data, more.evalEvery) = (nil, nil)
    let resumed = try TrainingRun(options: more, backend: cl, resume: split.path("run"))
    try resumed.run()
    var noEval = try Self.labelledOptions(try TemporaryFolder(), steps: 8)
    noEval.evalEvery = nil
    let reference = try TemporaryFolder()
    noEval.out = reference.path("run")
    noEval.data = split.path("images-idx3-ubyte")
    try TrainingRun(options: noEval, backend: cl).run()
    expectSameTensors(
      try checkpointBits(split.path("run/checkpoints/latest.safetensors")),
      try checkpointBits(reference.path("run/checkpoints/latest.safetensors")), "resumed conditional run")

    // kallima sample: a row per --label, names or indices; the class grid by default.
    let out = split.path("labels.png")
    try KallimaProcess.run([
      "sample", "--checkpoint", split.path("run/checkpoints/latest.safetensors"), "--label", "1", "--label", "3",
      "--n", "6", "--out", out, "--device", "cpu",
    ])
    let labelled = try ImageIO.read(out)
    #expect(labelled.width == 3 * (8 + 2) + 2 && labelled.height == 2 * (8 + 12 + 2) + 2, "\(labelled.width)x\(labelled.height)")
    let wrongKind = try KallimaProcess.run(
      ["sample", "--checkpoint", split.path("run/checkpoints/latest.safetensors"), "--tags", "red", "--out", out, "--device", "cpu"],
      expecting: 64)
    #expect(wrongKind.contains("conditioned on class"), "\(wrongKind)")
    let unknown = try KallimaProcess.run(
      ["sample", "--checkpoint", split.path("run/checkpoints/latest.safetensors"), "--label", "7", "--out", out, "--device", "cpu"],
      expecting: 1)
    #expect(unknown.contains("7"), "\(unknown)")
    try KallimaProcess.run([
      "interpolate", "--checkpoint", split.path("run/checkpoints/latest.safetensors"), "--from-condition", "0",
      "--to-condition", "2", "--steps", "5", "--rows", "2", "--out", split.path("between.png"), "--device", "cpu",
    ])
    let strip = try ImageIO.read(split.path("between.png"))
    #expect(strip.width == 5 * (8 + 2) + 2 && strip.height == 2 * (8 + 2) + 2)
  }

  @Test("a streamed dataset gives the same conditional run, bit for bit, as a resident one (the rows follow the stream's order)")
  func streamedConditions() throws {
    let cl = try trainOpenCL.get()
    let resident = try TemporaryFolder()
    try TrainingRun(options: try Self.labelledOptions(resident, steps: 6), backend: cl).run()
    let streamed = try TemporaryFolder()
    var options = try Self.labelledOptions(streamed, steps: 6)
    options.dataMemory = 100  // bytes: far less than the 40 images, so the set is streamed
    var notes: [String] = []
    let run = try TrainingRun(options: options, backend: cl) { if case .note(let n) = $0 { notes.append(n) } }
    #expect(notes.contains { $0.contains("streaming") }, "\(notes)")
    try run.run()
    expectSameTensors(
      try checkpointBits(streamed.path("run/checkpoints/latest.safetensors")),
      try checkpointBits(resident.path("run/checkpoints/latest.safetensors")), "streamed conditional run")
  }

  @Test("text from metadata.jsonl (captioned Fashion-MNIST): a two-head run; --text samples; unknown words are named")
  func textRun() throws {
    let folder = try TemporaryFolder()
    var options = try Self.captionedOptions(folder, count: 60, steps: 3, condition: "text")
    options.recipe.dHead = "two-head"
    options.recipe.ganInt = 1
    options.sampleCount = 8
    let run = try TrainingRun(options: options, backend: CPUBackend())
    #expect(run.conditions?.vocabulary.kind == .text && run.dataset.channels == 3)
    #expect(run.conditions!.vocabulary.names.contains("red") && run.conditions!.vocabulary.names.contains("boot"))
    try run.run()
    let checkpoint = folder.path("run/checkpoints/latest.safetensors")
    try KallimaProcess.run([
      "sample", "--checkpoint", checkpoint, "--text", "red boot", "--text", "blue bag", "--n", "4",
      "--out", folder.path("text.png"), "--device", "cpu",
    ])
    #expect(try ImageIO.read(folder.path("text.png")).height == 2 * (8 + 12 + 2) + 2)
    let unknown = try KallimaProcess.run(
      ["sample", "--checkpoint", checkpoint, "--text", "purple unicorn", "--out", folder.path("x.png"), "--device", "cpu"],
      expecting: 1)
    #expect(unknown.contains("purple") || unknown.contains("unicorn"), "\(unknown)")
    let none = try KallimaProcess.run(
      ["sample", "--checkpoint", checkpoint, "--out", folder.path("x.png"), "--device", "cpu"], expecting: 64)
    #expect(none.contains("--text"), "\(none)")
  }

  @Test("resume notices conditions edited under the same images (metadata.jsonl labels swapped)")
  func editedConditions() throws {
    let folder = try TemporaryFolder()
    let options = try Self.captionedOptions(folder, count: 40, steps: 2, condition: "class")
    try TrainingRun(options: options, backend: CPUBackend()).run()
    // Give the first image the label of the first image whose label differs: same files,
    // same vocabulary, different conditions.
    let metadata = folder.path("captioned/metadata.jsonl")
    var lines = try String(contentsOfFile: metadata, encoding: .utf8).split(separator: "\n").map(String.init)
    func label(_ line: String) throws -> String {
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
      return object["label"] as! String
    }
    let first = try label(lines[0])
    let other = try #require(try lines.first { try label($0) != first }.map(label))
    lines[0] = lines[0].replacingOccurrences(of: "\"label\": \"\(first)\"", with: "\"label\": \"\(other)\"")
    #expect(try label(lines[0]) == other, "the edit took: \(lines[0])")
    try (lines.joined(separator: "\n") + "\n").write(toFile: metadata, atomically: true, encoding: .utf8)
    var more = options
    more.steps = 4
    #expect { _ = try TrainingRun(options: more, backend: CPUBackend(), resume: folder.path("run")) } throws: {
      "\($0)".contains("fingerprint")
    }
  }

  @Test("precomputed embeddings (.npy, one row per image) with a projection D; --embedding samples")
  func embeddingRun() throws {
    let folder = try TemporaryFolder()
    var options = try tinyOptions(folder, steps: 2)
    let rows: [Double] = (0..<200).map { (i: Int) -> Double in Double((i * 37) % 11) / 11.0 - 0.5 }
    try NPY.encode(try NPYArray(shape: [40, 5], values: rows)).write(to: URL(fileURLWithPath: folder.path("e.npy")))
    options.embeddings = folder.path("e.npy")
    options.recipe.condition = "embedding"
    options.recipe.dHead = "projection"
    options.recipe.spectralNorm = true
    let run = try TrainingRun(options: options, backend: CPUBackend())
    #expect(run.conditions?.vocabulary.width == 5)
    try run.run()
    try NPY.encode(try NPYArray(shape: [2, 5], values: Array(rows.prefix(10))))
      .write(to: URL(fileURLWithPath: folder.path("two.npy")))
    try KallimaProcess.run([
      "sample", "--checkpoint", folder.path("run/checkpoints/latest.safetensors"), "--embedding", folder.path("two.npy"),
      "--n", "4", "--out", folder.path("e.png"), "--device", "cpu",
    ])
    #expect(try ImageIO.read(folder.path("e.png")).height == 2 * (8 + 12 + 2) + 2)
  }

  @Test("impossible recipes are refused before the data loads, saying why")
  func refusals() throws {
    let folder = try TemporaryFolder()
    func failure(_ edit: (inout TrainingOptions) -> Void) throws -> String {
      var options = try tinyOptions(folder, steps: 1)
      options.data = folder.path("not-loaded-yet")
      edit(&options)
      do { _ = try TrainingRun(options: options, backend: CPUBackend()) } catch { return "\(error)" }
      return ""
    }
    let acganText = try failure { ($0.recipe.condition, $0.recipe.dHead) = ("text", "acgan") }
    #expect(acganText.contains("AC-GAN"), "\(acganText)")
    let began = try failure { ($0.recipe.condition, $0.recipe.loss) = ("class", "began") }
    #expect(began.contains("BEGAN"), "\(began)")
    let headless = try failure { $0.recipe.dHead = "projection" }
    #expect(headless.contains("--condition"), "\(headless)")
    let unknown = try failure { ($0.recipe.condition, $0.recipe.dHead) = ("class", "siamese") }
    #expect(unknown.contains("siamese") && unknown.contains("projection"), "\(unknown)")
    let kind = try failure { $0.recipe.condition = "colour" }
    #expect(kind.contains("colour") && kind.contains("tags"), "\(kind)")
  }
}
