import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import Testing

/// Progressive GAN (Karras et al. 2018): its layers against their definitions, the fade-in's
/// two ends, and the phase machinery of `ProgressiveTrainer`.
@Suite("Progressive GAN")
struct ProgressiveTests {
  /// A tiny model: 8x8 gray images, latent 8, at most 8 feature maps.
  static let config = ProgressiveGAN.Config(resolution: 8, channels: 1, latent: 8, featureBase: 32, featureMax: 8)

  static func values(_ n: Int, seed: UInt64, std: Float = 1) -> [Float] {
    (0..<n).map { Philox.normal(stream: RandomStream(seed: seed), index: $0, mean: 0, std: std) }
  }

  /// `layer` applied to `x` on `backend` (parameters from `store`), its output read back.
  static func apply(_ layer: any Layer, _ x: [Float], shape: Shape, store: ParameterStore, backend: Backend) throws -> [Float] {
    let g = Graph()
    let b = GraphBinder(graph: g)
    let input = g.input(shape, name: "x")
    b.bind(input, try backend.makeTensor(shape, values: x))
    let y = try layer(input, in: Scope(binder: b, store: store, tag: "T"))
    let plan = try Plan(graph: g, backend: backend, bindings: b.bindings, keep: [y])
    try plan.run()
    return try backend.read(plan.tensor(y))
  }

  /// Pixel norm: x / √(mean over channels of x² + 1e-8) per pixel. Minibatch stddev: the
  /// reference's grouping (sample n in member n / M), biased σ over the 4 members, its mean
  /// over (c, h, w) as one more channel. Both against a Double computation of the
  /// definition; measured worst 6.0e-8 and 1.2e-7 relative to the largest value, bound 1e-6.
  @Test("pixel norm and minibatch stddev equal their definitions (CPU reference)")
  func layersMatchTheirDefinitions() throws {
    let cpu = CPUBackend()
    let store = ParameterStore(backend: cpu, seed: 1)
    let (n, c, h, w) = (8, 3, 2, 2)
    let x = Self.values(n * c * h * w, seed: 7)
    func at(_ i: Int, _ j: Int, _ y: Int, _ z: Int) -> Double { Double(x[((i * c + j) * h + y) * w + z]) }

    let normalised = try Self.apply(PixelNorm(), x, shape: [n, c, h, w], store: store, backend: cpu)
    var worst = 0.0
    for i in 0..<n {
      for y in 0..<h {
        for z in 0..<w {
          let meanSquare = (0..<c).map { at(i, $0, y, z) * at(i, $0, y, z) }.reduce(0, +) / Double(c)
          for j in 0..<c {
            let expected = at(i, j, y, z) / (meanSquare + 1e-8).squareRoot()
            worst = max(worst, abs(Double(normalised[((i * c + j) * h + y) * w + z]) - expected))
          }
        }
      }
    }
    #expect(worst <= 1e-6 * Double(normalised.map(abs).max()!), "pixel norm: \(worst)")
    print("progressive: pixel norm worst difference \(worst)")

    let stats = try Self.apply(MinibatchStdDev(groupSize: 4), x, shape: [n, c, h, w], store: store, backend: cpu)
    #expect(stats.count == n * (c + 1) * h * w)
    let m = n / 4
    var expectedGroup = [Double](repeating: 0, count: m)
    for g in 0..<m {
      var total = 0.0
      for j in 0..<c {
        for y in 0..<h {
          for z in 0..<w {
            let members = (0..<4).map { at($0 * m + g, j, y, z) }
            let mean = members.reduce(0, +) / 4
            let variance = members.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
            total += (variance + 1e-8).squareRoot()
          }
        }
      }
      expectedGroup[g] = total / Double(c * h * w)
    }
    var worstStd = 0.0
    for i in 0..<n {
      for j in 0...c {
        for p in 0..<(h * w) {
          let got = Double(stats[(i * (c + 1) + j) * h * w + p])
          let expected = j < c ? at(i, j, p / w, p % w) : expectedGroup[i % m]
          worstStd = max(worstStd, abs(got - expected))
        }
      }
    }
    #expect(worstStd <= 1e-6 * expectedGroup.max()!, "minibatch stddev: \(worstStd)")
    // The two groups differ: a layer that averaged over the whole batch would not.
    #expect(abs(expectedGroup[0] - expectedGroup[1]) > 1e-3)
    print("progressive: minibatch stddev worst difference \(worstStd), groups \(expectedGroup)")
  }

