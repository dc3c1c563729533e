import CLapack
import Foundation
import KallimaCore

/// The Fréchet distance between the Gaussians fitted to two feature sets, the FID of
/// Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
/// Equilibrium" (NeurIPS 2017), as pytorch-fid computes it:
///
///     d² = ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2 Tr((Σ₁Σ₂)^½)
///
/// Two paths: the host path in Double (the reference; LAPACK through OpenBLAS) and the
/// device path in float32 (`DeviceFrechet`, matrix products only). `compute` says which
/// one produced a value and what to be wary of.
///
/// Host method. Σ₁Σ₂ is not symmetric, but with Σ₁ = UΛUᵀ (symmetric eigen-decomposition)
/// it is similar to the symmetric positive semi-definite Λ^½ (UᵀΣ₂U) Λ^½, whose
/// eigenvalues λᵢ are those of Σ₁Σ₂; so Tr((Σ₁Σ₂)^½) = Σ √λᵢ. Two symmetric eigen-problems
/// and two products, no general matrix square root: rounding can only push eigenvalues
/// that are truly 0 a little below it, and those are clamped to 0. (scipy.linalg.sqrtm,
/// which pytorch-fid uses, takes the Schur route and returns a complex result for the same
/// reason; pytorch-fid then keeps the real part.)
///
/// Too few samples. With N ≤ d samples a covariance has rank ≤ N − 1 and Σ₁Σ₂ is singular.
/// pytorch-fid retries with 1e-6·I added to both covariances only when sqrtm returns
/// non-finite values; with SciPy ≥ 1.13 it returns finite ones even for N < d and for
/// features of zero variance (checked with SciPy 1.17 in Scripts/make_frechet_fixtures.py),
/// so pytorch-fid's value is that of the unmodified covariances, which `.keep` (the
/// default) reproduces to 2e-7 relative; the offset would move it by 4e-6 to 7e-6
/// relative. `.addToDiagonal(1e-6)` reproduces pytorch-fid's retry branch instead. Either
/// way the result carries a warning: such an FID is biased and not comparable with
/// published numbers.
public enum FrechetDistance {
  /// Where to compute.
  public enum Path {
    /// Double on the host (LAPACK): the reference.
    case host
    /// float32 on a backend (`DeviceFrechet`): Newton–Schulz iterations, matrix products only.
    case device(Backend)
  }

  /// The path a result came from.
  public enum PathUsed: Equatable, Sendable, CustomStringConvertible {
    case host
    /// The backend's name, e.g. "opencl:0:0 pthread-skylake".
    case device(String)

    public var description: String {
      switch self {
      case .host: return "host (Double, LAPACK)"
      case .device(let name): return "device \(name) (float32, Newton–Schulz)"
      }
    }
  }

  /// What to do when Σ₁Σ₂ is singular (too few samples, or features of zero variance).
  public enum SingularCovariance: Equatable, Sendable {
    /// Compute with the covariances as they are: pytorch-fid's value with SciPy ≥ 1.13.
    case keep
    /// Add ε·I to both covariances inside the square root; the traces keep the
    /// unmodified covariances. This is pytorch-fid's retry branch.
    case addToDiagonal(Double)
    /// pytorch-fid's retry branch with its ε = 1e-6.
    public static let pytorchFIDRetry = SingularCovariance.addToDiagonal(1e-6)
  }

  public struct Result: Sendable {
    /// The Fréchet distance d² (FID for Inception features).
    public var value: Double
    /// Where it was computed.
    public var path: PathUsed
    /// What to be wary of, one sentence each; empty when all is well.
    public var warnings: [String]
    /// ‖μ₁ − μ₂‖².
    public var meanTerm: Double
    /// Tr((Σ₁Σ₂)^½), of the offset covariances when `diagonalOffset` > 0.
    public var traceSqrtProduct: Double
    /// ε added to both diagonals inside the square root; 0 when none was.
    public var diagonalOffset: Double
    /// Newton–Schulz iterations and final residual ‖I − ZY‖_F/√d (device path only).
    public var iterations: Int?
    public var residual: Double?
  }

