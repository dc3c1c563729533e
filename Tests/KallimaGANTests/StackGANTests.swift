import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import Testing

/// StackGAN's pieces (Zhang et al. 2017) as they land.
@Suite("StackGAN")
struct StackGANTests {
  /// ĉ = μ + exp(½·log σ²)·ε and KL = −½·mean(1 + log σ² − μ² − exp(log σ²)) from
  /// (μ, log σ²) = split(relu?(e·Wᵀ + b)), against a Double computation of the definition
  /// with the layer's own weights. Measured worst: 2.7e-8 (ĉ), 5.8e-8 (KL) relative; bound
  /// 1e-6 (17x).
  @Test("conditioning augmentation equals its definition, with and without the reference's ReLU", arguments: [true, false])
  func conditioningAugmentation(relu: Bool) throws {
    let cpu = CPUBackend()
    let (n, e, c) = (4, 6, 3)
    let g = Graph()
    let b = GraphBinder(graph: g)
    let store = ParameterStore(backend: cpu, seed: 9)
    let embedding = g.input([n, e], name: "e")
    let noise = g.input([n, c], name: "ε")
    let values = (0..<(n * e)).map { Philox.normal(stream: RandomStream(seed: 1), index: $0, mean: 0, std: 1) }
    let epsilon = (0..<(n * c)).map { Philox.normal(stream: RandomStream(seed: 2), index: $0, mean: 0, std: 1) }
    b.bind(embedding, try cpu.makeTensor([n, e], values: values))
    b.bind(noise, try cpu.makeTensor([n, c], values: epsilon))
    var drawn: [String] = []
    let scope = Scope(
      binder: b, store: store, tag: "G", conditions: [conditionKey: embedding],
      random: { shape, name, _ in
        drawn.append(name)
        #expect(shape == [n, c])
        return noise
      })
    let sample = try ConditioningAugmentation(embedding: e, dimension: c, reluBeforeSplit: relu)(embedding, in: scope)
    #expect(drawn == ["ε"])
    let aux = try #require(b.auxiliaryLosses.first)
    #expect(b.auxiliaryLosses.count == 1 && aux.name == "ca_kl" && aux.weight == 2)
    let plan = try Plan(graph: g, backend: cpu, bindings: b.bindings, keep: [sample, aux.value])
    try plan.run()
    let w = try cpu.readDouble(store["fc.weight"]!)
    let bias = try cpu.readDouble(store["fc.bias"]!)
    var expected: [Double] = []
    var kl = 0.0
    for i in 0..<n {
      let h = (0..<(2 * c)).map { j -> Double in
        let v = (0..<e).reduce(bias[j]) { $0 + Double(values[i * e + $1]) * w[j * e + $1] }
        return relu ? max(v, 0) : v
      }
      for j in 0..<c {
        let (mu, logVariance) = (h[j], h[c + j])
        expected.append(mu + Foundation.exp(0.5 * logVariance) * Double(epsilon[i * c + j]))
        kl += 1 + logVariance - mu * mu - Foundation.exp(logVariance)
      }
    }
    kl *= -0.5 / Double(n * c)
    let got = try cpu.read(plan.tensor(sample)).map(Double.init)
    let worst = zip(got, expected).map { abs($0 - $1) }.max()! / expected.map(abs).max()!
    let klGot = Double(try cpu.read(plan.tensor(aux.value))[0])
    #expect(worst <= 1e-6, "ĉ: \(worst)")
    #expect(abs(klGot - kl) <= 1e-6 * abs(kl), "KL \(klGot) vs \(kl)")
    print("conditioning augmentation (relu \(relu)): ĉ worst \(worst), KL \(klGot) vs \(kl)")
  }

  /// A generator whose layers add a loss (the conditioning augmentation's KL) gets it in G's
  /// loss with its weight, and only there: D's step does not train on it.
  @Test("GANTrainer adds the layers' auxiliary losses to G's loss, weighted, and not to D's")
  func auxiliaryLossesReachG() throws {
    struct AugmentedG: Layer {
      let inner: any Layer
      func callAsFunction(_ z: Value, in scope: Scope) throws -> Value {
        _ = try ConditioningAugmentation(embedding: 8, dimension: 2)(z, in: scope.child("ca"))
        return try inner(z, in: scope)
      }
    }
    let config = DCGANConfig(nz: 8, ngf: 4, ndf: 4, channels: 1, imageSize: 16)
    var recipe = try GANRecipe.dcgan(config)
    recipe.generator = AugmentedG(inner: recipe.generator)
    recipe.conditioning = Conditioning(width: 8, targets: .dense, head: .unconditional)
    let cpu = CPUBackend()
    let conditions = try cpu.makeTensor([16, 8, 1, 1], values: (0..<128).map { Float($0 % 7) / 7 })
    let images = try cpu.makeTensor([16, 1, 16, 16], values: (0..<4096).map { Float($0 % 11) / 5.5 - 1 })
    let trainer = try GANTrainer(
      backend: cpu, recipe: recipe, batch: 4, data: .dataset(images, seed: 1, flip: false), conditions: conditions)
    let names = { (plan: Plan) in plan.graph.nodes.map(\.name) }
    let term = "2.0·\(ConditioningAugmentation.lossName)"
    #expect(names(trainer.gPlan).contains(term))
    #expect(!names(trainer.dPlan).contains(term))
    try trainer.step()
    #expect(try trainer.readStatistics().lossG.isFinite)
  }
}

