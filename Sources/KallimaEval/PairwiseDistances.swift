import KallimaCore

/// Device building blocks shared by the metrics on feature matrices [N, d] (one row per
/// image): shape checks, row norms, row slices, centring, a read at the backend's own
/// precision, and squared Euclidean distances between two sets, computed block by block.
///
/// Everything is made of the primitive op set (`matmul`, `add_channel`, `copy_channels`, ...),
/// so it runs unchanged on the CPU reference and on OpenCL.
public enum PairwiseDistances {
  /// Rows of the distance matrix computed per block: 1024 rows against 10,000 columns is a
  /// 40 MB block, so memory stays bounded however many features there are.
  public static let defaultBlockRows = 1024

  /// Checks that `features` is a matrix [N, d] with N >= `minRows`, and returns (N, d).
  static func matrix(
    _ features: Tensor, role: String, metric: String, minRows: Int, why: String
  ) throws -> (rows: Int, dims: Int) {
    guard features.shape.rank == 2, features.shape[1] >= 1 else {
      throw KallimaError.shapeMismatch(
        op: metric, message: "\(role) features must be a matrix [N, d] (one row per image), got \(features.shape)")
    }
    guard features.shape[0] >= minRows else {
      throw KallimaError.invalidArgument(
        op: metric, message: "\(role) features \(features.shape) have \(features.shape[0]) rows; \(why)")
    }
    return (features.shape[0], features.shape[1])
  }

  /// Checks that two feature sets have the same width d.
  static func sameWidth(_ a: Tensor, _ b: Tensor, roles: (String, String), metric: String) throws {
    guard a.shape[1] == b.shape[1] else {
      throw KallimaError.shapeMismatch(
        op: metric,
        message: "\(roles.0) features \(a.shape) and \(roles.1) features \(b.shape) have different widths d; extract both with the same feature layer")
    }
  }

  /// A tensor of ones.
  static func ones(_ shape: Shape, on backend: Backend) throws -> Tensor {
    let t = try backend.makeTensor(shape)
    try backend.fill(t, value: 1)
    return t
  }

  /// ‖x_i‖² of every row of `x` [N, d], as a column [N, 1]: squares, then a GEMV with ones.
  static func rowSquaredNorms(_ x: Tensor, on backend: Backend) throws -> Tensor {
    let (n, d) = (x.shape[0], x.shape[1])
    let squares = try backend.makeTensor([n, d])
    try backend.activation_fwd(.square, x: x, y: squares)
    let norms = try backend.makeTensor([n, 1])
    try backend.matmul(squares, transposeA: false, try ones([d, 1], on: backend), transposeB: false, c: norms, alpha: 1, beta: 0)
    return norms
  }

  /// Copies rows `start ..< start + y.shape[0]` of `x` [N, d] into `y` [rows, d] (one
  /// `copy_channels` over the matrices seen as single rows of N·d values).
  static func copyRows(_ x: Tensor, start: Int, into y: Tensor, on backend: Backend) throws {
    let d = x.shape[1]
    try backend.copy_channels(
      x: x.reshaped([1, x.count]), xStart: start * d, y: y.reshaped([1, y.count]), yStart: 0, count: y.count)
  }

  /// `features` [N, d] minus `mean` [d] in every row, into a new tensor.
  static func subtractingRowVector(_ features: Tensor, _ mean: Tensor, on backend: Backend) throws -> Tensor {
    let negated = try backend.makeTensor(mean.shape)
    try backend.scale(mean, alpha: -1, y: negated)
    let centred = try backend.makeTensor(features.shape)
    try backend.add_channel(features, bias: negated, y: centred)
    return centred
  }

  /// The mean row [d] of `features` [N, d].
  static func meanRow(_ features: Tensor, on backend: Backend) throws -> Tensor {
    let mean = try backend.makeTensor([features.shape[1]])
    try backend.channel_sum(features, y: mean)
    try backend.scale(mean, alpha: 1 / Float(features.shape[0]), y: mean)
    return mean
  }