  /// The fade-in is (1 − α)·old + α·new: both ends exact. G at 8x8 fading in with α = 0 is
  /// G at 4x4 upsampled; with α = 1 it is G at 8x8 stable. D likewise, with the image
  /// pooled. The networks share one store, as the phases of a run do.
  @Test("fade-in: α = 0 is the smaller network (upsampled output, pooled input), α = 1 the new block alone, bit for bit",
    arguments: ["cpu", "opencl"])
  func fadeInEnds(backendName: String) throws {
    let backend: Backend = backendName == "cpu" ? CPUBackend() : try ganOpenCL.get()
    let model = try ProgressiveGAN(Self.config)
    let (g, d) = (ParameterStore(backend: backend, seed: 3), ParameterStore(backend: backend, seed: 4))
    let z = Self.values(4 * 8, seed: 11)
    let image = Self.values(4 * 64, seed: 12)
    func run(_ layer: any Layer, _ x: [Float], _ shape: Shape, _ store: ParameterStore) throws -> [UInt32] {
      try Self.apply(layer, x, shape: shape, store: store, backend: backend).map(\.bitPattern)
    }
    let small = try run(model.generator(resolution: 4, fading: false), z, [4, 8, 1, 1], g).map(Float.init(bitPattern:))
    let upsampled = (0..<(4 * 64)).map { i -> UInt32 in
      let (n, y, x) = (i / 64, i % 64 / 8, i % 8)
      return small[n * 16 + y / 2 * 4 + x / 2].bitPattern
    }
    // (Pooled in the same graph: the CPU reference keeps Doubles between ops.)
    let smallD = try run(Chain([AvgPool2d(2), try model.discriminator(resolution: 4, fading: false)]), image, [4, 1, 8, 8], d)
    let stableG = try run(model.generator(resolution: 8, fading: false), z, [4, 8, 1, 1], g)
    let stableD = try run(model.discriminator(resolution: 8, fading: false), image, [4, 1, 8, 8], d)
    for alpha: Float in [0, 1] {
      for store in [g, d] { try backend.fill(store["alpha"] ?? store.tensor("alpha", [1], .constant(0), trainable: false), value: alpha) }
      let fadingG = try run(model.generator(resolution: 8, fading: true), z, [4, 8, 1, 1], g)
      let fadingD = try run(model.discriminator(resolution: 8, fading: true), image, [4, 1, 8, 8], d)
      #expect(fadingG == (alpha == 0 ? upsampled : stableG), "G at α = \(alpha)")
      #expect(fadingD == (alpha == 0 ? smallD : stableD), "D at α = \(alpha)")
    }
    // And between them, neither: the fade really blends.
    for store in [g, d] { try backend.fill(store["alpha"]!, value: 0.5) }
    let half = try run(model.generator(resolution: 8, fading: true), z, [4, 8, 1, 1], g)
    #expect(half != upsampled && half != stableG)
  }

  /// Three iterations of the 8x8 fade-in against PyTorch in float64
  /// (Fixtures/progressive/fade8.json, Scripts/make_progressive_fixture.py, whose docstring
  /// states every convention): the phase's G and D, the real images' fade, WGAN-GP with the
  /// drift term, Adam (0, 0.99), the EMA, with α 0, 0.25, 0.5 (the test advances it between
  /// iterations as ProgressiveTrainer's device plan does). Tolerances as the objective
  /// fixtures' (atol 1e-5, rtol 1e-4); the worst measured ratio is printed.
  @Test("one fade-in phase's iterations match PyTorch (float64)", arguments: ["cpu", "opencl"])
  func fadeInMatchesPyTorch(backendName: String) throws {
    let backend: Backend = backendName == "cpu" ? CPUBackend() : try ganOpenCL.get()
    let f = try loadObjectiveFixture("fade8", subdirectory: "Fixtures/progressive")
    let model = try ProgressiveGAN(ProgressiveGAN.Config(resolution: 8, channels: 1, latent: 8, featureBase: 16, featureMax: 8))
    let recipe = try ProgressiveTrainer.recipe(model, phase: .init(resolution: 8, fading: true))
    let trainer = try GANTrainer(backend: backend, recipe: recipe, batch: f.config.batch, noise: .input)
    let stores = [trainer.generatorParameters, trainer.discriminatorParameters, trainer.emaParameters!]
    let worst = try runTrainingFixture(
      f, "progressive fade-in", on: trainer,
      tolerance: FixtureTolerance(state: (1e-5, 1e-4), optimizer: (1e-5, 1e-4), statistics: (1e-5, 1e-4))
    ) { t in
      for store in stores { try backend.write([Float(t + 1) * 0.25], to: store["alpha"]!) }
    }
    print("progressive fade-in on \(backend.name): worst |error|/allowed: \(describeWorst(worst))")
  }