  /// Eigenvalues of the symmetric Λ^½(UᵀΣ₂U)Λ^½ at or below this fraction of the largest
  /// count as zero: Σ₁Σ₂ is then (numerically) singular. Rounding leaves exact zeros near
  /// 1e-15 of the largest; full-rank statistics of Inception-like features sit far above.
  public static let singularThreshold = 1e-10

  /// The Fréchet distance between the distributions `a` and `b` summarise, on `path`.
  /// Throws when the dimensions differ or LAPACK fails; never skips a warning.
  public static func compute(
    _ a: FeatureStatistics, _ b: FeatureStatistics, path: Path = .host, singularCovariance: SingularCovariance = .keep
  ) throws -> Result {
    let d = a.dimension
    guard b.dimension == d else {
      throw KallimaError.shapeMismatch(
        op: "Fréchet distance", message: "statistics of \(d) and \(b.dimension) features cannot be compared; use the same feature extractor for both")
    }
    var epsilon = 0.0
    if case .addToDiagonal(let e) = singularCovariance {
      guard e >= 0, e.isFinite else {
        throw KallimaError.invalidArgument(op: "Fréchet distance", message: "diagonal offset must be finite and >= 0, got \(e)")
      }
      epsilon = e
    }
    var warnings = [(a, "first"), (b, "second")].compactMap { s, label in
      s.hasTooFewSamples ? tooFewSamplesWarning(s, label: label) : nil
    }
    let tooFew = a.hasTooFewSamples || b.hasTooFewSamples
    var meanTerm = 0.0
    for i in 0..<d { meanTerm += (a.mean[i] - b.mean[i]) * (a.mean[i] - b.mean[i]) }
    let traces = a.trace + b.trace

    switch path {
    case .host:
      var offset = tooFew ? epsilon : 0
      var root = try hostTraceSqrtProduct(a.covariance, b.covariance, dimension: d, diagonalOffset: offset)
      if root.nearZeroEigenvalues > 0, !tooFew {
        warnings.append(
          "Σ₁Σ₂ is numerically singular: \(root.nearZeroEigenvalues) of its \(d) eigenvalues are at most "
            + "\(singularThreshold) of the largest. Some features have (almost) no variance, or the statistics come "
            + "from fewer samples than features; the value is still computed but compare it with care.")
        if epsilon > 0 {
          offset = epsilon
          root = try hostTraceSqrtProduct(a.covariance, b.covariance, dimension: d, diagonalOffset: offset)
        }
      }
      if offset > 0 { warnings.append(offsetWarning(offset)) }
      if let negative = root.negativeEigenvalue {
        warnings.append(
          "Σ₁ has eigenvalue \(negative), negative beyond rounding: it is not a covariance matrix. Negative "
            + "eigenvalues were clamped to 0; check where the statistics come from.")
      }
      if let negative = root.negativeProductEigenvalue {
        warnings.append(
          "Σ₁Σ₂ has eigenvalue \(negative), negative beyond rounding: Σ₂ is not a covariance matrix. Negative "
            + "eigenvalues were clamped to 0; check where the statistics come from.")
      }
      return Result(
        value: meanTerm + traces - 2 * root.trace, path: .host, warnings: warnings, meanTerm: meanTerm,
        traceSqrtProduct: root.trace, diagonalOffset: offset, iterations: nil, residual: nil)

    case .device(let backend):
      let offset = tooFew ? epsilon : 0
      func upload(_ s: FeatureStatistics) throws -> (Tensor, Tensor) {
        var cov = s.covariance
        for i in 0..<d { cov[i * d + i] += offset }
        return (
          try backend.makeTensor([d], values: s.mean.map(Float.init)),
          try backend.makeTensor([d, d], values: cov.map(Float.init))
        )
      }
      let (mean1, covariance1) = try upload(a)
      let (mean2, covariance2) = try upload(b)
      let (total, root) = try DeviceFrechet.distance(
        mean1: mean1, covariance1: covariance1, mean2: mean2, covariance2: covariance2, on: backend)
      guard total.isFinite, root.trace.isFinite else {
        // Σ₁Σ₂ with eigenvalues that float32 rounding pushes below 0 (a singular product)
        // makes the iteration diverge.
        throw KallimaError.invalidArgument(
          op: "Fréchet distance (device)",
          message: "Newton–Schulz diverged to \(root.trace) after \(root.iterations) iterations: Σ₁Σ₂ is singular or "
            + "nearly so in float32\(tooFew ? " (fewer samples than features)" : ""). Use path: .host, which handles "
            + "singular covariances.")
      }
      if offset > 0 { warnings.append(offsetWarning(offset)) }
      if !(root.residual < 1e-5) {
        warnings.append(
          "Newton–Schulz stopped after \(root.iterations) iterations at residual \(root.residual) (target 1e-5), "
            + "so Tr((Σ₁Σ₂)^½) is approximate. float32 rounding alone keeps the residual above the target at large d "
            + "(d = 2048: about 1e-4, with the FID still within ~1e-5 relative of the host path), and a singular Σ₁Σ₂ "
            + "(too few samples) converges slowly or not at all; use the host path for reference values.")
      }
      return Result(
        value: total - 2 * Double(d) * offset, path: .device(backend.name), warnings: warnings, meanTerm: meanTerm,
        traceSqrtProduct: root.trace, diagonalOffset: offset, iterations: root.iterations, residual: root.residual)
    }
  }

