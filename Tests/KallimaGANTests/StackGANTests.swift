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
    let scope = Scope(
      binder: b, store: store, tag: "G", conditions: [conditionKey: embedding, ConditioningAugmentation.noiseKey: noise])
    let sample = try ConditioningAugmentation(embedding: e, dimension: c, reluBeforeSplit: relu)(embedding, in: scope)
    let aux = try #require(b.auxiliaryLosses.first)
    #expect(b.auxiliaryLosses.count == 1 && aux.name == "kl" && aux.weight == 2)
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
    #expect(names(trainer.gPlan).contains("2.0·kl"))
    #expect(!names(trainer.dPlan).contains("2.0·kl"))
    try trainer.step()
    #expect(try trainer.readStatistics().lossG.isFinite)
  }
}