// StackGAN against PyTorch, each stage: Fixtures/stackgan_stage1.json and stackgan_stage2.json,
// written by Scripts/make_stackgan_fixture.py (run by hand; its docstring states every
// convention and the three places where Kallima's iteration differs from the reference's
// trainer.py: two G forwards per iteration, the mismatched pairs as mismatch_rows of every
// image, the frozen stage I's running statistics left alone). Three iterations each, batch 4,
// the reference's losses (BCE; stage I's D: real + ½(fake + wrong); stage II's D:
// ½(real + real_u) + ⅓(fake + wrong + fake_u); G: every score + 2·KL), D conditioned on μ of G's
// conditioning augmentation, Adam 2e-4 (0.5, 0.999):
//   • stage I: StackGAN.Config(stage: 1, side: 16, textDimension: 6, conditionDimension: 4,
//     nz: 5, gf: 2, df: 4), every layer trained;
//   • stage II: StackGAN.Config(stage: 2, side: 32, …, gf: 4, df: 4, stageOneGF: 2,
//     residualBlocks: 1) around a frozen stage I.
// The conditioning augmentations' draws are fed as "D ca_net.ε", "G ca_net.ε" (and stage II's
// "D STAGE1_G.ca_net.ε", "G STAGE1_G.ca_net.ε"). The whole state after the third iteration
// (stage I's tensors inside stage II included, which must not move) and every iteration's
// statistics are compared.
//
// Tolerances are ConditionalFixtureTests' (|a − e| <= atol + rtol·|e|): state 2e-7 + 2e-6·|e|,
// Adam's state 3e-6·max|e| + 3e-5·|e|, statistics 1e-7 + 1e-6·|e|. torch's own float32 run
// reaches 0.18 (stage I) and 0.43 (stage II) of them (the script prints it; the seeds are
// among the best 3 of 40 by that measure). Measured worst |error|/allowed on a 2-core x86:
// CPU 0.040 (stage I) and 0.038 (stage II); PoCL 3.1 0.17 (stage I) and 0.48 (stage II,
// optimizer_G upsample4.2.weight.exp_avg): a margin of 2.1 or more.
//
// The script's ablations move the final state by at least 9.5e-4, i.e. 400x the state
// tolerance or more: stage II's unconditional terms off, the paper's CA without the ReLU, the
// other stage's pair weights, D on the raw embedding instead of μ. Made by hand and not
// committed: with the unconditional terms off in Kallima (hasUnconditionalScore false) stage II
// fails 338 expectations, up to 4.8e5x the tolerance.
extension StackGANTests {
  static func config(stage: Int) -> StackGAN.Config {
    stage == 1
      ? StackGAN.Config(stage: 1, side: 16, channels: 3, textDimension: 6, conditionDimension: 4, nz: 5, gf: 2, df: 4)
      : StackGAN.Config(
        stage: 2, side: 32, channels: 3, textDimension: 6, conditionDimension: 4, nz: 5, gf: 4, df: 4, stageOneGF: 2,
        residualBlocks: 1)
  }

  @Test("a StackGAN training step matches PyTorch at each stage: the state after three iterations and every iteration's statistics",
    arguments: [1, 2], ["cpu", "opencl"])
  func stageFixture(stage: Int, kind: String) throws {
    let name = "stackgan_stage\(stage)"
    let f = try loadObjectiveFixture(name, subdirectory: "Fixtures")
    #expect((f.config.batch, f.config.iterations, f.config.nz, f.config.ndf) == (4, 3, 5, 4))
    #expect(f.config.ngf == (stage == 1 ? 2 : 4) && f.config.image_size == (stage == 1 ? 16 : 32))
    #expect(f.final != nil && f.steps.allSatisfy { $0.state == nil })
    let backend: Backend = kind == "cpu" ? CPUBackend() : try ganOpenCL.get()
    let recipe = try StackGAN(Self.config(stage: stage)).recipe()
    let trainer = try GANTrainer(backend: backend, recipe: recipe, batch: 4, noise: .input)
    // Stage II: stage I is frozen, its tensors buffers (no gradient, no Adam state).
    let frozen = trainer.generatorParameters.entries.filter { $0.name.hasPrefix("STAGE1_G.") }
    #expect(frozen.isEmpty == (stage == 1) && frozen.allSatisfy { !$0.trainable })
    let worst = try runTrainingFixture(
      f, name, on: trainer, tolerance: FixtureTolerance(state: (2e-7, 2e-6), optimizer: (3e-6, 3e-5), statistics: (1e-7, 1e-6)))
    print("\(name) on \(backend.name): worst |error|/allowed: \(describeWorst(worst))")
  }