  static func tooFewSamplesWarning(_ s: FeatureStatistics, label: String) -> String {
    let n = s.count ?? 0
    return "The \(label) statistics come from N = \(n) samples of d = \(s.dimension) features: with N ≤ d the "
      + "covariance has rank at most N − 1 = \(n - 1) and is singular. The distance is still computed (as "
      + "pytorch-fid does), but it is biased and not comparable with published FIDs: FID needs more samples than "
      + "feature dimensions (at least 2048 for Inception pool3 features; published FIDs use 10,000 or 50,000)."
  }

  static func offsetWarning(_ epsilon: Double) -> String {
    "Added \(epsilon)·I to both covariances inside the square root, as pytorch-fid does when the product is "
      + "singular; the traces use the unmodified covariances."
  }

  /// Tr((Σ₁Σ₂)^½) on the host and what the eigenvalues showed.
  public struct HostTrace: Sendable {
    public var trace: Double
    /// Eigenvalues of Σ₁Σ₂ within ± `singularThreshold` of the largest (those further below
    /// 0 are reported by `negativeProductEigenvalue`).
    public var nearZeroEigenvalues: Int
    /// The most negative eigenvalue of Σ₁ when it is negative beyond rounding
    /// (below −1e-9 of the largest), else nil.
    public var negativeEigenvalue: Double?
    /// The same for Σ₁Σ₂, which has none when Σ₂ is positive semi-definite.
    public var negativeProductEigenvalue: Double?
  }

