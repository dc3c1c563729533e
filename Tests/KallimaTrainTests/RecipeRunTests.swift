import Foundation
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaOpenCL
import KallimaTrain
import Testing

/// Every tensor a run keeps (G, D, EMA, objective state, optimiser state), by store.
private func state(_ run: TrainingRun) throws -> [String: [Float]] {
  var stores = [("G.", run.trainer.generatorParameters), ("D.", run.trainer.discriminatorParameters)]
  if let ema = run.trainer.emaParameters { stores.append(("EMA.", ema)) }
  stores.append(("objective.", run.trainer.objectiveParameters))
  var all: [String: [Float]] = [:]
  for (prefix, store) in stores {
    for e in store.entries { all[prefix + e.name] = try run.backend.read(e.tensor) }
  }
  return all
}

/// Recipes that exercise each kind of device state a resume must carry.
private let recipes: [(String, (inout TrainingOptions) -> Void)] = [
  ("wgan (RMSprop, clipping, 5 critic steps)", { $0.recipe.loss = "wgan" }),
  ("wgan-gp (double backprop, α draws)", { $0.recipe.loss = "wgan-gp"; $0.recipe.nCritic = 2 }),
  ("began (k_t)", { $0.recipe.loss = "began" }),
  ("hinge + spectral norm + EMA + TTUR", {
    $0.recipe.loss = "hinge"; $0.recipe.spectralNorm = true; $0.recipe.ema = 0.9; $0.recipe.emaStart = 2; $0.recipe.lrG = 1e-4; $0.recipe.lrD = 4e-4
  }),
  ("lsgan + SGD momentum + linear decay", {
    $0.recipe.loss = "lsgan"; $0.recipe.optimizer = "sgd"; $0.recipe.momentum = 0.9; $0.recipe.lrG = 0.01; $0.recipe.lrD = 0.01
    $0.recipe.lrDecayStart = 2; $0.recipe.lrDecayEnd = 8
  }),
  ("dragan + R1", { $0.recipe.loss = "dragan"; $0.recipe.r1 = 10 }),
  ("ns + lazy R1 every 3 (two D plans, one stream)", { $0.recipe.r1 = 10; $0.recipe.r1Every = 3 }),
  ("resnet + hinge + spectral norm", {
    ($0.recipe.arch, $0.recipe.loss, $0.recipe.spectralNorm) = ("resnet", "hinge", true)
    $0.size = 32  // the ResNet recipe makes 32x32 (the 8x8 idx images are resized up)
  }),
]

@Suite("Recipes in training runs", .serialized)
struct RecipeRunTests {
  @Test("a resumed run is bit-identical to an uninterrupted one, for every kind of objective state (OpenCL)",
    arguments: recipes.indices)
  func resumeIsExact(_ index: Int) throws {
    let (label, configure) = recipes[index]
    let cl = try trainOpenCL.get()
    func options(_ folder: TemporaryFolder, steps: Int) throws -> TrainingOptions {
      var o = try tinyOptions(folder, steps: steps)
      configure(&o)
      return o
    }
    let straight = try TemporaryFolder()
    let full = try TrainingRun(options: options(straight, steps: 8), backend: cl)
    try full.run()
    let expected = try state(full)

    let split = try TemporaryFolder()
    try TrainingRun(options: options(split, steps: 5), backend: cl).run()
    var more = try tinyOptions(split, steps: 8)
    more.data = nil
    more.recipe = RecipeOptions()  // everything comes from the checkpoint's metadata
    let resumed = try TrainingRun(options: more, backend: cl, resume: split.path("run"))
    #expect(resumed.options.recipe == full.options.recipe, "\(label): the recipe was not restored")
    try resumed.run()
    let actual = try state(resumed)
    #expect(actual.keys.sorted() == expected.keys.sorted(), "\(label)")
    for (name, values) in expected {
      #expect(actual[name]?.map(\.bitPattern) == values.map(\.bitPattern), "\(label): \(name) differs after resuming")
    }
    #expect(expected.values.allSatisfy { $0.allSatisfy(\.isFinite) }, "\(label): non-finite state")
  }

  @Test("metrics.jsonl carries each objective's own statistics")
  func objectiveStatistics() throws {
    let cl = try trainOpenCL.get()
    for (loss, keys) in [("wgan-gp", ["grad_norm"]), ("began", ["k", "M"])] {
      let folder = try TemporaryFolder()
      var o = try tinyOptions(folder, steps: 6)
      o.recipe.loss = loss
      o.recipe.nCritic = 1
      try TrainingRun(options: o, backend: cl).run()
      let lines = try String(contentsOfFile: folder.path("run/metrics.jsonl"), encoding: .utf8).split(separator: "\n")
      let first = try #require(lines.first)
      let object = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
      for key in keys { #expect((object[key] as? Double)?.isFinite == true, "\(loss): \(key) missing in \(first)") }
    }
  }

  @Test("wrong combinations get a clear error before anything runs")
  func wrongCombinations() throws {
    let cl = try trainOpenCL.get()
    let folder = try TemporaryFolder()
    var o = try tinyOptions(folder, steps: 2)
    o.recipe.loss = "wgan"
    o.recipe.spectralNorm = true
    #expect(throws: KallimaError.self) { try TrainingRun(options: o, backend: cl) }
    o.recipe = RecipeOptions()
    o.recipe.loss = "wasserstein"
    do {
      _ = try TrainingRun(options: o, backend: cl)
      Issue.record("an unknown loss was accepted")
    } catch {
      #expect("\(error)".contains("wgan-gp"), "the error should list the losses: \(error)")
    }
    o.recipe = RecipeOptions()
    o.recipe.loss = "began"
    o.recipe.r1 = 10
    #expect(throws: KallimaError.self) { try TrainingRun(options: o, backend: cl) }
  }
}
