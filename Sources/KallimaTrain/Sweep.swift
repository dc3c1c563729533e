import Foundation
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGAN

/// A grid of recipes × seeds on one data set, each trained from scratch and evaluated the
/// same way, summarised as mean ± std over seeds (Lucic et al. 2018's protocol in small):
/// the one run that answers "which loss works on my data".
///
/// Each run is an ordinary training run in OUT/RECIPE/seed_S (checkpoints, samples,
/// metrics.jsonl). Evaluation at the end of each run: mode coverage by one classifier trained
/// once on the labelled data (OUT/classifier.safetensors, shared by all runs) and, with real
/// images and SqueezeNet weights, the Fréchet SqueezeNet distance of `fsdSamples` samples
/// (the EMA weights where the recipe keeps them).
public final class Sweep {
  /// A recipe in a sweep: "LOSS" plus "+sn" (spectral norm), "+ema" (β 0.999), "+r1"
  /// (γ 10), e.g. "hinge+sn".
  public static func recipe(_ spec: String, base: RecipeOptions = RecipeOptions()) throws -> RecipeOptions {
    var parts = spec.split(separator: "+").map(String.init)
    guard !parts.isEmpty else { throw KallimaError.invalidArgument(op: "sweep", message: "empty recipe") }
    var r = base
    r.loss = parts.removeFirst()
    _ = try Objective.named(r.loss)
    for p in parts {
      switch p {
      case "sn": r.spectralNorm = true
      case "ema": r.ema = 0.999
      case "r1": r.r1 = 10
      default:
        throw KallimaError.invalidArgument(op: "sweep", message: "unknown recipe modifier '+\(p)' in '\(spec)'; use +sn, +ema, +r1")
      }
    }
    return r
  }

  public struct Result: Codable {
    public var recipe: String
    public var seed: UInt64
    public var steps: Int
    public var seconds: Double
    public var lossD: Float
    public var lossG: Float
    public var modes: Int?
    public var classes: Int?
    public var kl: Double?
    public var confidence: Double?
    /// Fréchet SqueezeNet distance to the real images (not an FID).
    public var fsd: Double?
  }

  public let recipes: [String]
  public let seeds: [UInt64]
  public let base: TrainingOptions
  public let backend: Backend
  /// Real images (folder or .npz) for the Fréchet SqueezeNet distance; nil: not computed.
  public var real: String?
  public var squeezenetWeights = SqueezeNet.defaultWeightsPath
  public var fsdSamples = 1000

  public init(recipes: [String], seeds: [UInt64], base: TrainingOptions, backend: Backend) throws {
    guard !recipes.isEmpty, !seeds.isEmpty else {
      throw KallimaError.invalidArgument(op: "sweep", message: "give at least one recipe and one seed")
    }
    for r in recipes { _ = try Sweep.recipe(r) }
    self.recipes = recipes
    self.seeds = seeds
    self.base = base
    self.backend = backend
  }

  var folder: URL { URL(fileURLWithPath: base.out) }

