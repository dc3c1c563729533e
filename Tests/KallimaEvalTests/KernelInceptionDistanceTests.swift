import Foundation
import KallimaCPU
import KallimaCore
import KallimaEval
import KallimaOpenCL
import Testing

// Tolerances for MMD² (fixtures from Scripts/make_metric_fixtures.py, see InceptionScoreTests):
//   • CPU backend: 1e-9 relative. It computes in Double and the sums come back through
//     `readWide` (float32 read plus the Double remainder), so only summation order differs.
//   • OpenCL: |error| <= 16·2⁻²⁴·S ≈ 1e-6·S, with S the fixture's kernel scale (the largest
//     mean kernel value). MMD² is a + b − 2c of three kernel means of size <= S, so float32
//     error is relative to S, not to MMD² (which can be near zero). Each kernel entry carries
//     a few roundings of its dot product and cube, and they average out in the means (the
//     sums themselves are added in Double on the host): measured errors on PoCL are below
//     0.3·2⁻²⁴·S on all three cases. Rounding choices of the algorithm itself (such as folding
//     1/d into a float32 alpha) are caught by the CPU check, which runs the same ops.

func mmdTolerance(_ c: MetricFixtures.MMDCase) -> Double {
  16 * 0x1p-24 * c.kernelScale
}

/// Rows `rows` of a host matrix [N, d].
func gatherRows(_ m: MetricMatrix, _ rows: [Int]) -> [Float] {
  let values = m.floats
  return rows.flatMap { values[($0 * m.columns)..<(($0 + 1) * m.columns)] }
}

@Suite("Kernel Inception Distance")
struct KernelInceptionDistanceTests {
  static let cases = ["unequal_60x16_50x16", "equal_50x16", "unequal_40x10_30x10"]

  @Test("unbiased MMD² of one subset pair matches NumPy on the CPU backend", arguments: cases)
  func mmdOnCPU(name: String) throws {
    let c = try MetricFixtures.mmd(name)
    let cpu = CPUBackend()
    let value = try KernelInceptionDistance.mmdSquared(try c.x.tensor(on: cpu), try c.y.tensor(on: cpu), on: cpu)
    expectClose(value, c.mmd2, rtol: 1e-9, "\(name) MMD² on cpu")
  }

  @Test("unbiased MMD² of one subset pair matches NumPy on OpenCL", arguments: cases)
  func mmdOnOpenCL(name: String) throws {
    let c = try MetricFixtures.mmd(name)
    let cl = try evalOpenCL.get()
    let value = try KernelInceptionDistance.mmdSquared(try c.x.tensor(on: cl), try c.y.tensor(on: cl), on: cl)
    expectClose(value, c.mmd2, rtol: 0, atol: mmdTolerance(c), "\(name) MMD² on \(cl.name)")
  }

  @Test("subsets of the full sets are permutations of them: every subset gives the full-set MMD²")
  func fullSubsets() throws {
    let c = try MetricFixtures.mmd("equal_50x16")
    let cpu = CPUBackend()
    let kid = try KernelInceptionDistance.compute(
      real: try c.x.tensor(on: cpu), fake: try c.y.tensor(on: cpu), on: cpu, subsets: 4, seed: 3)
    #expect(kid.subsetSize == 50)  // min(1000, 50, 50)
    for (s, value) in kid.subsetValues.enumerated() { expectClose(value, c.mmd2, rtol: 1e-9, "subset \(s)") }
    expectClose(kid.mean, c.mmd2, rtol: 1e-9, "mean")
    #expect(kid.standardDeviation <= 1e-9 * c.mmd2)

    let cl = try evalOpenCL.get()
    let onDevice = try KernelInceptionDistance.compute(
      real: try c.x.tensor(on: cl), fake: try c.y.tensor(on: cl), on: cl, subsets: 4, seed: 3)
    for (s, value) in onDevice.subsetValues.enumerated() {
      expectClose(value, c.mmd2, rtol: 0, atol: mmdTolerance(c), "subset \(s) on \(cl.name)")
    }
  }

