import Foundation
import KallimaCPU
import KallimaCore
import KallimaEval
import KallimaOpenCL
import Testing

// Tolerances (fixtures from Scripts/make_metric_fixtures.py, see InceptionScoreTests):
//   • precision and recall must equal the fixture exactly: they are counts over 50 and 60
//     samples, and the script asserts that every distance is at least a relative 2e-4
//     (`margin`) away from any radius it is compared with, far more than float32 can move it.
//   • radii on the CPU backend: 1e-7 relative. It computes squared distances in Double but
//     the blocks come back as float32 (reading them wide would double the N² traffic), so
//     d² carries 2⁻²⁴ relative rounding and d = √d² half of that, 3e-8.
//   • radii on OpenCL: 1e-6 relative (about 17 float32 roundings). d² = ‖a‖² + ‖b‖² − 2a·b in
//     float32 errs by a few roundings of ‖a‖² + ‖b‖²; both sets are centred first, so on the
//     fixture (d = 16) those norms are comparable to the nearest-neighbour d² and the
//     measured error on PoCL is 1e-7 of d.

@Suite("Precision and recall")
struct PrecisionRecallTests {
  static let name = "real_60x16_fake_50x16"

  func check(on backend: Backend, blockRows: Int, radiusTolerance: Double) throws {
    let c = try MetricFixtures.precisionRecall(Self.name)
    let (real, fake) = (try c.real.tensor(on: backend), try c.fake.tensor(on: backend))
    let result = try PrecisionRecall.compute(real: real, fake: fake, on: backend, k: c.k, blockRows: blockRows)
    #expect(result.precision == c.precision, "precision on \(backend.name), blocks of \(blockRows)")
    #expect(result.recall == c.recall, "recall on \(backend.name), blocks of \(blockRows)")
    #expect(result.k == 3 && result.realCount == 60 && result.fakeCount == 50)
    for (features, radii, role) in [(real, c.realRadii, "real"), (fake, c.fakeRadii, "fake")] {
      let got = try PrecisionRecall.radii(features, on: backend, k: c.k, blockRows: blockRows)
      #expect(got.count == radii.data.count)
      for (i, (g, want)) in zip(got, radii.data).enumerated() {
        expectClose(g, want, rtol: radiusTolerance, "\(role) radius \(i) on \(backend.name), blocks of \(blockRows)")
      }
    }
  }

  @Test("matches NumPy on the CPU backend, in one block and in blocks that do not divide N", arguments: [1024, 7, 1])
  func fixtureOnCPU(blockRows: Int) throws {
    try check(on: CPUBackend(), blockRows: blockRows, radiusTolerance: 1e-7)
  }

  @Test("matches NumPy on OpenCL, in one block and in blocks that do not divide N", arguments: [1024, 16])
  func fixtureOnOpenCL(blockRows: Int) throws {
    try check(on: try evalOpenCL.get(), blockRows: blockRows, radiusTolerance: 1e-6)
  }

  @Test("identical sets have precision and recall 1; far-apart clusters have 0")
  func extremes() throws {
    let backends: [Backend] = [CPUBackend(), try evalOpenCL.get()]
    let (n, d) = (80, 12)
    let values = (0..<(n * d)).map { Philox.normal(stream: RandomStream(seed: 4), index: $0, mean: 0, std: 1) }
    for backend in backends {
      let a = try backend.makeTensor([n, d], values: values)
      let same = try PrecisionRecall.compute(real: a, fake: a, on: backend, blockRows: 32)
      #expect(same.precision == 1 && same.recall == 1, "\(same) on \(backend.name)")
      let far = try backend.makeTensor([n - 10, d], values: Array(values.prefix((n - 10) * d)).map { $0 + 100 })
      let apart = try PrecisionRecall.compute(real: a, fake: far, on: backend)
      #expect(apart.precision == 0 && apart.recall == 0, "\(apart) on \(backend.name)")
    }
  }

  @Test("a sample exactly on a hypersphere's boundary is inside (≤, as the reference code)")
  func boundaryCounts() throws {
    // Small integers on a line, with an integer real mean (2), stay exact in float32 through
    // the centring and the GEMMs, so the tie d = radius is exact on both backends. With k = 1
    // the radius of real 0 is 1, and fake −1 lies at exactly that distance; fake 100 is far.
    let backends: [Backend] = [CPUBackend(), try evalOpenCL.get()]
    for backend in backends {
      let real = try backend.makeTensor([5, 1], values: [0, 1, 2, 3, 4])
      let fake = try backend.makeTensor([2, 1], values: [-1, 100])
      let result = try PrecisionRecall.compute(real: real, fake: fake, on: backend, k: 1)
      #expect(result.precision == 0.5, "\(result) on \(backend.name)")
      #expect(result.recall == 1, "\(result) on \(backend.name)")  // both fake radii are 101
    }
  }

  @Test("host traffic: N_real² + N_fake² + N_fake·N_real floats in one read per block")
  func hostTraffic() throws {
    // Its own backend: tests running in parallel on the shared one would add to its counters.
    let cl = try OpenCLBackend()
    let c = try MetricFixtures.precisionRecall(Self.name)
    let (real, fake) = (try c.real.tensor(on: cl), try c.fake.tensor(on: cl))
    try cl.synchronize()
    let before = cl.traffic
    _ = try PrecisionRecall.compute(real: real, fake: fake, on: cl, blockRows: 16)
    let traffic = cl.traffic.since(before)
    #expect(traffic.bytesFromDevice == 4 * (60 * 60 + 50 * 50 + 50 * 60), "\(traffic)")
    #expect(traffic.blockingReads == 4 + 2 * 4, "\(traffic)")  // ⌈60/16⌉ + 2·⌈50/16⌉
  }

  @Test("description for the command line")
  func description() {
    let pr = PrecisionRecall(precision: 0.7123, recall: 0.5341, k: 3, realCount: 10000, fakeCount: 10000)
    #expect(pr.description == "precision 0.712, recall 0.534 (k = 3; 10000 real, 10000 fake)")
  }

  @Test("bad shapes give errors that name the metric and the shapes")
  func errors() throws {
    let cpu = CPUBackend()
    let a = try cpu.zeros([10, 4])
    expectMetricError(containing: ["precision and recall", "[10, 4]", "[10, 5]", "widths"]) {
      _ = try PrecisionRecall.compute(real: a, fake: try cpu.zeros([10, 5]), on: cpu)
    }
    expectMetricError(containing: ["precision and recall", "fake", "[3, 4]", "k + 1 = 4"]) {
      _ = try PrecisionRecall.compute(real: a, fake: try cpu.zeros([3, 4]), on: cpu)
    }
    expectMetricError(containing: ["precision and recall", "real", "[5, 4]", "k + 1 = 6"]) {
      _ = try PrecisionRecall.compute(real: try cpu.zeros([5, 4]), fake: a, on: cpu, k: 5)
    }
    expectMetricError(containing: ["precision and recall", "k", "0"]) {
      _ = try PrecisionRecall.compute(real: a, fake: a, on: cpu, k: 0)
    }
    expectMetricError(containing: ["precision and recall", "[40]"]) {
      _ = try PrecisionRecall.compute(real: try cpu.zeros([40]), fake: a, on: cpu)
    }
    expectMetricError(containing: ["pairwise distances", "blockRows", "0"]) {
      _ = try PrecisionRecall.compute(real: a, fake: a, on: cpu, blockRows: 0)
    }
  }
}