  /// `Sampler` feeds the conditioning augmentation's ε from the host, as a function of each
  /// image's latent vector: one z and condition give one image whatever the batch and the
  /// image's place in it, and a grid's column (one z, several captions) shares its ε. With
  /// the device's stream instead (the draw of the plan run, row by row), the repeated row
  /// below differs from the first and every batch size gives other images.
  @Test("a sampled StackGAN image depends on its z and condition, not on the batch or its place in it")
  func samplerDraws() throws {
    let cpu = CPUBackend()
    let model = try StackGAN(Self.config(stage: 1))
    let store = ParameterStore(backend: cpu, seed: 3)
    let latents = Sampler.latents(count: 3, nz: 5, seed: 7)
    let rows = (0..<18).map { Float($0 % 5) / 5 }
    // Image 3 repeats image 0's z and condition.
    let (z, c) = (latents + latents[0..<5], rows + rows[0..<6])
    func sample(batch: Int) throws -> [Float] {
      let sampler = try Sampler(
        backend: cpu, network: model.generator, latentShape: [5], generator: store, count: batch, conditionWidth: 6)
      var out: [Float] = []
      try sampler.forEachBatch(latents: z, conditions: c) { images, _ in out += images }
      return out
    }
    let whole = try sample(batch: 4)
    let pixels = whole.count / 4
    let (first, repeated, second) = (whole[0..<pixels], whole[(3 * pixels)...], whole[pixels..<(2 * pixels)])
    let differ = zip(first, repeated).map { abs($0 - $1) }.max()!
    #expect(differ == 0, "the repeated z and condition gave another image (pixels differ by up to \(differ))")
    #expect(!first.elementsEqual(second), "two z and conditions gave one image")
    for batch in [1, 3] {
      let other = try sample(batch: batch)
      let worst = zip(whole, other).map { abs($0 - $1) }.max()!
      #expect(worst == 0, "batch \(batch): images differ from batch 4's by up to \(worst)")
    }
  }
}

extension StackGANTests {
  /// The state dict of stage II at 64 -> 256 (the reference's birds structure, R_NUM 4, at a
  /// quarter of its widths): Fixtures/stackgan_state_dict.json holds the names and shapes of
  /// hanzhanggit/StackGAN-Pytorch's STAGE2_G (STAGE1_G inside) and STAGE2_D with those sizes
  /// (Scripts/make_stackgan_fixture.py --names; checked against the reference's model.py).
  /// Kallima's networks must make exactly those tensors, so checkpoints map one to one.
  @Test("stage II's G (with stage I) and D have the reference's state-dict names and shapes at 64 -> 256")
  func referenceStateDict() throws {
    struct Names: Decodable {
      let G: [String: [Int]]
      let D: [String: [Int]]
    }
    let url = try #require(Bundle.module.url(forResource: "stackgan_state_dict", withExtension: "json", subdirectory: "Fixtures"))
    let reference = try JSONDecoder().decode(Names.self, from: Data(contentsOf: url))
    let config = StackGAN.Config(
      stage: 2, side: 256, channels: 3, textDimension: 64, conditionDimension: 32, nz: 20, gf: 32, df: 16, stageOneGF: 32,
      residualBlocks: 4)
    let model = try StackGAN(config)
    let cpu = CPUBackend()
    let g = Graph()
    let b = GraphBinder(graph: g)
    let (gStore, dStore) = (ParameterStore(backend: cpu, seed: 1), ParameterStore(backend: cpu, seed: 2))
    let c = g.input([2, 64], name: "c")
    let fake = try model.generator(g.input([2, 20], name: "z"), in: Scope(binder: b, store: gStore, tag: "G", conditions: [conditionKey: c]))
    #expect(g.shape(fake) == [2, 3, 256, 256])
    let mu = g.input([2, 32], name: "μ")
    let scores = try model.discriminator(fake, in: Scope(binder: b, store: dStore, tag: "D", conditions: [conditionKey: mu]))
    #expect(g.shape(scores) == [2, 2])
    for (label, store, expected) in [("G", gStore, reference.G), ("D", dStore, reference.D)] {
      let made = Dictionary(uniqueKeysWithValues: store.entries.map { ($0.name, $0.tensor.shape.dims) })
      #expect(made == expected, "\(label): missing \(Set(expected.keys).subtracting(made.keys).sorted()), extra \(Set(made.keys).subtracting(expected.keys).sorted())")
    }
    #expect(reference.G.count == 107 && reference.D.count == 45)
  }
}