  /// Tr(((Σ₁ + εI)(Σ₂ + εI))^½) for symmetric positive semi-definite [d, d] matrices, in
  /// Double: Σ₁ + εI = UΛUᵀ, then the eigenvalues λᵢ of Λ^½ Uᵀ(Σ₂ + εI)U Λ^½ and Σ √max(λᵢ, 0).
  /// LAPACK dsyevd twice and BLAS dgemm twice: about 3 s at d = 2048 on two cores.
  public static func hostTraceSqrtProduct(
    _ sigma1: [Double], _ sigma2: [Double], dimension d: Int, diagonalOffset epsilon: Double = 0
  ) throws -> HostTrace {
    guard sigma1.count == d * d, sigma2.count == d * d else {
      throw KallimaError.shapeMismatch(
        op: "Fréchet distance", message: "covariances of \(sigma1.count) and \(sigma2.count) values are not both \(d)x\(d)")
    }
    var s1 = sigma1
    var s2 = sigma2
    for i in 0..<d {
      s1[i * d + i] += epsilon
      s2[i * d + i] += epsilon
    }
    // Symmetric matrices read the same in row- and column-major order; everything below is
    // column-major, as LAPACK wants it.
    let (lambda, u) = try symmetricEigen(s1, dimension: d, vectors: true)
    let largest = max(lambda.last ?? 0, 0)
    let mostNegative = lambda.first ?? 0
    let root = lambda.map { max($0, 0).squareRoot() }
    let t = multiply(s2, transposeA: false, u, dimension: d)  // Σ₂U
    var m = multiply(u, transposeA: true, t, dimension: d)  // UᵀΣ₂U
    m.withUnsafeMutableBufferPointer { m in
      for j in 0..<d {
        for i in 0..<j {
          // Scale by Λ^½ on both sides and symmetrise away the rounding of the products.
          let v = 0.5 * (m[j * d + i] + m[i * d + j]) * root[i] * root[j]
          m[j * d + i] = v
          m[i * d + j] = v
        }
        m[j * d + j] *= root[j] * root[j]
      }
    }
    let (eigenvalues, _) = try symmetricEigen(m, dimension: d, vectors: false)
    let top = max(eigenvalues.last ?? 0, 0)
    return HostTrace(
      trace: eigenvalues.reduce(0) { $0 + max($1, 0).squareRoot() },
      nearZeroEigenvalues: eigenvalues.filter { abs($0) <= singularThreshold * top }.count,
      negativeEigenvalue: mostNegative < -1e-9 * largest ? mostNegative : nil,
      negativeProductEigenvalue: (eigenvalues.first ?? 0) < -1e-9 * top ? eigenvalues.first : nil)
  }

  // MARK: LAPACK and BLAS (column-major, Double)

  /// Eigenvalues (ascending) of the symmetric [d, d] matrix `a`, and with `vectors` the
  /// eigenvectors as the columns of a column-major [d, d] matrix (LAPACK dsyevd).
  static func symmetricEigen(_ a: [Double], dimension d: Int, vectors: Bool) throws -> (values: [Double], vectors: [Double]) {
    var matrix = a
    var values = [Double](repeating: 0, count: d)
    var n = Int32(d)
    var info: Int32 = 0
    let jobz = vectors ? "V" : "N"
    // Workspace query, then the decomposition.
    var workSize = 0.0
    var iworkSize: Int32 = 0
    var query: Int32 = -1
    dsyevd_(jobz, "U", &n, &matrix, &n, &values, &workSize, &query, &iworkSize, &query, &info, 1, 1)
    guard info == 0 else { throw lapackError("dsyevd workspace query", info: info) }
    var lwork = Int32(workSize.rounded(.up))
    var liwork = iworkSize
    var work = [Double](repeating: 0, count: Int(lwork))
    var iwork = [Int32](repeating: 0, count: Int(liwork))
    dsyevd_(jobz, "U", &n, &matrix, &n, &values, &work, &lwork, &iwork, &liwork, &info, 1, 1)
    guard info == 0 else { throw lapackError("dsyevd", info: info) }
    return (values, vectors ? matrix : [])
  }

  /// op(A)·B for column-major [d, d] matrices (BLAS dgemm); op(A) = Aᵀ with `transposeA`.
  static func multiply(_ a: [Double], transposeA: Bool, _ b: [Double], dimension d: Int) -> [Double] {
    var c = [Double](repeating: 0, count: d * d)
    var n = Int32(d)
    var (alpha, beta) = (1.0, 0.0)
    dgemm_(transposeA ? "T" : "N", "N", &n, &n, &n, &alpha, a, &n, b, &n, &beta, &c, &n, 1, 1)
    return c
  }

  static func lapackError(_ call: String, info: Int32) -> KallimaError {
    let reason =
      info < 0
      ? "argument \(-info) was invalid (a Kallima bug; please report it)"
      : "the eigenvalue algorithm did not converge (info \(info)); the covariance may hold huge or denormal values"
    return KallimaError.invalidArgument(op: "Fréchet distance (LAPACK \(call))", message: reason)
  }
}