  /// Reads `t` at the precision the backend stores it in: the float32 `read`, plus the
  /// remainder v − Float(v) computed by the backend itself and read back. On a float32
  /// device the remainder is exactly zero; on the Double CPU reference it restores about
  /// 48 bits, so results built from a handful of reductions can be checked against Double
  /// references at 1e-9 without a Double read in the `Backend` protocol. Costs one more
  /// write and read of the same size: use it for small results, not for bulk data.
  static func readWide(_ t: Tensor, on backend: Backend) throws -> [Double] {
    let high = try backend.read(t)
    let rest = try backend.makeTensor(t.shape, values: high)
    try backend.scale(rest, alpha: -1, y: rest)
    try backend.add(t, rest, y: rest)
    let low = try backend.read(rest)
    return zip(high, low).map { Double($0) + Double($1) }
  }

  /// Squared Euclidean distances ‖a_i − b_j‖² = ‖a_i‖² + ‖b_j‖² − 2 a_i·b_j between every
  /// row of `a` [N, d] and every row of `b` [M, d], computed on the device `blockRows` rows
  /// of `a` at a time and handed to `body(start, rows, block)` as a row-major host block
  /// [rows, M] for rows `start ..< start + rows`.
  ///
  /// Per block: a row copy, one GEMM (−2·A_block·Bᵀ), `add_channel` for ‖b_j‖² and a rank-1
  /// GEMM for ‖a_i‖². The next block is enqueued before the current one is read, so a device
  /// that runs asynchronously computes while the host scans. Host traffic: N·M floats read
  /// in ⌈N / blockRows⌉ blocking reads; device memory: two blocks of blockRows × M floats.
  ///
  /// Values are not clamped: float rounding can make a distance that should be zero (a row
  /// with itself, or a duplicate) slightly negative, and callers clamp at zero as
  /// Kynkäänniemi et al.'s reference does. Centring both sets on a common mean beforehand
  /// shrinks the norms and with them the cancellation error.
  public static func forEachBlock(
    rows a: Tensor, columns b: Tensor, on backend: Backend, blockRows: Int = defaultBlockRows,
    _ body: (_ start: Int, _ rows: Int, _ block: [Float]) throws -> Void
  ) throws {
    let (n, d) = try matrix(a, role: "row", metric: "pairwise distances", minRows: 1, why: "need at least one row")
    let (m, _) = try matrix(b, role: "column", metric: "pairwise distances", minRows: 1, why: "need at least one row")
    try sameWidth(a, b, roles: ("row", "column"), metric: "pairwise distances")
    guard blockRows >= 1 else {
      throw KallimaError.invalidArgument(op: "pairwise distances", message: "blockRows must be at least 1, got \(blockRows)")
    }
    let rowsPerBlock = min(blockRows, n)
    let normsA = try rowSquaredNorms(a, on: backend)
    let normsB = try rowSquaredNorms(b, on: backend).reshaped([m])
    let onesRow = try ones([1, m], on: backend)
    // Two slots of full-size buffers; a short last block uses views with fewer rows.
    let slots = try (0..<2).map { _ in
      (
        features: try backend.makeBuffer(count: rowsPerBlock * d),
        norms: try backend.makeBuffer(count: rowsPerBlock),
        distances: try backend.makeBuffer(count: rowsPerBlock * m)
      )
    }
    let starts = Array(stride(from: 0, to: n, by: rowsPerBlock))

    func enqueue(_ index: Int) throws -> Tensor {
      let start = starts[index]
      let rows = min(rowsPerBlock, n - start)
      let slot = slots[index % 2]
      let block = Tensor(shape: [rows, d], buffer: slot.features)
      let blockNorms = Tensor(shape: [rows, 1], buffer: slot.norms)
      let distances = Tensor(shape: [rows, m], buffer: slot.distances)
      try copyRows(a, start: start, into: block, on: backend)
      try copyRows(normsA, start: start, into: blockNorms, on: backend)
      try backend.matmul(block, transposeA: false, b, transposeB: true, c: distances, alpha: -2, beta: 0)
      try backend.add_channel(distances, bias: normsB, y: distances)
      try backend.matmul(blockNorms, transposeA: false, onesRow, transposeB: false, c: distances, alpha: 1, beta: 1)
      return distances
    }

    var pending = try enqueue(0)
    for index in starts.indices {
      let current = pending
      if index + 1 < starts.count { pending = try enqueue(index + 1) }
      try body(starts[index], current.shape[0], try backend.read(current))
    }
  }
}
