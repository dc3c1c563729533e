import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaNN
import Testing

// Three iterations of a narrow pix2pix and a narrow CycleGAN, and four of a narrow StarGAN
// (n_critic 2: two D-only iterations, two D-then-G), against PyTorch in float64:
// Fixtures/translation/{pix2pix,cyclegan,stargan}.json, written by
// Scripts/make_translation_step_fixtures.py (its docstring states the networks, the
// iteration and the pools' draws). Kallima starts from the stored initial state, is fed the
// stored batches (`TranslationData.tensors`), and must reach the stored final state: every
// network's parameters and batch-norm buffers, Adam's exp_avg and exp_avg_sq, and
// CycleGAN's two pools of past fakes (3 images each, so the third iteration's draws decide
// which fakes D sees and which stay), plus every iteration's losses. Every tensor of
// Kallima's stores must have an expected value and every expected value a tensor.
//
// Tolerances, |actual − expected| <= atol + rtol·|expected|:
//   • parameters, buffers, pools: atol 1e-5, rtol 1e-4;
//   • Adam's state: atol 1e-5·max|expected| over the tensor, rtol 1e-4 (the gradient's scale);
//   • losses: atol 1e-5, rtol 1e-4.
// The parameters move by up to 6.4e-4 over the three iterations (64x atol) and Adam's state
// carries the gradients' values; the worst measured error/allowed ratio per fixture and
// backend is printed.

struct TranslationStepFixture: Decodable {
  let method: String
  let batch: Int
  let iterations: Int
  let initial: [String: StepTensor]
  let inputs: [[String: StepTensor]]
  let statistics: [[String: Double]]
  let final: [String: StepTensor]

  static func load(_ name: String) throws -> TranslationStepFixture {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/translation/\(name)", withExtension: "json"))
    return try JSONDecoder().decode(TranslationStepFixture.self, from: Data(contentsOf: url))
  }
}

@Suite("pix2pix, CycleGAN and StarGAN against PyTorch (float64 fixtures)")
struct TranslationFixtureTests {
  func method(_ fixture: TranslationStepFixture) throws -> any TranslationMethod {
    switch fixture.method {
    case "stargan":
      let d = try StarGANDiscriminator(imageSize: 16, convDim: 4, domains: 3, repeatNum: 3, imageChannels: 3)
      return StarGAN(
        generator: try StarGANGenerator(convDim: 4, domains: 3, repeatNum: 1, imageChannels: 3),
        discriminator: { x, scope in
          let out = try d(x, in: scope)
          return (out.source, out.classes)
        }, image: [3, 16, 16], labels: 3, nCritic: 2)
    case "pix2pix":
      return Pix2Pix(
        generator: try UNetGenerator(inputChannels: 1, outputChannels: 3, downs: 5, ngf: 2, norm: .batch, dropout: false),
        discriminator: try NLayerDiscriminator(inputChannels: 4, ndf: 2, layers: 2, norm: .batch),
        imageA: [1, 32, 32], imageB: [3, 32, 32])
    default:
      let g = { try ResnetGenerator(inputChannels: 1, outputChannels: 1, ngf: 2, norm: .batch, dropout: false, blocks: 2) }
      let d = { try NLayerDiscriminator(inputChannels: 1, ndf: 2, layers: 2, norm: .batch) }
      return CycleGAN(
        generatorA: try g(), generatorB: try g(), discriminatorA: try d(), discriminatorB: try d(), imageA: [1, 16, 16],
        imageB: [1, 16, 16], poolSize: 3)
    }
  }

