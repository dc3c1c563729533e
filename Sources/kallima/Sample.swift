import ArgumentParser
import Foundation
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaTrain

/// A generator restored from a checkpoint, ready to sample (eval-mode batch norm): the EMA
/// of G's weights when the run kept one (`generator_ema.*`), else G's own.
struct CheckpointGenerator {
  let backend: Backend
  let network: any Layer
  let latentShape: Shape
  let store: ParameterStore
  /// A conditional generator's condition vocabulary (nil: unconditional).
  let conditions: ConditionVocabulary?
  /// The sizes (nz, channels, image side) the networks were made from (a Progressive GAN's:
  /// the side of the phase it was saved in).
  let config: DCGANConfig
  /// The data the run trained on, as its checkpoint records it.
  let trainingData: String?
  /// Which weights sampling uses: "generator_ema" when the checkpoint has them.
  let weights: String
  /// Writes the checkpoint's generator weights into `store` (done once, by `sampler`).
  private let restore: (ParameterStore) throws -> Void

  /// `stage`: 1 with a StackGAN stage-II checkpoint samples the frozen stage I inside it
  /// (the images stage II refines, for the same z and conditions); nil: the checkpoint's own G.
  init(path: String, device: String?, stage: Int? = nil) throws {
    backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device), suggestTuning: false)
    let (metadata, tensors) = try SafetensorsFile.read(path)
    if let p = try ProgressiveRun.generator(metadata: metadata, tensors: tensors, backend: backend, path: path) {
      (network, latentShape, store, weights) = (p.network, p.latentShape, p.store, p.weights)
      config = DCGANConfig(nz: p.latentShape.count, ngf: 1, ndf: 1, channels: p.channels, imageSize: p.side)
      (conditions, trainingData) = (nil, nil)
      restore = { _ in }
      return
    }
    let checkpoint = try Checkpoint.read(path)
    conditions = checkpoint.conditions
    (network, latentShape, config) = try checkpoint.recipe.generator(checkpoint.config, conditions: conditions, stage: stage)
    store = ParameterStore(backend: backend, seed: 0)
    trainingData = checkpoint.training.data
    let weights = checkpoint.tensors.contains { $0.name.hasPrefix("generator_ema.") } ? "generator_ema" : "generator"
    self.weights = weights
    restore = { try checkpoint.restore($0, network: weights, path: path) }
  }

  /// The condition rows asked for on the command line (`--label`, `--tags`, `--text`,
  /// `--embedding`, or every class), with captions; nil for an unconditional generator.
  func rows(_ ask: ConditionOptions) throws -> [ConditionGrid.Row]? {
    guard let v = conditions else {
      guard ask.isEmpty else {
        throw ValidationError("this checkpoint's generator is unconditional; --label, --tags, --text and --embedding need a conditional one")
      }
      return nil
    }
    let given: [(String, ConditionKind)] = ask.labels.map { ($0, .class) } + ask.tags.map { ($0, .tags) } + ask.texts.map { ($0, .text) }
    if let wrong = given.first(where: { $0.1 != v.kind }) {
      throw ValidationError("this generator is conditioned on \(v.kind.rawValue); '\(wrong.0)' is a \(wrong.1.rawValue) condition")
    }
    var rows = try given.map { ConditionGrid.Row(caption: $0.0, vector: try v.encode($0.0)) }
    if let file = ask.embedding {
      guard v.kind == .embedding else { throw ValidationError("--embedding needs a generator conditioned on embeddings, not \(v.kind.rawValue)") }
      let array = try NPY.read(file)
      guard array.shape.count == 2, array.shape[1] == v.width else {
        throw ValidationError("\(file) is \(array.shape); this generator takes rows of \(v.width) values ([rows, \(v.width)])")
      }
      rows += (0..<array.shape[0]).map { i in
        ConditionGrid.Row(caption: "embedding \(i)", vector: array.values[(i * v.width)..<((i + 1) * v.width)].map(Float.init))
      }
    }
    if rows.isEmpty {
      guard v.kind == .class else {
        throw ValidationError("this generator is conditioned on \(v.kind.rawValue): give \(v.kind == .embedding ? "--embedding FILE.npy" : v.kind == .tags ? "--tags \"a, b\"" : "--text \"...\"")")
      }
      rows = try v.names.map { ConditionGrid.Row(caption: $0, vector: try v.encode($0)) }
    }
    return rows
  }

  /// A sampler for `count` images with the checkpoint's generator weights.
  func sampler(count: Int, path: String) throws -> Sampler {
    let sampler = try Sampler(
      backend: backend, network: network, latentShape: latentShape, generator: store, count: count,
      conditionWidth: conditions?.width ?? 0)
    try restore(store)
    return sampler
  }

  func writeGrid(_ images: [Float], count: Int, columns: Int, to out: String) throws {
    let c = config
    let grid = try ImageGrid.png(images: images, count: count, channels: c.channels, size: c.imageSize, columns: columns)
    try ImageIO.writePNG(grid, to: out)
  }
}

