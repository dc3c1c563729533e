import Foundation
import KallimaCore

/// The Inception Score (Salimans et al., "Improved techniques for training GANs", NeurIPS
/// 2016): IS = exp(E_x KL(p(y|x) ‖ p(y))) over a classifier's predictions for generated
/// images, high when each image is confidently one class and the classes are spread evenly.
/// It lies between 1 (every prediction the same, or every prediction uniform) and C.
///
/// Computed as torch-fidelity's `isc_features_to_metric` and the original improved-GAN code:
/// softmax of the logits (in Double, through log-softmax), the rows cut into `splits`
/// consecutive chunks [i·N/S, (i+1)·N/S) with integer division (so when S does not divide N
/// the chunks differ in size by one), per chunk p(y) = the chunk's mean prediction and
/// score = exp(mean over the chunk of Σ_c p(c|x) (log p(c|x) − log p(c))); the result is the
/// mean and the standard deviation (divisor S, numpy's default) of the chunk scores.
///
/// Difference from torch-fidelity: it first shuffles the rows with numpy's
/// RandomState(2020).permutation(N), which cannot be reproduced here; Kallima keeps the
/// rows in order, as the original code did. Samples drawn from a generator are already in
/// random order, so the two agree in distribution; to compare numbers exactly, feed
/// torch-fidelity's shuffled logits. Terms with p(c|x) = 0 (an underflowed softmax) count as
/// 0, their limit, where torch-fidelity would produce NaN.
///
/// There is no heavy part: O(N·C) work with no GEMM, so it runs on the host in Double.
public struct InceptionScore: CustomStringConvertible, Sendable {
  /// Mean of the split scores.
  public var mean: Double
  /// Standard deviation of the split scores (divisor = number of splits).
  public var standardDeviation: Double
  /// exp(mean KL) of each split, in order.
  public var splitScores: [Double]
  /// Number of images (rows of the logits).
  public var count: Int
  public var classes: Int

  public var splits: Int { splitScores.count }

  public init(mean: Double, standardDeviation: Double, splitScores: [Double], count: Int, classes: Int) {
    self.mean = mean
    self.standardDeviation = standardDeviation
    self.splitScores = splitScores
    self.count = count
    self.classes = classes
  }

  /// E.g. "IS 3.21 ± 0.05 (10 splits, 5000 images)".
  public var description: String {
    String(format: "IS %.2f ± %.2f (%d splits, %d images)", mean, standardDeviation, splits, count)
  }

  /// The score of logits [N, C] held on a backend: one read of N·C floats to the host.
  public static func compute(logits: Tensor, on backend: Backend, splits: Int = 10) throws -> InceptionScore {
    guard logits.shape.rank == 2 else {
      throw KallimaError.shapeMismatch(
        op: "Inception Score", message: "logits must be a matrix [N, C] (one row of class logits per image), got \(logits.shape)")
    }
    return try compute(logits: try backend.read(logits), classes: logits.shape[1], splits: splits)
  }

  /// The score of row-major logits [N, C] on the host (N = logits.count / classes).
  public static func compute(logits: [Float], classes: Int, splits: Int = 10) throws -> InceptionScore {
    try score(logits, classes: classes, splits: splits)
  }

  /// The score of row-major logits [N, C] on the host (N = logits.count / classes).
  public static func compute(logits: [Double], classes: Int, splits: Int = 10) throws -> InceptionScore {
    try score(logits, classes: classes, splits: splits)
  }

  static func score<T: BinaryFloatingPoint>(_ logits: [T], classes: Int, splits: Int) throws -> InceptionScore {
    let metric = "Inception Score"
    guard classes >= 1, logits.count % classes == 0 else {
      throw KallimaError.shapeMismatch(
        op: metric, message: "\(logits.count) logits do not form rows of \(classes) classes; pass logits [N, C] with C = the classifier's outputs")
    }
    let n = logits.count / classes
    guard splits >= 1, n >= splits else {
      throw KallimaError.invalidArgument(
        op: metric,
        message: "logits [\(n), \(classes)] cannot be cut into \(splits) non-empty splits; need at least one image per split (the usual protocol: 50,000 images in 10 splits)")
    }
    if let bad = logits.firstIndex(where: { !$0.isFinite }) {
      throw KallimaError.invalidArgument(
        op: metric, message: "logit \(bad % classes) of image \(bad / classes) is \(logits[bad]); the classifier's output must be finite")
    }

    // log p(c|x) of one row by log-softmax, shifted by the row maximum so exp cannot overflow.
    var logP = [Double](repeating: 0, count: classes)
    func logSoftmax(row: Int) {
      let base = row * classes
      var top = -Double.infinity
      for c in 0..<classes { top = max(top, Double(logits[base + c])) }
      var total = 0.0
      for c in 0..<classes {
        logP[c] = Double(logits[base + c]) - top
        total += exp(logP[c])
      }
      let logTotal = log(total)
      for c in 0..<classes { logP[c] -= logTotal }
    }

    var scores: [Double] = []
    var marginal = [Double](repeating: 0, count: classes)
    for split in 0..<splits {
      let rows = (split * n / splits)..<((split + 1) * n / splits)
      // p(y) of the split (first pass), then the mean KL divergence to it (second pass).
      for c in 0..<classes { marginal[c] = 0 }
      for row in rows {
        logSoftmax(row: row)
        for c in 0..<classes { marginal[c] += exp(logP[c]) }
      }
      let logMarginal = marginal.map { log($0 / Double(rows.count)) }
      var klSum = 0.0
      for row in rows {
        logSoftmax(row: row)
        var kl = 0.0
        for c in 0..<classes {
          let p = exp(logP[c])
          if p > 0 { kl += p * (logP[c] - logMarginal[c]) }
        }
        klSum += kl
      }
      scores.append(exp(klSum / Double(rows.count)))
    }
    let mean = scores.reduce(0, +) / Double(splits)
    let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(splits)
    return InceptionScore(
      mean: mean, standardDeviation: variance.squareRoot(), splitScores: scores, count: n, classes: classes)
  }
}