  @Test("the device gathers exactly the rows subsetRows names, drawn without replacement")
  func subsetsMatchTheirRows() throws {
    let c = try MetricFixtures.mmd("unequal_60x16_50x16")
    let cpu = CPUBackend()
    let (size, seed) = (17, UInt64(42))
    let kid = try KernelInceptionDistance.compute(
      real: try c.x.tensor(on: cpu), fake: try c.y.tensor(on: cpu), on: cpu, subsets: 5, subsetSize: size, seed: seed)
    #expect(kid.subsets == 5 && kid.subsetSize == size)
    for s in 0..<5 {
      let realRows = KernelInceptionDistance.subsetRows(
        subset: s, size: size, realCount: 60, fakeCount: 50, seed: seed, fake: false)
      let fakeRows = KernelInceptionDistance.subsetRows(
        subset: s, size: size, realCount: 60, fakeCount: 50, seed: seed, fake: true)
      #expect(Set(realRows).count == size && realRows.allSatisfy { (0..<60).contains($0) })
      #expect(Set(fakeRows).count == size && fakeRows.allSatisfy { (0..<50).contains($0) })
      let x = try cpu.makeTensor([size, 16], values: gatherRows(c.x, realRows))
      let y = try cpu.makeTensor([size, 16], values: gatherRows(c.y, fakeRows))
      expectClose(kid.subsetValues[s], try KernelInceptionDistance.mmdSquared(x, y, on: cpu), rtol: 1e-9, "subset \(s)")
    }
    // The subsets differ from one another.
    #expect(Set(kid.subsetValues).count == 5)
  }

  @Test("subset rows: without replacement for every size up to N, different per subset and per seed")
  func subsetRowProperties() {
    for (count, size) in [(1, 1), (2, 2), (5, 3), (64, 64), (65, 40), (1000, 999)] {
      for s in 0..<6 {
        let rows = KernelInceptionDistance.subsetRows(subset: s, size: size, realCount: count, fakeCount: count, seed: 9, fake: false)
        #expect(rows.count == size && Set(rows).count == size, "count \(count) size \(size) subset \(s)")
        #expect(rows.allSatisfy { (0..<count).contains($0) })
      }
    }
    func rows(_ subset: Int, seed: UInt64, fake: Bool) -> [Int] {
      KernelInceptionDistance.subsetRows(subset: subset, size: 100, realCount: 1000, fakeCount: 1000, seed: seed, fake: fake)
    }
    #expect(rows(0, seed: 1, fake: false) == rows(0, seed: 1, fake: false))
    #expect(rows(0, seed: 1, fake: false) != rows(1, seed: 1, fake: false))
    #expect(rows(0, seed: 1, fake: false) != rows(0, seed: 2, fake: false))
    #expect(rows(0, seed: 1, fake: false) != rows(0, seed: 1, fake: true))
  }

  @Test("deterministic per seed, and the same subsets on the CPU backend and on OpenCL")
  func deterministic() throws {
    let c = try MetricFixtures.mmd("unequal_60x16_50x16")
    let cpu = CPUBackend()
    let cl = try evalOpenCL.get()
    func kid(_ backend: Backend, seed: UInt64) throws -> KernelInceptionDistance {
      try KernelInceptionDistance.compute(
        real: try c.x.tensor(on: backend), fake: try c.y.tensor(on: backend), on: backend, subsets: 6, subsetSize: 20,
        seed: seed)
    }
    let first = try kid(cpu, seed: 7)
    #expect(try kid(cpu, seed: 7).subsetValues == first.subsetValues)
    #expect(try kid(cpu, seed: 8).subsetValues != first.subsetValues)
    let onDevice = try kid(cl, seed: 7)
    #expect(try kid(cl, seed: 7).subsetValues == onDevice.subsetValues)
    for (s, (got, want)) in zip(onDevice.subsetValues, first.subsetValues).enumerated() {
      expectClose(got, want, rtol: 0, atol: mmdTolerance(c), "subset \(s) on \(cl.name) vs cpu")
    }
  }