/// `kallima sample`: a grid of images from a checkpoint's generator, and with --out-dir one
/// PNG per image.
struct Sample: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a grid of generated images from a checkpoint (and with --out-dir, one PNG per image).",
    discussion: """
      kallima sample --checkpoint C --n 10000 --out-dir DIR writes DIR/sample_00000.png ... (the \
      layout FID tools read), generating --batch images per device run, and the grid of the first \
      64 to --out. Latent vector i depends only on --seed and i, not on --n or --batch. With an \
      EMA of G in the checkpoint, its weights are used.
      """)
  @Option(help: "Checkpoint (.safetensors) written by kallima train.") var checkpoint: String
  @Option(help: "Number of images.") var n = 64
  @Option(help: "Seed of the latent vectors.") var seed: UInt64 = 0
  @Option(help: "Output PNG (the grid; with --out-dir, of the first 64 images).") var out = "grid.png"
  @Option(help: "Also write each image as DIR/sample_NNNNN.png.") var outDir: String?
  @Option(help: "Images per device run.") var batch = 64
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE.") var device: String?
  @OptionGroup var condition: ConditionOptions
  @Option(help: "A conditional grid's images per row (default: --n / rows).") var columns: Int?
  @Option(help: "StackGAN stage II checkpoints: 1 draws the stage-I images stage II refines (the same z and conditions).")
  var stage: Int?

  /// The most images a grid holds when the images also go to --out-dir.
  static let gridLimit = 64

  func validate() throws {
    guard n >= 1 else { throw ValidationError("--n must be at least 1") }
    guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
  }

  func run() throws {
    let g = try CheckpointGenerator(path: checkpoint, device: device, stage: stage)
    let rows = try g.rows(condition)
    if let rows, outDir == nil {
      // One row per condition, the same z down each column, the caption under its row.
      let grid = try ConditionGrid(
        rows: rows, columns: columns ?? max(n / rows.count, 1), nz: g.latentShape.count, seed: seed)
      let sampler = try g.sampler(count: min(batch, rows.count * grid.columns), path: checkpoint)
      try grid.write(sampler: sampler, channels: g.config.channels, size: g.config.imageSize, to: out)
      print(out)
      return
    }
    let latents = Sampler.latents(count: n, nz: g.latentShape.count, seed: seed)
    // Image i takes condition i mod (number of conditions).
    let conditionValues = rows.map { rows in (0..<n).flatMap { rows[$0 % rows.count].vector } }
    let sampler = try g.sampler(count: min(batch, n), path: checkpoint)
    guard let outDir else {
      var images: [Float] = []
      try sampler.forEachBatch(latents: latents, conditions: conditionValues) { batch, _ in images += batch }
      try g.writeGrid(images, count: n, columns: Int(Double(n).squareRoot().rounded(.up)), to: out)
      print(out)
      return
    }
    printError("sampling \(n) images from \(g.weights) on \(g.backend.name), \(sampler.count) per batch")
    let start = Date()
    let shown = min(n, Sample.gridLimit)
    var reported = 0
    let first = try SampleFolder.write(sampler: sampler, latents: latents, conditions: conditionValues, to: outDir, keep: shown) { done in
      // A line per thousand images (and the last).
      if done == n || done / 1000 > reported / 1000 {
        printError("\(done)/\(n) images")
        reported = done
      }
    }
    try g.writeGrid(first, count: shown, columns: Int(Double(shown).squareRoot().rounded(.up)), to: out)
    printError(String(format: "%d PNGs in %.1f s", n, Date().timeIntervalSince(start)))
    print(outDir)
  }
}

