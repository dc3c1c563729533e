import CLapack
import Foundation
import KallimaCore

/// Mean and covariance of a set of feature vectors (Inception pool3 features for FID):
/// pytorch-fid's `mu` and `sigma`, in Double on the host.
///
/// The covariance uses divisor N − 1, as numpy.cov and pytorch-fid. With N ≤ d samples of
/// d features it has rank at most N − 1 < d, so it is singular; `FrechetDistance` warns then.
public struct FeatureStatistics: Equatable, Sendable {
  /// Number of features d.
  public let dimension: Int
  /// Mean feature vector [d].
  public let mean: [Double]
  /// Covariance [d, d], row-major and symmetric.
  public let covariance: [Double]
  /// Number of samples N the statistics come from, or nil when unknown (a pytorch-fid
  /// .npz file stores only mu and sigma).
  public let count: Int?

  /// Statistics given directly. Throws when the sizes disagree, a value is not finite,
  /// or the covariance is not symmetric (up to rounding: |Σᵢⱼ − Σⱼᵢ| ≤ 1e-9·(|Σᵢᵢ| + |Σⱼⱼ|)).
  public init(mean: [Double], covariance: [Double], count: Int? = nil) throws {
    let d = mean.count
    let op = "feature statistics"
    guard d > 0 else { throw KallimaError.invalidArgument(op: op, message: "the mean is empty; need d >= 1 features") }
    guard covariance.count == d * d else {
      throw KallimaError.shapeMismatch(
        op: op, message: "mean has \(d) features, so the covariance needs \(d)x\(d) = \(d * d) values, got \(covariance.count)")
    }
    if let count, count < 2 {
      throw KallimaError.invalidArgument(op: op, message: "a covariance needs at least 2 samples, got count \(count)")
    }
    if let i = mean.firstIndex(where: { !$0.isFinite }) {
      throw KallimaError.invalidArgument(op: op, message: "mean[\(i)] is \(mean[i]); the features contain NaN or Inf")
    }
    if let i = covariance.firstIndex(where: { !$0.isFinite }) {
      throw KallimaError.invalidArgument(
        op: op, message: "covariance[\(i / d), \(i % d)] is \(covariance[i]); the features contain NaN or Inf")
    }
    let asymmetric: (Int, Int)? = covariance.withUnsafeBufferPointer { c in
      for i in 0..<d {
        for j in (i + 1)..<d where abs(c[i * d + j] - c[j * d + i]) > 1e-9 * (abs(c[i * d + i]) + abs(c[j * d + j])) {
          return (i, j)
        }
      }
      return nil
    }
    if let (i, j) = asymmetric {
      throw KallimaError.invalidArgument(
        op: op,
        message: "the covariance is not symmetric: [\(i), \(j)] = \(covariance[i * d + j]) but [\(j), \(i)] = "
          + "\(covariance[j * d + i]); check the row-major [d, d] layout")
    }
    self.dimension = d
    self.mean = mean
    self.covariance = covariance
    self.count = count
  }

  /// Statistics of the rows of `features` [N, d] (row-major float32, as a feature
  /// extractor writes them), computed in Double: the mean by summation, the covariance of
  /// the centred rows by one BLAS dsyrk (N·d² multiply-adds; 0.5 s for N = 3000, d = 2048).
  public init(features: [Float], count n: Int, dimension d: Int) throws {
    let op = "feature statistics"
    guard n >= 2, d >= 1 else {
      throw KallimaError.invalidArgument(op: op, message: "need features [N, d] with N >= 2 and d >= 1, got [\(n), \(d)]")
    }
    guard features.count == n * d else {
      throw KallimaError.shapeMismatch(op: op, message: "features [\(n), \(d)] need \(n * d) values, got \(features.count)")
    }
    var mean = [Double](repeating: 0, count: d)
    var centred = [Double](repeating: 0, count: n * d)
    features.withUnsafeBufferPointer { x in
      mean.withUnsafeMutableBufferPointer { mu in
        for i in 0..<n {
          for j in 0..<d { mu[j] += Double(x[i * d + j]) }
        }
        for j in 0..<d { mu[j] /= Double(n) }
        centred.withUnsafeMutableBufferPointer { c in
          for i in 0..<n {
            for j in 0..<d { c[i * d + j] = Double(x[i * d + j]) - mu[j] }
          }
        }
      }
    }
    // Row-major [N, d] is column-major Xᵀ [d, N]: dsyrk("N") gives Xᵀ X, the upper triangle
    // in column-major order, which is the lower one in row-major order.
    var covariance = [Double](repeating: 0, count: d * d)
    var (dd, nn) = (Int32(d), Int32(n))
    var (alpha, beta) = (1 / Double(n - 1), 0.0)
    centred.withUnsafeBufferPointer { a in
      covariance.withUnsafeMutableBufferPointer { c in
        dsyrk_("U", "N", &dd, &nn, &alpha, a.baseAddress, &dd, &beta, c.baseAddress, &dd, 1, 1)
        for i in 0..<d {
          for j in (i + 1)..<d { c[i * d + j] = c[j * d + i] }
        }
      }
    }
    if let i = mean.firstIndex(where: { !$0.isFinite }) {
      throw KallimaError.invalidArgument(op: op, message: "feature column \(i) contains NaN or Inf; check the feature extractor")
    }
    try self.init(mean: mean, covariance: covariance, count: n)
  }

  /// Statistics left on a device by `DeviceFrechet.statistics` (float32), read back and
  /// widened to Double. `count` is the number of feature rows they were computed from.
  public init(mean: Tensor, covariance: Tensor, count: Int, from backend: Backend) throws {
    let d = mean.count
    guard mean.shape.rank == 1, covariance.shape == [d, d] else {
      throw KallimaError.shapeMismatch(
        op: "feature statistics", message: "need mean [d] and covariance [d, d], got \(mean.shape) and \(covariance.shape)")
    }
    let cov = try backend.read(covariance).map(Double.init)
    // float32 GEMM rounding leaves the two triangles a few ulps apart; average them.
    var symmetric = cov
    for i in 0..<d {
      for j in 0..<d { symmetric[i * d + j] = 0.5 * (cov[i * d + j] + cov[j * d + i]) }
    }
    try self.init(mean: try backend.read(mean).map(Double.init), covariance: symmetric, count: count)
  }

  /// Tr(Σ).
  public var trace: Double { (0..<dimension).reduce(0) { $0 + covariance[$1 * dimension + $1] } }

  /// True when the covariance is singular for lack of samples: N ≤ d (rank ≤ N − 1 < d).
  /// False when the count is unknown.
  public var hasTooFewSamples: Bool { count.map { $0 <= dimension } ?? false }
}