  /// Two images per phase step, 6 per phase: 4x4 for 3 steps, 8x8 fading for 3 (α = 1/3,
  /// 2/3, 1 after them), then 8x8 stable.
  static func trainer(on backend: Backend) throws -> ProgressiveTrainer {
    let images = try backend.makeTensor([16, 1, 8, 8], values: realBatch([16, 1, 8, 8]))
    return try ProgressiveTrainer(
      backend: backend, model: try ProgressiveGAN(config), schedule: ProgressiveSchedule(imagesPerPhase: 6, defaultBatch: 2),
      images: images, seed: 5, flip: true)
  }

  @Test("ProgressiveTrainer: phases change on schedule, shared layers keep their weights, Adam restarts, α advances on the device")
  func phases() throws {
    let backend = try ganOpenCL.get()
    let t = try Self.trainer(on: backend)
    #expect(t.phases.map(\.description) == ["4x4 stable", "8x8 fade-in", "8x8 stable"])
    for _ in 0..<3 { try t.step() }
    #expect(t.phase.description == "8x8 fade-in" && t.stepsInPhase == 0)
    // The 4x4 block trained in phase 0 and carries into phase 1; its Adam state starts over.
    let stores = t.trainer.stores
    let conv = try backend.read(stores.generator["b4.conv.weight"]!)
    #expect(try backend.read(stores.generator["b4.conv.weight.exp_avg"]!).allSatisfy { $0 == 0 })
    var alphas: [Float] = []
    for _ in 0..<3 {
      try t.step()
      alphas.append(try backend.read(stores.generator["alpha"]!)[0])
      #expect(try backend.read(stores.discriminator["alpha"]!)[0] == alphas.last!)
      // The host's α (what the log reports) is the device's, bit for bit, during the fade.
      if t.phase.fading { #expect(t.alpha == alphas.last!) }
    }
    // After the fade's third step the stable phase has begun, with α 1.
    #expect(alphas[0] == Float(1) / 3 && alphas[1] == Float(2) / 3 && alphas[2] == 1, "\(alphas)")
    #expect(t.phase.description == "8x8 stable" && t.steps == 6 && t.stepsLeftInPhase == nil)
    #expect(try backend.read(stores.generator["b4.conv.weight"]!) != conv, "the 4x4 block went on training in the fade")
    for _ in 0..<2 { try t.step() }
    let stats = try t.trainer.readStatistics()
    #expect(stats.lossD.isFinite && stats.lossG.isFinite)
  }

  /// Every tensor of a trainer's stores, by store and name.
  static func snapshot(_ t: ProgressiveTrainer) throws -> [String: [String: (shape: [Int], values: [Float])]] {
    var out: [String: [String: (shape: [Int], values: [Float])]] = [:]
    for (name, store) in t.namedStores {
      for e in store.entries { out[name, default: [:]][e.name] = (e.tensor.shape.dims, try t.backend.read(e.tensor)) }
    }
    return out
  }

  @Test("a run resumed in the middle of a fade-in continues bit-identically across the phase change (OpenCL)")
  func resumeMidFade() throws {
    let backend = try ganOpenCL.get()
    let through = try Self.trainer(on: backend)
    for _ in 0..<4 { try through.step() }
    let saved = try Self.snapshot(through)
    let state = through.state
    #expect(state.phase == 1 && state.stepsInPhase == 1 && state.steps == 4)
    for _ in 0..<4 { try through.step() }
    let resumed = try Self.trainer(on: backend)
    try resumed.restore(state, tensors: saved)
    for _ in 0..<4 { try resumed.step() }
    #expect(resumed.state == through.state)
    let (a, b) = (try Self.snapshot(through), try Self.snapshot(resumed))
    #expect(Set(a.keys) == Set(b.keys))
    for (store, tensors) in a {
      #expect(Set(tensors.keys) == Set(b[store]!.keys), "\(store)")
      for (name, t) in tensors {
        #expect(t.values.map(\.bitPattern) == b[store]?[name]?.values.map(\.bitPattern), "\(store) \(name)")
      }
    }
    // The run moved on after the snapshot (the comparison is not of two idle states).
    #expect(a["generator"]!["b8.conv0.weight"]!.values != saved["generator"]!["b8.conv0.weight"]!.values)
  }
}
