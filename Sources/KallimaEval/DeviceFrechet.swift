import Foundation
import KallimaCore

/// The device path of the Fréchet distance: feature statistics by GEMM reductions, and
/// Tr((Σ₁Σ₂)^½) by coupled Newton–Schulz iterations, which need only matrix products
/// (Higham, "Functions of Matrices", 2008, §6.3; the iteration of Lin & Maji, "Improved
/// bilinear pooling with CNNs", 2017). Float32 on the device: see `FrechetDistance` for
/// the Double host path it is checked against.
public enum DeviceFrechet {
  /// Mean [d] and covariance [d, d] (divisor N − 1, as numpy.cov and pytorch-fid) of the
  /// rows of `features` [N, d], computed on the device.
  public static func statistics(_ features: Tensor, on backend: Backend) throws -> (mean: Tensor, covariance: Tensor) {
    guard features.shape.rank == 2, features.shape[0] >= 2 else {
      throw KallimaError.invalidArgument(
        op: "feature statistics", message: "need features [N, d] with N >= 2, got \(features.shape)")
    }
    let (n, d) = (features.shape[0], features.shape[1])
    let mean = try backend.makeTensor([d])
    try backend.channel_sum(features, y: mean)
    try backend.scale(mean, alpha: 1 / Float(n), y: mean)
    let negated = try backend.makeTensor([d])
    try backend.scale(mean, alpha: -1, y: negated)
    let centred = try backend.makeTensor([n, d])
    try backend.add_channel(features, bias: negated, y: centred)
    let covariance = try backend.makeTensor([d, d])
    try backend.matmul(centred, transposeA: true, centred, transposeB: false, c: covariance, alpha: 1 / Float(n - 1), beta: 0)
    return (mean, covariance)
  }

  public struct TraceResult {
    /// Tr((Σ₁Σ₂)^½).
    public var trace: Double
    /// ‖I − ZY‖_F / √d at the end: how well the iteration converged.
    public var residual: Double
    public var iterations: Int
  }

  /// Tr((Σ₁Σ₂)^½) for covariances [d, d]. Σ₁Σ₂ is similar to a symmetric positive
  /// semi-definite matrix, so its eigenvalues are real and non-negative; scaled by its
  /// Frobenius norm they lie in [0, 1], where the coupled iteration
  ///   T = ½(3I − Z Y),  Y ← Y T,  Z ← T Z  (Y₀ = A/‖A‖, Z₀ = I)
  /// converges to Y → (A/‖A‖)^½. Stops when the residual falls below `tolerance` (one
  /// scalar read per check, every 5 iterations), when it stalls at float32's floor (below
  /// 1e-3 and improving by less than 10% per check), or after `maxIterations`.
  public static func traceSqrtProduct(
    _ sigma1: Tensor, _ sigma2: Tensor, on backend: Backend, maxIterations: Int = 100, tolerance: Double = 1e-5
  ) throws -> TraceResult {
    let d = sigma1.shape[0]
    guard sigma1.shape == [d, d], sigma2.shape == [d, d] else {
      throw KallimaError.shapeMismatch(op: "Fréchet distance", message: "covariances \(sigma1.shape) and \(sigma2.shape) must be the same square shape")
    }
    let a = try backend.makeTensor([d, d])
    try backend.matmul(sigma1, transposeA: false, sigma2, transposeB: false, c: a, alpha: 1, beta: 0)
    let norm = try frobenius(a, on: backend)
    guard norm > 0 else { return TraceResult(trace: 0, residual: 0, iterations: 0) }
    let identity = try backend.makeTensor([d, d], values: (0..<(d * d)).map { $0 % (d + 1) == 0 ? 1 : 0 })
    var y = try backend.makeTensor([d, d])
    try backend.scale(a, alpha: Float(1 / norm), y: y)
    var z = try backend.makeTensor([d, d])
    try backend.scale(identity, alpha: 1, y: z)
    var (y2, z2) = (try backend.makeTensor([d, d]), try backend.makeTensor([d, d]))
    let t = try backend.makeTensor([d, d])
    var residual = Double.infinity
    var iterations = 0
    while iterations < maxIterations {
      // T = 1.5 I − 0.5 Z Y
      try backend.scale(identity, alpha: 1.5, y: t)
      try backend.matmul(z, transposeA: false, y, transposeB: false, c: t, alpha: -0.5, beta: 1)
      try backend.matmul(y, transposeA: false, t, transposeB: false, c: y2, alpha: 1, beta: 0)
      try backend.matmul(t, transposeA: false, z, transposeB: false, c: z2, alpha: 1, beta: 0)
      swap(&y, &y2)
      swap(&z, &z2)
      iterations += 1
      if iterations % 5 == 0 || iterations == maxIterations {
        // ‖I − ZY‖_F: T = I − ZY reuses the scratch matrix.
        try backend.scale(identity, alpha: 1, y: t)
        try backend.matmul(z, transposeA: false, y, transposeB: false, c: t, alpha: -1, beta: 1)
        let previous = residual
        residual = try frobenius(t, on: backend) / Double(d).squareRoot()
        if residual < tolerance { break }
        // At large d float32 rounding puts a floor under the residual above `tolerance`
        // (9e-5 at d = 2048): once it is small and five more iterations gain under 10%,
        // further ones only cost time (they would run to maxIterations).
        if residual < 1e-3 && residual > 0.9 * previous { break }
      }
    }
    // Tr(Y)·√‖A‖ with the trace on the device: Σ (Y ⊙ I).
    try backend.mul(y, identity, y: t)
    let trace = try backend.makeTensor([1])
    try backend.reduce_sum(t, y: trace, alpha: 1)
    return TraceResult(
      trace: Double(try backend.read(trace)[0]) * norm.squareRoot(), residual: residual, iterations: iterations)
  }

  /// ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2 Tr((Σ₁Σ₂)^½), all on the device.
  public static func distance(
    mean1: Tensor, covariance1: Tensor, mean2: Tensor, covariance2: Tensor, on backend: Backend
  ) throws -> (distance: Double, trace: TraceResult) {
    let d = mean1.count
    let diff = try backend.makeTensor([d])
    try backend.scale(mean2, alpha: -1, y: diff)
    try backend.add(mean1, diff, y: diff)
    let meanTerm = try squaredNorm(diff, on: backend)
    let identity = try backend.makeTensor([d, d], values: (0..<(d * d)).map { $0 % (d + 1) == 0 ? 1 : 0 })
    func trace(_ m: Tensor) throws -> Double {
      let masked = try backend.makeTensor([d, d])
      try backend.mul(m, identity, y: masked)
      let s = try backend.makeTensor([1])
      try backend.reduce_sum(masked, y: s, alpha: 1)
      return Double(try backend.read(s)[0])
    }
    let root = try traceSqrtProduct(covariance1, covariance2, on: backend)
    return (meanTerm + (try trace(covariance1)) + (try trace(covariance2)) - 2 * root.trace, root)
  }

  static func squaredNorm(_ x: Tensor, on backend: Backend) throws -> Double {
    let sq = try backend.makeTensor(x.shape)
    try backend.activation_fwd(.square, x: x, y: sq)
    let s = try backend.makeTensor([1])
    try backend.reduce_sum(sq, y: s, alpha: 1)
    return Double(try backend.read(s)[0])
  }

  static func frobenius(_ x: Tensor, on backend: Backend) throws -> Double {
    try squaredNorm(x, on: backend).squareRoot()
  }
}
