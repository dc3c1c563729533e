import Foundation
import KallimaCore
import KallimaEval
import KallimaOpenCL
import Testing

// Reference values from NumPy/SciPy: Fixtures/frechet.json, written by
// Scripts/make_frechet_fixtures.py (run by hand; the build and tests never need Python).
// The feature sets (up to 3000 x 2048) are not stored: both sides generate them from the
// counter-based splitmix64 generator below, bit for bit, from the stored parameters.

struct FrechetFixture: Decodable {
  struct Params: Decodable {
    var seed: UInt64
    var n: Int
    var d: Int
    var k: Int
    var latent: Double
    var shift: Double
  }
  struct Side: Decodable {
    var params: Params
    var features: [String: Float]
    var mean: [String: Double]
    var covariance: [String: Double]
  }
  struct Case: Decodable, CustomTestStringConvertible {
    var name: String
    var a: Side
    var b: Side
    var fid: Double
    var tr_covmean: Double
    var sqrtm_finite: Bool
    var fid_offset: Double
    var tr_covmean_offset: Double
    var testDescription: String { name }
  }
  var scipy_version: String
  var eps: Double
  var cases: [Case]
}

let frechetFixture: Result<FrechetFixture, Error> = Result {
  guard let url = Bundle.module.url(forResource: "frechet", withExtension: "json", subdirectory: "Fixtures") else {
    throw KallimaError.io(path: "Fixtures/frechet.json", message: "missing from the test bundle; run Scripts/make_frechet_fixtures.py")
  }
  return try JSONDecoder().decode(FrechetFixture.self, from: Data(contentsOf: url))
}

func frechetCase(_ name: String) throws -> FrechetFixture.Case {
  guard let c = try frechetFixture.get().cases.first(where: { $0.name == name }) else {
    throw KallimaError.invalidArgument(op: "fixture", message: "case \(name) missing from frechet.json; rerun the script")
  }
  return c
}

func splitmix64(_ seed: UInt64, _ index: UInt64) -> UInt64 {
  var z = seed &+ (index &+ 1) &* 0x9E37_79B9_7F4A_7C15
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}

/// Uniform in [-1, 1), exactly as the script: float64(bits >> 11) · 2⁻⁵² − 1.
func splitmixUniform(_ seed: UInt64, _ index: Int) -> Double {
  Double(splitmix64(seed, UInt64(index)) >> 11) * 0x1p-52 - 1
}

/// The script's feature set [n, d]: per-feature scale times uniform noise plus k latent
/// factors through a mixing matrix, plus a shift, rounded to float32. Same operations in
/// the same order as numpy, so the same bits.
func generatedFeatures(_ p: FrechetFixture.Params) -> [Float] {
  let (n, d, k) = (p.n, p.d, p.k)
  let z = (0..<(n * k)).map { splitmixUniform(p.seed + 1, $0) }
  let w = (0..<(k * d)).map { splitmixUniform(p.seed + 2, $0) }
  let s = (0..<d).map { 0.5 + 0.75 * (splitmixUniform(p.seed + 3, $0) + 1) }
  var out = [Float](repeating: 0, count: n * d)
  out.withUnsafeMutableBufferPointer { out in
    for i in 0..<n {
      for j in 0..<d {
        var x = s[j] * splitmixUniform(p.seed, i * d + j)
        for l in 0..<k { x = x + (p.latent * z[i * k + l]) * w[l * d + j] }
        out[i * d + j] = Float(x + p.shift)
      }
    }
  }
  return out
}

/// Host statistics of both feature sets of every case, computed once for all tests.
let fixtureStatistics: Result<[String: (FeatureStatistics, FeatureStatistics)], Error> = Result {
  var all: [String: (FeatureStatistics, FeatureStatistics)] = [:]
  for c in try frechetFixture.get().cases {
    all[c.name] = (
      try FeatureStatistics(features: generatedFeatures(c.a.params), count: c.a.params.n, dimension: c.a.params.d),
      try FeatureStatistics(features: generatedFeatures(c.b.params), count: c.b.params.n, dimension: c.b.params.d)
    )
  }
  return all
}

func statistics(_ name: String) throws -> (FeatureStatistics, FeatureStatistics) {
  guard let s = try fixtureStatistics.get()[name] else {
    throw KallimaError.invalidArgument(op: "fixture", message: "case \(name) missing from frechet.json; rerun the script")
  }
  return s
}

let frechetCaseNames = ["d64_n200", "d64_n64", "d64_n40", "d2048_n3000", "d2048_n500"]

