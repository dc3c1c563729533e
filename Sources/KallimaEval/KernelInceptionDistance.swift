import Foundation
import KallimaCore

/// The Kernel Inception Distance (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018):
/// the squared maximum mean discrepancy between real and generated features under the cubic
/// polynomial kernel k(x, y) = (x·y/d + 1)³, estimated without bias on `subsets` random pairs
/// of subsets of `subsetSize` rows each; the result is the mean and the standard deviation
/// (divisor = number of subsets, numpy's default) of the subset estimates, as torch-fidelity's
/// `kid_features_to_metric` (100 subsets of 1000 by default).
///
/// The kernel matrices are GEMMs on the device; only their off-diagonal row sums come back,
/// and they are added up on the host in Double.
///
/// Subsets: for subset s, the rows of the real set are the first `subsetSize` positions of
/// epoch s of a `DataOrder` permutation (a keyed Feistel permutation, the project's data
/// shuffle), keyed by a Philox block of `seed`; the fake set uses another word of the same
/// block. So each subset is drawn without replacement, subsets are independent draws as in
/// torch-fidelity's `np.random.choice(n, m, replace=False)`, the gather runs on the device
/// (`gather_images`, nothing uploaded), and the same seed gives the same subsets on every
/// backend. The draws cannot match numpy's generator, so only the MMD² of one subset pair
/// (`mmdSquared`) is comparable with torch-fidelity number for number.
public struct KernelInceptionDistance: CustomStringConvertible, Sendable {
  /// Mean of the subset MMD² estimates: the KID.
  public var mean: Double
  /// Standard deviation of the subset estimates (divisor = number of subsets).
  public var standardDeviation: Double
  /// The unbiased MMD² of each subset pair, in order.
  public var subsetValues: [Double]
  public var subsetSize: Int
  public var realCount: Int
  public var fakeCount: Int

  public var subsets: Int { subsetValues.count }

  public init(
    mean: Double, standardDeviation: Double, subsetValues: [Double], subsetSize: Int, realCount: Int, fakeCount: Int
  ) {
    self.mean = mean
    self.standardDeviation = standardDeviation
    self.subsetValues = subsetValues
    self.subsetSize = subsetSize
    self.realCount = realCount
    self.fakeCount = fakeCount
  }

  /// E.g. "KID 0.01234 ± 0.00056 (100 subsets of 1000; 5000 real, 5000 fake)".
  public var description: String {
    String(
      format: "KID %.5f ± %.5f (%d subsets of %d; %d real, %d fake)", mean, standardDeviation, subsets, subsetSize,
      realCount, fakeCount)
  }

  static let metric = "KID"

  /// KID between `real` [N_real, d] and `fake` [N_fake, d] features.
  ///
  /// - Parameters:
  ///   - subsets: number of subset pairs (torch-fidelity: 100).
  ///   - subsetSize: rows per subset, at most min(N_real, N_fake) and at least 2; nil takes
  ///     min(1000, N_real, N_fake) (torch-fidelity: 1000, and an error when a set is smaller).
  ///   - seed: keys the subset draws; the same seed gives the same subsets on every backend.
  ///
  /// Host traffic: the per-subset off-diagonal row sums, (2·m + m) floats per subset for
  /// m = subsetSize, stay on the device until the end and come back in one `readWide`
  /// (2 blocking reads, one upload of the same size): 1.2 MB each way for 100 subsets of 1000.
  public static func compute(
    real: Tensor, fake: Tensor, on backend: Backend, subsets: Int = 100, subsetSize: Int? = nil, seed: UInt64 = 0
  ) throws -> KernelInceptionDistance {
    let (nReal, d) = try PairwiseDistances.matrix(
      real, role: "real", metric: metric, minRows: 2, why: "the unbiased estimate needs at least 2 per subset")
    let (nFake, _) = try PairwiseDistances.matrix(
      fake, role: "fake", metric: metric, minRows: 2, why: "the unbiased estimate needs at least 2 per subset")
    try PairwiseDistances.sameWidth(real, fake, roles: ("real", "fake"), metric: metric)
    let m = subsetSize ?? min(1000, nReal, nFake)
    guard m >= 2, m <= min(nReal, nFake) else {
      throw KallimaError.invalidArgument(
        op: metric,
        message: "subset size \(m) must lie in 2...\(min(nReal, nFake)) for real features \(real.shape) and fake features \(fake.shape): subsets are drawn without replacement from each set")
    }
    guard subsets >= 1 else {
      throw KallimaError.invalidArgument(op: metric, message: "need at least 1 subset, got \(subsets)")
    }
    let (realOrder, fakeOrder) = orders(realCount: nReal, fakeCount: nFake, seed: seed)
    let workspace = try Workspace(m: m, n: m, d: d, slots: subsets, on: backend)
    // The sources seen as images [N, 1, 1, d]: gather_images copies whole rows.
    let realImages = try real.reshaped([nReal, 1, 1, d])
    let fakeImages = try fake.reshaped([nFake, 1, 1, d])
    let x = try backend.makeTensor([m, d])
    let y = try backend.makeTensor([m, d])
    for s in 0..<subsets {
      try backend.gather_images(
        source: realImages, y: x.reshaped([m, 1, 1, d]), order: realOrder, position: UInt64(s) * UInt64(nReal),
        flip: false)
      try backend.gather_images(
        source: fakeImages, y: y.reshaped([m, 1, 1, d]), order: fakeOrder, position: UInt64(s) * UInt64(nFake),
        flip: false)
      try workspace.enqueue(x, y, slot: s)
    }
    let values = try workspace.results()
    let mean = values.reduce(0, +) / Double(subsets)
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(subsets)
    return KernelInceptionDistance(
      mean: mean, standardDeviation: variance.squareRoot(), subsetValues: values, subsetSize: m, realCount: nReal,
      fakeCount: nFake)
  }

