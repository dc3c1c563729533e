import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaNN
import Testing

// Three iterations of a narrow pix2pix and a narrow CycleGAN against PyTorch in float64:
// Fixtures/translation/{pix2pix,cyclegan}.json, written by
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

@Suite("pix2pix and CycleGAN against PyTorch (float64 fixtures)")
struct TranslationFixtureTests {
  func method(_ fixture: TranslationStepFixture) throws -> any TranslationMethod {
    switch fixture.method {
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
      backend: backend, method: try method(fixture), batch: fixture.batch, data: .tensors)
    // Every store entry (parameters, buffers, optimiser state, pools) by "<store> <entry>".
    var entries: [String: Tensor] = [:]
    for (store, parameters) in trainer.stores {
      for e in parameters.entries { entries["\(store) \(e.name)"] = e.tensor }
    }
    #expect(Set(entries.keys) == Set(fixture.final.keys), "Kallima's tensors and the fixture's differ: only Kallima \(Set(entries.keys).subtracting(fixture.final.keys).sorted()), only fixture \(Set(fixture.final.keys).subtracting(entries.keys).sorted())")
    for (key, t) in fixture.initial {
      let target = try #require(entries[key], "the fixture's initial \(key) has no Kallima tensor")
      try backend.write(try stepFloats(try stepDecode(t, key), key), to: target)
    }
    var worst = (ratio: 0.0, what: "")
    func check(_ actual: [Float], _ expected: [Double], atol: Double, rtol: Double, _ what: String) {
      #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)")
      var bad: [String] = []
      for (i, (a, e)) in zip(actual, expected).enumerated() {
        let allowed = atol + rtol * abs(e)
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
      for (key, expected) in fixture.statistics[i] {
        check([try #require(stats[key], "no statistic \(key)")], [expected], atol: 1e-5, rtol: 1e-4, "iteration \(i + 1) \(key)")
      }
    }
    for (key, t) in fixture.final {
      guard let tensor = entries[key] else { continue }
      let expected = try stepDecode(t, key)
      let optimiser = key.hasSuffix(".exp_avg") || key.hasSuffix(".exp_avg_sq")
      let atol = optimiser ? 1e-5 * (expected.map(abs).max() ?? 0) : 1e-5
      check(try backend.read(tensor), expected, atol: atol, rtol: 1e-4, key)
    }
    print("\(name) on \(backend.name): worst error/allowed \(worst.ratio) at \(worst.what)")
  }

  @Test("pix2pix, CPU reference") func pix2pixCPU() throws { try run("pix2pix", on: CPUBackend()) }
  @Test("pix2pix, OpenCL") func pix2pixOpenCL() throws { try run("pix2pix", on: try ganOpenCL.get()) }
  @Test("CycleGAN with its pools, CPU reference") func cycleGANCPU() throws { try run("cyclegan", on: CPUBackend()) }
  @Test("CycleGAN with its pools, OpenCL") func cycleGANOpenCL() throws { try run("cyclegan", on: try ganOpenCL.get()) }
}