@Suite("Fréchet distance on the host (Double, LAPACK) against pytorch-fid")
struct FrechetDistanceTests {
  @Test("the splitmix64 feature generator gives numpy's float32 features bit for bit", arguments: frechetCaseNames)
  func generator(name: String) throws {
    let c = try frechetCase(name)
    for side in [c.a, c.b] {
      let (n, d) = (side.params.n, side.params.d)
      var p = side.params
      p.n = 1  // row 0 only for the first two values
      let first = generatedFeatures(p)
      #expect(first[0].bitPattern == side.features["0,0"]?.bitPattern, "features[0, 0] \(first[0]) vs \(side.features["0,0"] ?? .nan)")
      #expect(first[1].bitPattern == side.features["0,1"]?.bitPattern, "features[0, 1] \(first[1]) vs \(side.features["0,1"] ?? .nan)")
      let all = generatedFeatures(side.params)
      #expect(all[n * d - 1].bitPattern == side.features["last"]?.bitPattern, "features[N-1, d-1]")
    }
  }

  @Test("mean and covariance (divisor N − 1) in Double match numpy", arguments: frechetCaseNames)
  func hostStatistics(name: String) throws {
    let c = try frechetCase(name)
    let (a, b) = try statistics(name)
    for (side, s) in [(c.a, a), (c.b, b)] {
      let d = s.dimension
      #expect(d == side.params.d && s.count == side.params.n)
      // Both sides sum the same float32 values in Double, in different orders: rounding
      // differences stay near 1e-16·N relative to the entries' magnitude (≈ 1).
      let (rtol, atol) = (1e-12, 1e-12)
      expectClose(s.mean[0], side.mean["0"]!, rtol: rtol, atol: atol, "\(name) mean[0]")
      expectClose(s.mean[d - 1], side.mean["last"]!, rtol: rtol, atol: atol, "\(name) mean[d-1]")
      expectClose(s.mean.reduce(0, +), side.mean["sum"]!, rtol: rtol, atol: atol * Double(d), "\(name) Σ mean")
      expectClose(s.covariance[0], side.covariance["0,0"]!, rtol: rtol, atol: atol, "\(name) cov[0, 0]")
      expectClose(s.covariance[1], side.covariance["0,1"]!, rtol: rtol, atol: atol, "\(name) cov[0, 1]")
      expectClose(s.covariance[d], side.covariance["0,1"]!, rtol: rtol, atol: atol, "\(name) cov[1, 0]")
      expectClose(
        s.covariance[(d - 1) * d + d - 2], side.covariance["last,last-1"]!, rtol: rtol, atol: atol, "\(name) cov[d-1, d-2]")
      expectClose(s.trace, side.covariance["trace"]!, rtol: rtol, atol: atol * Double(d), "\(name) Tr Σ")
      expectClose(
        s.covariance.reduce(0, +), side.covariance["sum"]!, rtol: rtol, atol: atol * Double(d * d), "\(name) Σ cov")
    }
  }

  @Test("host FID matches pytorch-fid with SciPy's sqrtm to 1e-6 relative", arguments: frechetCaseNames)
  func hostMatchesPytorchFID(name: String) throws {
    let c = try frechetCase(name)
    let (a, b) = try statistics(name)
    let result = try FrechetDistance.compute(a, b, path: .host)
    #expect(result.path == .host)
    expectClose(result.value, c.fid, rtol: 1e-6, "\(name) FID")
    expectClose(result.traceSqrtProduct, c.tr_covmean, rtol: 1e-6, "\(name) Tr((Σ₁Σ₂)^½)")
    #expect(result.diagonalOffset == 0)
    // With SciPy ≥ 1.13 pytorch-fid never needed its 1e-6 retry on these statistics.
    #expect(c.sqrtm_finite)
    if a.dimension >= a.count! {
      #expect(result.warnings.count == 2, "one warning per side with N ≤ d: \(result.warnings)")
      #expect(result.warnings.allSatisfy { $0.contains("N = \(a.count!)") && $0.contains("at least 2048") })
    } else {
      #expect(result.warnings.isEmpty, "\(result.warnings)")
    }
  }