  /// The unbiased MMD² between the rows of `x` [m, d] and `y` [n, d] under
  /// k(a, b) = (a·b/d + 1)³:
  ///   Σ_{i≠j} k(x_i, x_j)/(m(m−1)) + Σ_{i≠j} k(y_i, y_j)/(n(n−1)) − 2 Σ_{i,j} k(x_i, y_j)/(mn),
  /// which for m = n is torch-fidelity's `mmd2(..., mmd_est="unbiased")`. It can be slightly
  /// negative when the two sets come from the same distribution.
  public static func mmdSquared(_ x: Tensor, _ y: Tensor, on backend: Backend) throws -> Double {
    let (m, d) = try PairwiseDistances.matrix(
      x, role: "x", metric: "MMD²", minRows: 2, why: "the unbiased estimate needs at least 2 rows per set")
    let (n, _) = try PairwiseDistances.matrix(
      y, role: "y", metric: "MMD²", minRows: 2, why: "the unbiased estimate needs at least 2 rows per set")
    try PairwiseDistances.sameWidth(x, y, roles: ("x", "y"), metric: "MMD²")
    let workspace = try Workspace(m: m, n: n, d: d, slots: 1, on: backend)
    try workspace.enqueue(x, y, slot: 0)
    return try workspace.results()[0]
  }

  /// The dataset rows of subset `subset` of a set of `count` features, in gather order: what
  /// `compute` draws for the real set (`fake: false`) or the fake set (`fake: true`) with
  /// `seed`, `realCount` and `fakeCount`. For tests and for reproducing a subset elsewhere.
  public static func subsetRows(
    subset: Int, size: Int, realCount: Int, fakeCount: Int, seed: UInt64, fake: Bool
  ) -> [Int] {
    let (realOrder, fakeOrder) = orders(realCount: realCount, fakeCount: fakeCount, seed: seed)
    let (order, count) = fake ? (fakeOrder, fakeCount) : (realOrder, realCount)
    let start = UInt64(subset) * UInt64(count)
    return (0..<size).map { order.index(start + UInt64($0)) }
  }

  /// The two permutation keys: words of Philox block 0 under `seed`.
  static func orders(realCount: Int, fakeCount: Int, seed: UInt64) -> (real: DataOrder, fake: DataOrder) {
    let b = Philox.block(seed: seed, counter: 0)
    return (
      DataOrder(seed: UInt64(b.0) | UInt64(b.1) << 32, count: realCount),
      DataOrder(seed: UInt64(b.2) | UInt64(b.3) << 32, count: fakeCount)
    )
  }

  /// Device buffers for MMD² of subset pairs x [m, d], y [n, d], and a result row that keeps
  /// every pair's sums on the device until `results`.
  ///
  /// The kernel is evaluated as K = (A·Bᵀ + d)³ = d³·k: fill with d (exact in float32), GEMM
  /// with beta 1, square, multiply. Folding 1/d into the GEMM's alpha would round it to float32
  /// for most d; the d³ is divided out on the host in Double instead. The diagonals of K_XX
  /// and K_YY come from the row norms, (‖x_i‖² + d)³, and a GEMV with beta −1 turns them into
  /// off-diagonal row sums in one launch: r = K·1 − diag.
  final class Workspace {
    let backend: Backend
    let (m, n, d): (Int, Int, Int)
    let kxx: Tensor, kyy: Tensor, kxy: Tensor
    let scratch: DeviceBuffer
    let onesM: Tensor, onesN: Tensor, onesD: Tensor
    let squaresX: Tensor, squaresY: Tensor
    let rowsXX: Tensor, rowsYY: Tensor, rowsXY: Tensor
    /// [1, slots · (2m + n)]: per slot the off-diagonal row sums of K_XX, of K_YY, and the
    /// row sums of K_XY.
    let sums: Tensor
    let slots: Int