  /// Trains and evaluates every recipe × seed in order; results.json and table.md are
  /// rewritten after each run, so an interrupted sweep keeps what it finished.
  public func run(log: (String) -> Void = { _ in }) throws -> [Result] {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let classifierPath = folder.appendingPathComponent("classifier.safetensors").path
    var realStatistics: FIDPipeline.Statistics?
    var squeezenet: SqueezeNet?
    if let real {
      let network = try SqueezeNet(backend: backend, weightsFile: squeezenetWeights)
      squeezenet = network
      realStatistics = try FIDPipeline.statistics(ofImagesAt: real, inception: network, batch: 16)
      log("real statistics: \(realStatistics!.source)")
    }
    // Mode coverage needs labels; unlabelled data gets the other columns only.
    let labelled = try ImageDataset.load(path: base.dataPath, size: base.size, channels: base.channels, limit: base.limit)
      .labels != nil
    var results: [Result] = []
    for spec in recipes {
      for seed in seeds {
        var options = base
        options.recipe = try Sweep.recipe(spec, base: base.recipe)
        options.seed = seed
        options.out = folder.appendingPathComponent("\(spec)/seed_\(seed)").path
        options.evalEvery = labelled ? base.evalEvery ?? options.steps : nil
        try FileManager.default.createDirectory(atPath: options.out, withIntermediateDirectories: true)
        // One classifier for the whole sweep: trained by the first run, then shared.
        let cached = URL(fileURLWithPath: options.out).appendingPathComponent("classifier.safetensors").path
        if FileManager.default.fileExists(atPath: classifierPath), !FileManager.default.fileExists(atPath: cached) {
          try FileManager.default.copyItem(atPath: classifierPath, toPath: cached)
        }
        let start = Date()
        var evaluation: TrainingRun.Evaluation?
        var last: TrainingRun.Metrics?
        let run = try TrainingRun(options: options, backend: backend) { event in
          switch event {
          case .note(let n): log(n)
          case .recipe(let r): log("\(spec) seed \(seed): \(r)")
          default: break
          }
        }
        if !FileManager.default.fileExists(atPath: classifierPath), FileManager.default.fileExists(atPath: cached) {
          try FileManager.default.copyItem(atPath: cached, toPath: classifierPath)
        }
        try run.run(events: { event in
          switch event {
          case .evaluation(let e): evaluation = e
          case .log(let m): last = m
          default: break
          }
        })
        var result = Result(
          recipe: spec, seed: seed, steps: run.step, seconds: Date().timeIntervalSince(start), lossD: last?.loss_d ?? .nan,
          lossG: last?.loss_g ?? .nan, modes: evaluation?.modes, classes: evaluation?.classes, kl: evaluation?.kl,
          confidence: evaluation?.confidence)
        if let realStatistics, let squeezenet {
          let sampler = try Sampler(
            backend: backend, network: run.trainer.recipe.generator, latentShape: run.trainer.recipe.latentShape,
            generator: run.trainer.samplingParameters, count: 100)
          let fake = try FIDPipeline.statistics(ofGenerator: sampler, count: fsdSamples, seed: 0xF5D, inception: squeezenet, batch: 16)
          result.fsd = try FIDPipeline.compare(fake, realStatistics).value
        }
        results.append(result)
        log(Sweep.line(result))
        try write(results)
      }
    }
    return results
  }

  static func line(_ r: Result) -> String {
    var s = "\(r.recipe) seed \(r.seed): \(r.steps) steps in \(String(format: "%.0f", r.seconds)) s"
    if let m = r.modes, let c = r.classes, let kl = r.kl { s += ", modes \(m)/\(c), KL \(String(format: "%.3f", kl))" }
    if let f = r.fsd { s += ", FSD \(String(format: "%.1f", f))" }
    return s
  }

  func write(_ results: [Result]) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    try AtomicFile.write(try encoder.encode(results), to: folder.appendingPathComponent("results.json").path)
    try AtomicFile.write(Data(Sweep.table(results).utf8), to: folder.appendingPathComponent("table.md").path)
  }

  /// Mean ± sample standard deviation over seeds per recipe, as a Markdown table.
  public static func table(_ results: [Result]) -> String {
    func stat(_ values: [Double]) -> String {
      guard !values.isEmpty else { return "–" }
      let mean = values.reduce(0, +) / Double(values.count)
      guard values.count > 1 else { return String(format: "%.3g", mean) }
      let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
      return String(format: "%.3g ± %.2g", mean, variance.squareRoot())
    }
    var order: [String] = []
    for r in results where !order.contains(r.recipe) { order.append(r.recipe) }
    var lines = [
      "| recipe | seeds | steps | modes hit | KL(gen ‖ real) | confidence | Fréchet SqueezeNet dist. | s/run |",
      "|---|---|---|---|---|---|---|---|",
    ]
    for recipe in order {
      let rs = results.filter { $0.recipe == recipe }
      lines.append(
        "| \(recipe) | \(rs.count) | \(rs[0].steps) | \(stat(rs.compactMap { $0.modes.map(Double.init) })) | "
          + "\(stat(rs.compactMap(\.kl))) | \(stat(rs.compactMap(\.confidence))) | \(stat(rs.compactMap(\.fsd))) | "
          + "\(stat(rs.map(\.seconds))) |")
    }
    return lines.joined(separator: "\n") + "\n"
  }
}
