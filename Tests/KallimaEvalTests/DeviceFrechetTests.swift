import Foundation
import KallimaCPU
import KallimaCore
import KallimaEval
import KallimaOpenCL
import Testing

let evalOpenCL: Result<OpenCLBackend, Error> = Result { try OpenCLBackend() }

/// Q·diag(values)·Qᵀ with Q the Householder reflection I − 2vvᵀ/‖v‖² (v fixed, dense).
func rotatedDiagonal(_ values: [Double]) -> [Double] {
  let d = values.count
  let v = (0..<d).map { Double(($0 * 37 + 11) % 17) - 8.0 }
  let vv = v.reduce(0) { $0 + $1 * $1 }
  func q(_ i: Int, _ j: Int) -> Double { (i == j ? 1 : 0) - 2 * v[i] * v[j] / vv }
  var m = [Double](repeating: 0, count: d * d)
  for i in 0..<d {
    for j in 0..<d {
      var s = 0.0
      for k in 0..<d { s += q(i, k) * values[k] * q(j, k) }
      m[i * d + j] = s
    }
  }
  return m
}

@Suite("Fréchet distance on the device")
struct DeviceFrechetTests {
  @Test("feature mean and covariance (divisor N − 1) match a Double reference")
  func statistics() throws {
    let cl = try evalOpenCL.get()
    let (n, d) = (50, 16)
    let features = (0..<(n * d)).map { Philox.normal(stream: RandomStream(seed: 5), index: $0, mean: 0.3, std: 1.5) }
    let (mean, covariance) = try DeviceFrechet.statistics(try cl.makeTensor([n, d], values: features), on: cl)
    let x = features.map(Double.init)
    let mu = (0..<d).map { j in (0..<n).reduce(0.0) { $0 + x[$1 * d + j] } / Double(n) }
    let gotMean = try cl.read(mean)
    let gotCov = try cl.read(covariance)
    for j in 0..<d { #expect(abs(Double(gotMean[j]) - mu[j]) < 1e-5) }
    for i in 0..<d {
      for j in 0..<d {
        let c = (0..<n).reduce(0.0) { $0 + (x[$1 * d + i] - mu[i]) * (x[$1 * d + j] - mu[j]) } / Double(n - 1)
        #expect(abs(Double(gotCov[i * d + j]) - c) < 1e-4 * (1 + abs(c)), "cov[\(i),\(j)]")
      }
    }
  }

  @Test("Newton–Schulz gives Tr((Σ₁Σ₂)^½) for dense commuting covariances", arguments: [8, 64])
  func traceOfSquareRoot(d: Int) throws {
    let cl = try evalOpenCL.get()
    let l1 = (0..<d).map { 0.5 + Double($0 % 7) }
    let l2 = (0..<d).map { 0.1 + Double(($0 * 3) % 5) }
    let s1 = try cl.makeTensor([d, d], values: rotatedDiagonal(l1).map(Float.init))
    let s2 = try cl.makeTensor([d, d], values: rotatedDiagonal(l2).map(Float.init))
    let expected = zip(l1, l2).reduce(0) { $0 + ($1.0 * $1.1).squareRoot() }
    let result = try DeviceFrechet.traceSqrtProduct(s1, s2, on: cl)
    #expect(abs(result.trace - expected) <= 1e-4 * expected, "trace \(result.trace) vs \(expected) after \(result.iterations) iterations")
    #expect(result.residual < 1e-4)
  }

  @Test("pytorch-fid's test vector: μ 0 vs 1, Σ = I, d = 2048 gives 2048")
  func pytorchFIDVector() throws {
    let cl = try evalOpenCL.get()
    let d = 2048
    let identity = try cl.makeTensor([d, d], values: (0..<(d * d)).map { $0 % (d + 1) == 0 ? 1 : 0 })
    let (fid, root) = try DeviceFrechet.distance(
      mean1: try cl.zeros([d]), covariance1: identity, mean2: try cl.makeTensor([d], values: .init(repeating: 1, count: d)),
      covariance2: identity, on: cl)
    #expect(abs(fid - 2048) < 2048 * 1e-4, "FID \(fid) after \(root.iterations) iterations (residual \(root.residual))")
  }
}