  @Test("the optional 1e-6·I offset reproduces pytorch-fid's retry branch", arguments: ["d64_n64", "d64_n40", "d2048_n500"])
  func retryBranch(name: String) throws {
    let c = try frechetCase(name)
    let (a, b) = try statistics(name)
    let result = try FrechetDistance.compute(a, b, path: .host, singularCovariance: .pytorchFIDRetry)
    #expect(result.diagonalOffset == (try frechetFixture.get().eps))
    expectClose(result.value, c.fid_offset, rtol: 1e-6, "\(name) FID with offset")
    expectClose(result.traceSqrtProduct, c.tr_covmean_offset, rtol: 1e-6, "\(name) Tr with offset")
    #expect(result.warnings.contains { $0.contains("Added 1e-06·I") }, "\(result.warnings)")
  }

  @Test("full-rank statistics get no offset even when one is allowed")
  func noOffsetWhenFullRank() throws {
    let c = try frechetCase("d64_n200")
    let (a, b) = try statistics("d64_n200")
    let result = try FrechetDistance.compute(a, b, singularCovariance: .pytorchFIDRetry)
    #expect(result.diagonalOffset == 0 && result.warnings.isEmpty)
    expectClose(result.value, c.fid, rtol: 1e-6, "FID")
  }

  @Test("statistics without a sample count (as from .npz) still warn when Σ₁Σ₂ is singular")
  func singularWithoutCount() throws {
    let c = try frechetCase("d64_n40")
    let (a, b) = try statistics("d64_n40")
    let a2 = try FeatureStatistics(mean: a.mean, covariance: a.covariance)
    let b2 = try FeatureStatistics(mean: b.mean, covariance: b.covariance)
    let kept = try FrechetDistance.compute(a2, b2)
    expectClose(kept.value, c.fid, rtol: 1e-6, "FID")
    #expect(kept.warnings.count == 1 && kept.warnings[0].contains("numerically singular"), "\(kept.warnings)")
    let offset = try FrechetDistance.compute(a2, b2, singularCovariance: .pytorchFIDRetry)
    expectClose(offset.value, c.fid_offset, rtol: 1e-6, "FID with offset")
    #expect(offset.diagonalOffset == (try frechetFixture.get().eps) && offset.warnings.count == 2, "\(offset.warnings)")
  }

  @Test("pytorch-fid's test vector: μ 0 vs 1, Σ = I, d = 2048 gives 2048 on the host")
  func pytorchFIDVector() throws {
    let d = 2048
    let identity = (0..<(d * d)).map { $0 % (d + 1) == 0 ? 1.0 : 0.0 }
    let a = try FeatureStatistics(mean: .init(repeating: 0, count: d), covariance: identity)
    let b = try FeatureStatistics(mean: .init(repeating: 1, count: d), covariance: identity)
    let result = try FrechetDistance.compute(a, b)
    // Only the rounding of two eigen-decompositions of I: ~1e-13 relative.
    expectClose(result.value, 2048, rtol: 1e-10, "FID")
    #expect(result.warnings.isEmpty)
  }

  @Test("covariances with negative eigenvalues are computed with a warning naming the culprit")
  func notPositiveSemidefinite() throws {
    // [[1, 2], [2, 1]] has eigenvalues 3 and −1.
    let bad = try FeatureStatistics(mean: [0, 0], covariance: [1, 2, 2, 1])
    let good = try FeatureStatistics(mean: [0, 0], covariance: [2, 0.5, 0.5, 1])
    let first = try FrechetDistance.compute(bad, good)
    // Clamping Σ₁'s −1 leaves it rank 1, so the product is singular too: two warnings.
    #expect(first.warnings.count == 2, "\(first.warnings)")
    #expect(first.warnings.contains { $0.contains("Σ₁ has eigenvalue -1") }, "\(first.warnings)")
    #expect(first.warnings.contains { $0.contains("numerically singular") }, "\(first.warnings)")
    let second = try FrechetDistance.compute(good, bad)
    #expect(second.warnings.count == 1 && second.warnings[0].contains("Σ₂ is not a covariance"), "\(second.warnings)")
    #expect(first.value.isFinite && second.value.isFinite)
  }

  @Test("invalid statistics are rejected with a message that says why")
  func invalidStatistics() throws {
    #expect(throws: KallimaError.self) { try FeatureStatistics(mean: [0, 0], covariance: [1, 0, 0]) }
    #expect(throws: KallimaError.self) { try FeatureStatistics(mean: [0, .nan], covariance: [1, 0, 0, 1]) }
    #expect(throws: KallimaError.self) { try FeatureStatistics(mean: [0, 0], covariance: [1, 0.5, 0.4, 1]) }
    #expect(throws: KallimaError.self) { try FeatureStatistics(features: [1, 2, 3], count: 1, dimension: 3) }
    let a = try FeatureStatistics(mean: [0, 0], covariance: [1, 0, 0, 1])
    let b = try FeatureStatistics(mean: [0, 0, 0], covariance: [1, 0, 0, 0, 1, 0, 0, 0, 1])
    do {
      _ = try FrechetDistance.compute(a, b)
      Issue.record("statistics of 2 and 3 features were compared")
    } catch {
      #expect("\(error)".contains("2 and 3 features"))
    }
  }
}