  @Test("KID of a set with itself is near zero (slightly negative), far below KID against a shifted set")
  func selfDistance() throws {
    // Real and fake subsets of 100 are drawn independently from the same 400 features, so
    // they share rows: a shared row puts a diagonal value k(x, x) into the cross term. Over
    // the draws the estimate's expectation is then exactly −2(D − O)/N, with D the mean of
    // k(x_i, x_i) and O the mean of k(x_i, x_j), i ≠ j, over the whole set: slightly
    // negative. The mean over 50 subsets must lie within 4 standard errors of it.
    let cpu = CPUBackend()
    let (n, d) = (400, 8)
    let values = (0..<(n * d)).map { abs(Philox.normal(stream: RandomStream(seed: 11), index: $0, mean: 0, std: 1)) }
    let x = values.map(Double.init)
    var (diagonal, offDiagonal) = (0.0, 0.0)
    for i in 0..<n {
      for j in 0..<n {
        var dot = 0.0
        for c in 0..<d { dot += x[i * d + c] * x[j * d + c] }
        let k = (dot / Double(d) + 1) * (dot / Double(d) + 1) * (dot / Double(d) + 1)
        if i == j { diagonal += k } else { offDiagonal += k }
      }
    }
    let expected = -2 * (diagonal / Double(n) - offDiagonal / Double(n * (n - 1))) / Double(n)

    let features = try cpu.makeTensor([n, d], values: values)
    let same = try KernelInceptionDistance.compute(real: features, fake: features, on: cpu, subsets: 50, subsetSize: 100, seed: 1)
    let standardError = same.standardDeviation / Double(same.subsets).squareRoot()
    #expect(abs(same.mean - expected) <= 4 * standardError, "KID \(same), expectation \(expected)")
    #expect(abs(same.mean) <= 0.01 * offDiagonal / Double(n * (n - 1)), "KID \(same) is not small against the kernel values")
    let shifted = try cpu.makeTensor([n, d], values: values.map { $0 + 0.5 })
    let apart = try KernelInceptionDistance.compute(real: features, fake: shifted, on: cpu, subsets: 50, subsetSize: 100, seed: 1)
    #expect(apart.mean > 20 * abs(same.mean) && apart.mean > 20 * apart.standardDeviation / Double(apart.subsets).squareRoot(), "KID apart \(apart), same \(same)")
  }

  @Test("host traffic: the subsets' sums come back once, whatever the number of subsets")
  func hostTraffic() throws {
    // Its own backend: tests running in parallel on the shared one would add to its counters.
    let cl = try OpenCLBackend()
    let c = try MetricFixtures.mmd("unequal_60x16_50x16")
    let (x, y) = (try c.x.tensor(on: cl), try c.y.tensor(on: cl))
    try cl.synchronize()
    let before = cl.traffic
    let kid = try KernelInceptionDistance.compute(real: x, fake: y, on: cl, subsets: 30, subsetSize: 25)
    let traffic = cl.traffic.since(before)
    #expect(traffic.blockingReads == 2, "\(traffic)")
    #expect(traffic.bytesFromDevice == 2 * 4 * 30 * 3 * 25, "\(traffic)")
    #expect(kid.subsets == 30)
  }

  @Test("description for the command line")
  func description() {
    let kid = KernelInceptionDistance(
      mean: 0.012345, standardDeviation: 0.000561, subsetValues: .init(repeating: 0, count: 100), subsetSize: 1000,
      realCount: 5000, fakeCount: 5000)
    #expect(kid.description == "KID 0.01235 ± 0.00056 (100 subsets of 1000; 5000 real, 5000 fake)")
  }

  @Test("bad shapes and sizes give errors that name the metric and the shapes")
  func errors() throws {
    let cpu = CPUBackend()
    let a = try cpu.zeros([10, 4])
    expectMetricError(containing: ["KID", "[10, 4]", "[10, 5]", "widths"]) {
      _ = try KernelInceptionDistance.compute(real: a, fake: try cpu.zeros([10, 5]), on: cpu)
    }
    expectMetricError(containing: ["KID", "[1, 4]", "at least 2"]) {
      _ = try KernelInceptionDistance.compute(real: a, fake: try cpu.zeros([1, 4]), on: cpu)
    }
    expectMetricError(containing: ["KID", "subset size 11", "[10, 4]", "[12, 4]"]) {
      _ = try KernelInceptionDistance.compute(real: a, fake: try cpu.zeros([12, 4]), on: cpu, subsetSize: 11)
    }
    expectMetricError(containing: ["KID", "subset size 1"]) {
      _ = try KernelInceptionDistance.compute(real: a, fake: a, on: cpu, subsetSize: 1)
    }
    expectMetricError(containing: ["KID", "0"]) {
      _ = try KernelInceptionDistance.compute(real: a, fake: a, on: cpu, subsets: 0)
    }
    expectMetricError(containing: ["KID", "[40]"]) {
      _ = try KernelInceptionDistance.compute(real: try cpu.zeros([40]), fake: a, on: cpu)
    }
    expectMetricError(containing: ["MMD²", "[10, 4]", "[3, 5]"]) {
      _ = try KernelInceptionDistance.mmdSquared(a, try cpu.zeros([3, 5]), on: cpu)
    }
  }
}