    init(m: Int, n: Int, d: Int, slots: Int, on backend: Backend) throws {
      self.backend = backend
      (self.m, self.n, self.d) = (m, n, d)
      self.slots = slots
      kxx = try backend.makeTensor([m, m])
      kyy = try backend.makeTensor([n, n])
      kxy = try backend.makeTensor([m, n])
      scratch = try backend.makeBuffer(count: max(m * m, n * n, m * n, 1))
      onesM = try PairwiseDistances.ones([m, 1], on: backend)
      onesN = try PairwiseDistances.ones([n, 1], on: backend)
      onesD = try PairwiseDistances.ones([d, 1], on: backend)
      squaresX = try backend.makeTensor([m, d])
      squaresY = try backend.makeTensor([n, d])
      rowsXX = try backend.makeTensor([m, 1])
      rowsYY = try backend.makeTensor([n, 1])
      rowsXY = try backend.makeTensor([m, 1])
      sums = try backend.makeTensor([1, slots * (2 * m + n)])
    }

    /// k ← k³ elementwise, through the scratch buffer.
    private func cube(_ k: Tensor) throws {
      let squares = Tensor(shape: k.shape, buffer: scratch)
      try backend.activation_fwd(.square, x: k, y: squares)
      try backend.mul(squares, k, y: k)
    }

    /// K = (A·Bᵀ + d)³.
    private func kernel(_ a: Tensor, _ b: Tensor, into k: Tensor) throws {
      try backend.fill(k, value: Float(d))
      try backend.matmul(a, transposeA: false, b, transposeB: true, c: k, alpha: 1, beta: 1)
      try cube(k)
    }

    /// rows ← Σ_{j≠i} K[i, j] for a square kernel K of the rows of a.
    private func offDiagonalRowSums(_ k: Tensor, of a: Tensor, squares: Tensor, ones: Tensor, into rows: Tensor) throws {
      try backend.activation_fwd(.square, x: a, y: squares)
      try backend.fill(rows, value: Float(d))
      try backend.matmul(squares, transposeA: false, onesD, transposeB: false, c: rows, alpha: 1, beta: 1)
      try cube(rows)
      try backend.matmul(k, transposeA: false, ones, transposeB: false, c: rows, alpha: 1, beta: -1)
    }

    /// Enqueues the sums of one subset pair into `slot`.
    func enqueue(_ x: Tensor, _ y: Tensor, slot: Int) throws {
      let base = slot * (2 * m + n)
      try kernel(x, x, into: kxx)
      try offDiagonalRowSums(kxx, of: x, squares: squaresX, ones: onesM, into: rowsXX)
      try kernel(y, y, into: kyy)
      try offDiagonalRowSums(kyy, of: y, squares: squaresY, ones: onesN, into: rowsYY)
      try kernel(x, y, into: kxy)
      try backend.matmul(kxy, transposeA: false, onesN, transposeB: false, c: rowsXY, alpha: 1, beta: 0)
      for (rows, offset) in [(rowsXX, 0), (rowsYY, m), (rowsXY, m + n)] {
        try backend.copy_channels(
          x: rows.reshaped([1, rows.count]), xStart: 0, y: sums, yStart: base + offset, count: rows.count)
      }
    }

    /// Reads every slot's sums and returns each slot's MMD², adding up in Double.
    func results() throws -> [Double] {
      let all = try PairwiseDistances.readWide(sums, on: backend)
      let (md, nd) = (Double(m), Double(n))
      let cube = Double(d) * Double(d) * Double(d)
      return (0..<slots).map { slot in
        let base = slot * (2 * m + n)
        let xx = all[base..<(base + m)].reduce(0, +)
        let yy = all[(base + m)..<(base + m + n)].reduce(0, +)
        let xy = all[(base + m + n)..<(base + 2 * m + n)].reduce(0, +)
        return (xx / (md * (md - 1)) + yy / (nd * (nd - 1)) - 2 * xy / (md * nd)) / cube
      }
    }
  }
}
