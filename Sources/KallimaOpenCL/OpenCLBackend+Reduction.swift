import KallimaCore

/// Reductions over many work-groups, deterministic (Kernels/reduce.h): each reduction row (the
/// whole tensor, a channel, an instance) is cut into splits, one work-group reduces a split
/// into a partial result, and a second pass combines each row's partials in split order. No
/// atomics: a given shape on a given device always adds in the same order.
extension OpenCLBackend {
  /// Workspace slots of the reductions (the convolutions and GEMMs use 0, 1 and 4-7, the norms 2 and 3).
  static let reductionPartialsSlot = 10
  /// Second partials array (M2 of the norm statistics, Σdy·x̂ of their backward).
  static let reductionPartialsSlotB = 11
  /// Per-row losses of softmax cross-entropy before their mean.
  static let rowLossSlot = 12

  /// How `rows` reduction rows of `count` values each are cut into work-groups: `splits`
  /// chunks of `chunk` values per row (the last may be shorter), one work-group each.
  struct ReductionSplit: Equatable {
    let rows: Int
    let splits: Int
    let chunk: Int
    var groups: Int { rows * splits }

    /// A row is cut only into splits of about this many values or more (8 per work-item of
    /// a group of `groupSize`), so that each item's share fills whole float8 loads and group
    /// overheads stay small.
    static func minimumChunk(groupSize: Int) -> Int { 8 * groupSize }

    init(rows: Int, splits: Int, chunk: Int) {
      self.rows = rows
      self.splits = splits
      self.chunk = chunk
    }

    /// Enough splits that rows × splits reaches `targetGroups`, but no more than
    /// ⌈count / minimumChunk⌉; the splits are balanced (chunks are multiples of 8, the last
    /// may be shorter), so with more than one each holds over minimumChunk / 2 values.
    init(rows: Int, count: Int, targetGroups: Int, groupSize: Int) {
      let wanted = max(1, (targetGroups + rows - 1) / rows)
      let minimumChunk = Self.minimumChunk(groupSize: groupSize)
      let most = max(1, (count + minimumChunk - 1) / minimumChunk)
      let chunk = max(8, ((count + min(wanted, most) - 1) / min(wanted, most) + 7) / 8 * 8)
      self.rows = rows
      self.chunk = chunk
      self.splits = max(1, (count + chunk - 1) / chunk)
    }
  }

  /// Work-groups a reduction aims for: four per compute unit, so every unit stays busy
  /// while group sizes stay large (on a 2-core PoCL device, 8).
  var reductionTargetGroups: Int { 4 * max(1, device.computeUnits) }

  func reductionSplit(rows: Int, count: Int) -> ReductionSplit {
    ReductionSplit(rows: rows, count: count, targetGroups: reductionTargetGroups, groupSize: reduceGroupSize)
  }

  /// Whether a norm reduction gives each work-item a whole group (the `_rows` kernels)
  /// rather than a work-group per split: when groups are shorter than a split and many
  /// enough to fill a work-group (instance norm: N·C groups of H·W values). A work-group
  /// on as few values as it has items spends more on its barriers than on the sum.
  func normUsesRows(_ layout: NormLayout) -> Bool {
    layout.count < ReductionSplit.minimumChunk(groupSize: reduceGroupSize) && layout.rows >= reduceGroupSize
  }

  /// y[r] = alpha · Σ of row r, for `rows` rows of `count` values laid out as in reduce.h
  /// (value e of row r at (e / inner) · outerStride + r · inner + e % inner). Call holding
  /// the lock (it uses a workspace).
  func sumRows(
    _ x: CLBuffer, into y: CLBuffer, rows: Int, count: Int, inner: Int, outerStride: Int, alpha: Float = 1
  ) throws {
    let split = reductionSplit(rows: rows, count: count)
    let partials = try workspace(OpenCLBackend.reductionPartialsSlot, count: split.groups)
    try launchGroups(
      "sum_partials", groups: split.groups,
      [
        .buffer(x), .buffer(partials), .int(count), .int(split.chunk), .int(split.splits), .int(max(inner, 1)),
        .int(outerStride),
      ])
    try finishSums(partials, into: y, split, alpha: alpha)
  }

  /// y[r] = alpha · Σ_s partials[r · splits + s] (pass 2 of every sum).
  func finishSums(_ partials: CLBuffer, into y: CLBuffer, _ split: ReductionSplit, alpha: Float = 1) throws {
    try launch(
      "sum_partials_finish", items: split.rows,
      [.buffer(partials), .buffer(y), .int(split.rows), .int(split.splits), .float(alpha)])
  }