  func run(_ name: String, on backend: Backend) throws {
    let fixture = try TranslationStepFixture.load(name)
    let trainer = try TranslationTrainer(
      backend: backend, method: try method(fixture), batch: fixture.batch, data: .tensors, noise: .input)
    // Every store entry (parameters, buffers, optimiser state, pools) by "<store> <entry>".
    var entries: [String: Tensor] = [:]
    for (store, parameters) in trainer.stores {
      // StarGAN's instance norms keep running statistics for state-dict interchange only;
      // PyTorch moves them in train mode, Kallima does not, and neither reads them.
      for e in parameters.entries where !(fixture.method == "stargan" && e.name.contains("running_")) {
        entries["\(store) \(e.name)"] = e.tensor
      }
    }
    #expect(Set(entries.keys) == Set(fixture.final.keys), "Kallima's tensors and the fixture's differ: only Kallima \(Set(entries.keys).subtracting(fixture.final.keys).sorted()), only fixture \(Set(fixture.final.keys).subtracting(entries.keys).sorted())")
    for (key, t) in fixture.initial where !(fixture.method == "stargan" && key.contains("running_")) {
      let target = try #require(entries[key], "the fixture's initial \(key) has no Kallima tensor")
      try backend.write(try stepFloats(try stepDecode(t, key), key), to: target)
    }
    var worst = (ratio: 0.0, what: "")
    func check(
      _ actual: [Float], _ expected: [Double], atol: Double, rtol: Double, _ what: String,
      noiseOnly: (Int) -> Bool = { _ in false }
    ) {
      #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)")
      var bad: [String] = []
      for (i, (a, e)) in zip(actual, expected).enumerated() {
        // A weight whose true gradient is zero moves by Adam's normalised rounding noise:
        // at most about lr per step, in either direction.
        let allowed = noiseOnly(i) ? atol + 4 * 1e-4 : atol + rtol * abs(e)
        let ratio = abs(Double(a) - e) / allowed
        if !(ratio <= worst.ratio) { worst = (ratio, "\(what)[\(i)]") }
        if !(ratio <= 1), bad.count < 3 { bad.append("[\(i)] \(a) vs \(e)") }
      }
      #expect(bad.isEmpty, "\(backend.name) \(what): \(bad.joined(separator: ", "))")
    }
    for (i, batch) in fixture.inputs.enumerated() {
      for (role, t) in batch {
        try backend.write(try stepFloats(try stepDecode(t, role), role), to: try #require(trainer.inputs[role]))
      }
      try trainer.step()
      let stats = try trainer.readStatistics()
      #expect(Set(stats.keys) == Set(fixture.statistics[i].keys), "iteration \(i + 1): statistics \(stats.keys.sorted())")
      for (key, expected) in fixture.statistics[i] {
        check([try #require(stats[key], "no statistic \(key)")], [expected], atol: 1e-5, rtol: 1e-4, "iteration \(i + 1) \(key)")
      }
    }
    for (key, t) in fixture.final {
      guard let tensor = entries[key] else { continue }
      let expected = try stepDecode(t, key)
      let optimiser = key.hasSuffix(".exp_avg") || key.hasSuffix(".exp_avg_sq")
      let atol = optimiser ? 1e-5 * (expected.map(abs).max() ?? 0) : 1e-5
      check(try backend.read(tensor), expected, atol: atol, rtol: 1e-4, key) { i in
        // StarGAN's G reads the tiled labels through a 7x7 conv and an instance norm: the
        // centre tap of a label channel sees every position of a per-sample constant, so its
        // gradient is Σ over the norm's input gradient, exactly 0. In float32 it is rounding
        // noise that Adam scales to ±lr (measured 4.6e-5 after two G steps of lr 1e-4; the
        // float64 reference moves 0), so those 12 weights are held to 2 steps of 2·lr.
        fixture.method == "stargan" && key == "G main.0.weight" && (i % 294) / 49 >= 3 && i % 49 == 24
      }
    }
    print("\(name) on \(backend.name): worst error/allowed \(worst.ratio) at \(worst.what)")
  }

  @Test("pix2pix, CPU reference") func pix2pixCPU() throws { try run("pix2pix", on: CPUBackend()) }
  @Test("pix2pix, OpenCL") func pix2pixOpenCL() throws { try run("pix2pix", on: try ganOpenCL.get()) }
  @Test("CycleGAN with its pools, CPU reference") func cycleGANCPU() throws { try run("cyclegan", on: CPUBackend()) }
  @Test("CycleGAN with its pools, OpenCL") func cycleGANOpenCL() throws { try run("cyclegan", on: try ganOpenCL.get()) }
  @Test("StarGAN (D every iteration, G every second; device-permuted targets), CPU reference")
  func starGANCPU() throws { try run("stargan", on: CPUBackend()) }
  @Test("StarGAN, OpenCL") func starGANOpenCL() throws { try run("stargan", on: try ganOpenCL.get()) }
}
