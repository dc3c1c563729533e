import Foundation
import KallimaCore

/// Improved precision and recall (Kynkäänniemi et al., "Improved precision and recall metric
/// for assessing generative models", NeurIPS 2019). Each set of features is taken as the
/// union of hyperspheres around its samples, each with the radius to the sample's k-th
/// nearest neighbour in its own set (itself excluded; k = 3 in the paper). Precision is the
/// fraction of fake samples inside (‖f − r‖ ≤ radius(r)) at least one real hypersphere:
/// how much of what the generator makes looks real. Recall is the fraction of real samples
/// inside at least one fake hypersphere: how much of the real data the generator covers.
///
/// Semantics follow the authors' code and torch-fidelity's `prc`: radii are the (k+1)-th
/// smallest distance including the zero to itself, the comparison is ≤, negative squared
/// distances from rounding are clamped to zero.
///
/// Pairwise squared distances are GEMMs on the device (`PairwiseDistances.forEachBlock`),
/// in blocks of `blockRows` rows; the k-th smallest per row and the comparisons run on the
/// host over the blocks read back. Both sets are first centred on the mean of the real
/// features (distances do not change; the norms, and the float32 cancellation error in
/// ‖a‖² + ‖b‖² − 2a·b, shrink).
public struct PrecisionRecall: CustomStringConvertible, Sendable {
  public var precision: Double
  public var recall: Double
  /// Neighbourhood size for the radii.
  public var k: Int
  public var realCount: Int
  public var fakeCount: Int

  public init(precision: Double, recall: Double, k: Int, realCount: Int, fakeCount: Int) {
    self.precision = precision
    self.recall = recall
    self.k = k
    self.realCount = realCount
    self.fakeCount = fakeCount
  }

  /// E.g. "precision 0.712, recall 0.534 (k = 3; 10000 real, 10000 fake)".
  public var description: String {
    String(format: "precision %.3f, recall %.3f (k = %d; %d real, %d fake)", precision, recall, k, realCount, fakeCount)
  }

  static let metric = "precision and recall"

  /// Precision and recall of `fake` [N_fake, d] against `real` [N_real, d] features.
  ///
  /// Host traffic: N_real² + N_fake² + N_fake·N_real floats read back, in
  /// ⌈N_real/blockRows⌉ + 2⌈N_fake/blockRows⌉ blocking reads (1.2 GB for 10,000 of each);
  /// nothing uploaded but two rows of ones. Device memory: the two centred sets plus two
  /// blocks of blockRows × max(N_real, N_fake) floats.
  public static func compute(
    real: Tensor, fake: Tensor, on backend: Backend, k: Int = 3,
    blockRows: Int = PairwiseDistances.defaultBlockRows
  ) throws -> PrecisionRecall {
    try checkK(k)
    let (nReal, _) = try PairwiseDistances.matrix(
      real, role: "real", metric: metric, minRows: k + 1, why: neighbourReason(k))
    let (nFake, _) = try PairwiseDistances.matrix(
      fake, role: "fake", metric: metric, minRows: k + 1, why: neighbourReason(k))
    try PairwiseDistances.sameWidth(real, fake, roles: ("real", "fake"), metric: metric)

    let mean = try PairwiseDistances.meanRow(real, on: backend)
    let realCentred = try PairwiseDistances.subtractingRowVector(real, mean, on: backend)
    let fakeCentred = try PairwiseDistances.subtractingRowVector(fake, mean, on: backend)
    let realRadii = try squaredRadii(realCentred, k: k, on: backend, blockRows: blockRows)
    let fakeRadii = try squaredRadii(fakeCentred, k: k, on: backend, blockRows: blockRows)

    // One pass over the fake × real distances serves both: rows for precision, columns for recall.
    var fakeInside = 0
    var realCovered = [Bool](repeating: false, count: nReal)
    try PairwiseDistances.forEachBlock(rows: fakeCentred, columns: realCentred, on: backend, blockRows: blockRows) {
      start, rows, block in
      for i in 0..<rows {
        let fakeRadius = fakeRadii[start + i]
        var inside = false
        let row = i * nReal
        for j in 0..<nReal {
          let distance = max(Double(block[row + j]), 0)
          if distance <= realRadii[j] { inside = true }
          if distance <= fakeRadius { realCovered[j] = true }
        }
        if inside { fakeInside += 1 }
      }
    }
    let covered = realCovered.reduce(0) { $0 + ($1 ? 1 : 0) }
    return PrecisionRecall(
      precision: Double(fakeInside) / Double(nFake), recall: Double(covered) / Double(nReal), k: k,
      realCount: nReal, fakeCount: nFake)
  }

  /// The radius of every row of `features` [N, d]: the Euclidean distance to its k-th nearest
  /// neighbour among the other rows. Host traffic: N² floats read back.
  public static func radii(
    _ features: Tensor, on backend: Backend, k: Int = 3, blockRows: Int = PairwiseDistances.defaultBlockRows
  ) throws -> [Double] {
    try checkK(k)
    _ = try PairwiseDistances.matrix(features, role: "input", metric: metric, minRows: k + 1, why: neighbourReason(k))
    let centred = try PairwiseDistances.subtractingRowVector(
      features, try PairwiseDistances.meanRow(features, on: backend), on: backend)
    return try squaredRadii(centred, k: k, on: backend, blockRows: blockRows).map { $0.squareRoot() }
  }

  /// The squared k-th nearest-neighbour distance of every row, itself excluded by index
  /// (equal to the (k+1)-th smallest including its own zero, duplicates included).
  static func squaredRadii(_ features: Tensor, k: Int, on backend: Backend, blockRows: Int) throws -> [Double] {
    let n = features.shape[0]
    var radii = [Double](repeating: 0, count: n)
    // The k smallest so far, ascending; insertion keeps it sorted (k is small).
    var nearest = [Double](repeating: .infinity, count: k)
    try PairwiseDistances.forEachBlock(rows: features, columns: features, on: backend, blockRows: blockRows) {
      start, rows, block in
      for i in 0..<rows {
        let own = start + i
        for t in 0..<k { nearest[t] = .infinity }
        let row = i * n
        for j in 0..<n where j != own {
          let distance = max(Double(block[row + j]), 0)
          if distance < nearest[k - 1] {
            var t = k - 1
            while t > 0 && nearest[t - 1] > distance {
              nearest[t] = nearest[t - 1]
              t -= 1
            }
            nearest[t] = distance
          }
        }
        radii[own] = nearest[k - 1]
      }
    }
    return radii
  }

  static func checkK(_ k: Int) throws {
    guard k >= 1 else {
      throw KallimaError.invalidArgument(op: metric, message: "the neighbourhood size k must be at least 1, got \(k) (the paper uses 3)")
    }
  }

  static func neighbourReason(_ k: Int) -> String {
    "need at least k + 1 = \(k + 1) so that every sample has a k-th nearest neighbour besides itself (k = \(k))"
  }
}