  /// loss[0] = mean over x's n elements of the per-element term of `partialsKernel`
  /// (Kernels/loss.cl).
  func meanLoss(_ partialsKernel: String, x: CLBuffer, t: CLBuffer, loss: CLBuffer, n: Int) throws {
    try locked {
      let split = reductionSplit(rows: 1, count: n)
      let partials = try workspace(OpenCLBackend.reductionPartialsSlot, count: split.groups)
      try launchGroups(
        partialsKernel, groups: split.groups, [.buffer(x), .buffer(t), .buffer(partials), .int(n), .int(split.chunk)])
      try finishSums(partials, into: loss, split, alpha: 1 / Float(n))
    }
  }

  /// The norm layout of reduce.h: `rows` groups of `count` values.
  struct NormLayout {
    let rows: Int
    let count: Int
    let inner: Int
    let outerStride: Int
    /// Batch norm over x [N, C, inner]: group c holds x[n, c, :] for every n.
    static func batch(n: Int, c: Int, inner: Int) -> NormLayout {
      NormLayout(rows: c, count: n * inner, inner: inner, outerStride: c * inner)
    }
    /// Instance norm: group n·C + c holds x[n, c, :].
    static func instance(n: Int, c: Int, inner: Int) -> NormLayout {
      NormLayout(rows: n * c, count: inner, inner: inner, outerStride: 0)
    }
  }

  /// The split of a norm reduction: one split per group on the `_rows` path.
  func normSplit(_ layout: NormLayout) -> ReductionSplit {
    normUsesRows(layout)
      ? ReductionSplit(rows: layout.rows, splits: 1, chunk: layout.count)
      : reductionSplit(rows: layout.rows, count: layout.count)
  }

  /// mean[g] and invstd[g] = 1/sqrt(biased var + eps) of every group, and with `running`
  /// (mean, var) the running statistics updated by `momentum`. Call holding the lock.
  func normStatistics(
    x: CLBuffer, _ layout: NormLayout, mean: CLBuffer, invstd: CLBuffer, running: (CLBuffer, CLBuffer)?, eps: Float,
    momentum: Float
  ) throws {
    let split = normSplit(layout)
    let partMean = try workspace(OpenCLBackend.reductionPartialsSlot, count: split.groups)
    let partM2 = try workspace(OpenCLBackend.reductionPartialsSlotB, count: split.groups)
    if normUsesRows(layout) {
      try launch(
        "norm_stats_rows", items: layout.rows,
        [
          .buffer(x), .buffer(partMean), .buffer(partM2), .int(layout.rows), .int(layout.count), .int(layout.inner),
          .int(layout.outerStride),
        ])
    } else {
      try launchGroups(
        "norm_stats_partials", groups: split.groups,
        [
          .buffer(x), .buffer(partMean), .buffer(partM2), .int(layout.count), .int(split.chunk), .int(split.splits),
          .int(max(layout.inner, 1)), .int(layout.outerStride),
        ])
    }
    try launch(
      "norm_stats_finish", items: layout.rows,
      [
        .buffer(partMean), .buffer(partM2), .buffer(mean), .buffer(invstd), .optional(running?.0),
        .optional(running?.1), .int(layout.rows), .int(split.splits), .int(split.chunk), .int(layout.count),
        .float(eps), .float(momentum), .int(running == nil ? 0 : 1),
      ])
  }

  /// sumDy[g] = Σ dy and sumDyXhat[g] = Σ dy·(x − mean[g])·invstd[g] over every group
  /// (batch norm's dbeta and dgamma). Call holding the lock.
  func normBackwardSums(
    dy: CLBuffer, x: CLBuffer, mean: CLBuffer, invstd: CLBuffer, _ layout: NormLayout, sumDy: CLBuffer,
    sumDyXhat: CLBuffer
  ) throws {
    let split = normSplit(layout)
    let partDy = try workspace(OpenCLBackend.reductionPartialsSlot, count: split.groups)
    let partDyXhat = try workspace(OpenCLBackend.reductionPartialsSlotB, count: split.groups)
    if normUsesRows(layout) {
      try launch(
        "norm_bwd_rows", items: layout.rows,
        [
          .buffer(dy), .buffer(x), .buffer(mean), .buffer(invstd), .buffer(partDy), .buffer(partDyXhat),
          .int(layout.rows), .int(layout.count), .int(layout.inner), .int(layout.outerStride),
        ])
    } else {
      try launchGroups(
        "norm_bwd_partials", groups: split.groups,
        [
          .buffer(dy), .buffer(x), .buffer(mean), .buffer(invstd), .buffer(partDy), .buffer(partDyXhat),
          .int(layout.count), .int(split.chunk), .int(split.splits), .int(max(layout.inner, 1)),
          .int(layout.outerStride),
        ])
    }
    try finishSums(partDy, into: sumDy, split)
    try finishSums(partDyXhat, into: sumDyXhat, split)
  }
}