@Suite("Fréchet distance: device path (float32) against the host path (Double)")
struct FrechetDevicePathTests {
  @Test("statistics read back from DeviceFrechet.statistics match the host's")
  func deviceStatistics() throws {
    let cl = try evalOpenCL.get()
    let c = try frechetCase("d64_n200")
    let features = generatedFeatures(c.a.params)
    let (n, d) = (c.a.params.n, c.a.params.d)
    let (mean, covariance) = try DeviceFrechet.statistics(try cl.makeTensor([n, d], values: features), on: cl)
    let device = try FeatureStatistics(mean: mean, covariance: covariance, count: n, from: cl)
    let host = try statistics("d64_n200").0
    #expect(device.count == n && device.dimension == d)
    // float32 sums of N = 200 products of values ≈ 1: a few 1e-7 relative to the scale.
    for i in 0..<d { expectClose(device.mean[i], host.mean[i], rtol: 0, atol: 1e-5, "mean[\(i)]") }
    for i in 0..<(d * d) { expectClose(device.covariance[i], host.covariance[i], rtol: 0, atol: 1e-5, "cov[\(i / d), \(i % d)]") }
  }

  // Tolerance: |FID_device − FID_host| ≤ (ρ + d·u)·S with S = Tr Σ₁ + Tr Σ₂ + ‖μ₁ − μ₂‖², the
  // size of the terms the FID is the difference of. u = 2⁻²⁴ ≈ 6e-8 is float32's unit
  // roundoff: rounding the statistics to float32 and the length-d sums of each product and
  // of the traces cost at most d·u·S (a worst-case bound; the error seen is ~100 times
  // smaller). ρ = 1e-5 is DeviceFrechet's stopping residual ‖I − ZY‖_F/√d, which bounds the
  // relative error of the iterated square root and so 2·Tr((Σ₁Σ₂)^½) ≤ S by ρ·S.
  // d = 64: 1.4e-5·S (≈ 2.3e-3 on S ≈ 165; measured 3.8e-6).
  @Test("device FID matches the host FID within (1e-5 + d·u)·(Tr Σ₁ + Tr Σ₂ + ‖Δμ‖²) for full-rank statistics")
  func deviceMatchesHost() throws {
    let cl = try evalOpenCL.get()
    let (a, b) = try statistics("d64_n200")
    let host = try FrechetDistance.compute(a, b, path: .host)
    let device = try FrechetDistance.compute(a, b, path: .device(cl))
    #expect(device.path == .device(cl.name) && host.path == .host)
    #expect(device.warnings.isEmpty, "\(device.warnings)")
    #expect(device.residual! < 1e-5)
    let scale = a.trace + b.trace + host.meanTerm
    let tolerance = (1e-5 + Double(a.dimension) * 0x1p-24) * scale
    expectClose(device.value, host.value, rtol: 0, atol: tolerance, "device FID")
    expectClose(device.meanTerm, host.meanTerm, rtol: 1e-12, "‖μ₁ − μ₂‖²")
  }

  @Test("device FID on rank-deficient statistics warns, or throws when Newton–Schulz diverges", arguments: ["d64_n64", "d64_n40"])
  func deviceRankDeficient(name: String) throws {
    let cl = try evalOpenCL.get()
    let (a, b) = try statistics(name)
    // float32 rounding leaves Σ₁Σ₂ with eigenvalues slightly below 0 or above it, so the
    // iteration either crawls (no convergence in 100 iterations) or diverges: both must say so.
    do {
      let device = try FrechetDistance.compute(a, b, path: .device(cl))
      #expect(device.value.isFinite)
      #expect(device.warnings.contains { $0.contains("N = \(a.count!)") }, "\(device.warnings)")
      #expect(device.warnings.contains { $0.contains("Newton–Schulz stopped") }, "\(device.warnings)")
    } catch let error as KallimaError {
      #expect("\(error)".contains("diverged") && "\(error)".contains("path: .host"), "\(error)")
    }
  }
}