/// `kallima interpolate`: rows of images morphing from one latent vector to another.
struct Interpolate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Interpolate in latent space between two seeds (lerp or slerp), or between two conditions with z fixed.",
    discussion: """
      For a conditional generator, --from-condition A --to-condition B (class names, tag sets or \
      captions, as the generator takes) walks the condition from A to B in a straight line with \
      z fixed per row (row r uses seed --from + r). Without them, z is interpolated under the \
      condition(s) given by --label/--tags/--text/--embedding (row r takes the r-th, cycling; \
      default: every class).
      """)
  @Option(help: "Checkpoint (.safetensors) written by kallima train.") var checkpoint: String
  @Option(help: "Seed of the first latent vector (row r uses FROM + r).") var from: UInt64 = 0
  @Option(help: "Seed of the last latent vector (row r uses TO + r).") var to: UInt64 = 1
  @Option(help: "Images per row, ends included.") var steps = 10
  @Option(help: "Rows.") var rows = 1
  @Option(help: "lerp (straight line) or slerp (great circle; White 2016).") var mode = "slerp"
  @Option(help: "Output PNG.") var out = "strip.png"
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE.") var device: String?
  @Option(name: .customLong("from-condition"), help: "Conditional G: the condition at the left end.") var fromCondition: String?
  @Option(name: .customLong("to-condition"), help: "Conditional G: the condition at the right end.") var toCondition: String?
  @OptionGroup var condition: ConditionOptions

  func validate() throws {
    guard (fromCondition == nil) == (toCondition == nil) else { throw ValidationError("give both --from-condition and --to-condition") }
    guard steps >= 2 else { throw ValidationError("--steps must be at least 2") }
    guard rows >= 1 else { throw ValidationError("--rows must be at least 1") }
    guard mode == "lerp" || mode == "slerp" else { throw ValidationError("--mode is lerp or slerp") }
  }

  func run() throws {
    let g = try CheckpointGenerator(path: checkpoint, device: device)
    let nz = g.latentShape.count
    var z: [Float] = []
    var c: [Float]? = nil
    if let fromCondition, let toCondition {
      guard let v = g.conditions else {
        throw ValidationError("--from-condition/--to-condition need a conditional generator; this one is unconditional")
      }
      let (a, b) = (try v.encode(fromCondition), try v.encode(toCondition))
      var rowsOut: [Float] = []
      for r in 0..<rows {
        let fixed = Sampler.latents(count: 1, nz: nz, seed: from &+ UInt64(r))
        for k in 0..<steps {
          let t = Float(k) / Float(steps - 1)
          z += fixed
          rowsOut += LatentPath.lerp(a, b, t)
        }
      }
      c = rowsOut
    } else {
      let conditionRows = try g.rows(condition)
      var rowsOut: [Float] = []
      for r in 0..<rows {
        let a = Sampler.latents(count: 1, nz: nz, seed: from &+ UInt64(r))
        let b = Sampler.latents(count: 1, nz: nz, seed: to &+ UInt64(r))
        for k in 0..<steps {
          let t = Float(k) / Float(steps - 1)
          z += mode == "lerp" ? LatentPath.lerp(a, b, t) : LatentPath.slerp(a, b, t)
          if let conditionRows { rowsOut += conditionRows[r % conditionRows.count].vector }
        }
      }
      c = conditionRows == nil ? nil : rowsOut
    }
    let sampler = try g.sampler(count: rows * steps, path: checkpoint)
    try g.writeGrid(try sampler.images(z: z, conditions: c), count: rows * steps, columns: steps, to: out)
    print(out)
  }
}

/// The conditions `kallima sample` and `kallima interpolate` generate for.
struct ConditionOptions: ParsableArguments {
  @Option(name: .customLong("label"), help: "A class (name or index) for a class-conditional generator; repeat for more rows.")
  var labels: [String] = []
  @Option(name: .customLong("tags"), help: "A tag set, e.g. \"blue hair, red eyes\"; repeat for more rows.") var tags: [String] = []
  @Option(name: .customLong("text"), help: "A caption for a text-conditional generator; repeat for more rows.") var texts: [String] = []
  @Option(help: "A .npy of condition embeddings [rows, E], one grid row each.") var embedding: String?

  var isEmpty: Bool { labels.isEmpty && tags.isEmpty && texts.isEmpty && embedding == nil }
}
