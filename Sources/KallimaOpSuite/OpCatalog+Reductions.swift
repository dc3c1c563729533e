import KallimaCore

extension OpCatalog {
  /// Lengths around the split edges of the multi-work-group reductions (OpenCL
  /// `ReductionSplit`: splits of at least 2048 = 8 × 256 values, four work-groups per
  /// compute unit): one split short of the edge, exactly on it, one past it (a second split
  /// of one value), several splits with a ragged last one, and many.
  public static let reductionLengths = [2047, 2048, 2049, 8 * 2048 + 1, 100_003]

  /// The reductions (sums, losses, norm statistics and their backward sums) on shapes that
  /// cut rows into several splits, with runs that cross row boundaries and H*W = 1, and the
  /// row-run kernels on rows of several runs. The work-group edges (1, 255, 256, 257) are in
  /// `parityCases`' shared sweeps.
  public static func reductionParityCases() -> [OpCase] {
    var cases: [OpCase] = []
    for n in reductionLengths {
      cases.append(reduceSum(n: n))
      for op in ["bce_logits_fwd", "mse_fwd", "l1_fwd"] { cases.append(loss(op, n: n)) }
    }
    // [outer, C, inner]: rows of 3000 values in 2 splits crossing rows of 1000; H*W = 1
    // with 2 splits; 3 splits of rows of 1089; one channel in 2 ragged splits.
    let channelShapes: [Shape] = [[3, 2, 1000], [3000, 2], [40, 3, 1], [5, 3, 33, 33], [9, 1, 17, 17]]
    for shape in channelShapes {
      cases.append(channelSum(shape: shape))
      for phase in ["fwd_train", "bwd", "bwd_eval"] { cases.append(batchnorm(phase, shape: shape)) }
      // Splits with different means: the combination of split statistics must be exact.
      for phase in ["fwd_train", "bwd"] { cases.append(batchnorm(phase, shape: shape, ramp: true)) }
    }
    // Instance norm with few instances of many values: each instance in 2 splits.
    for affine in [false, true] {
      cases.append(instancenorm("fwd", shape: [1, 2, 50, 50], affine: affine))
      cases.append(instancenorm("bwd", shape: [1, 2, 50, 50], affine: affine))
    }
    // Many short groups (at least a work-group's worth): one work-item per group.
    for affine in [false, true] {
      cases.append(instancenorm("fwd", shape: [16, 17, 3, 5], affine: affine))
      cases.append(instancenorm("bwd", shape: [16, 17, 3, 5], affine: affine))
    }
    for phase in ["fwd_train", "bwd"] {
      cases.append(batchnorm(phase, shape: [3, 300, 7]))
      cases.append(batchnorm(phase, shape: [3, 300, 7], ramp: true))
    }
    // Row runs (Kernels/rows.h, runs of at most 2048 values): rows of 2 and 3 runs with a
    // ragged last one, for the channel broadcasts, the norms' apply kernels and the copies.
    for op in ["add_channel", "mul_channel"] { cases.append(channelBroadcast(op, shape: [2, 3, 4100])) }
    for phase in ["fwd_eval", "bwd_eval"] { cases.append(batchnorm(phase, shape: [2, 2, 45, 50])) }
    cases += concatSlice(n: 2, c1: 1, c2: 2, hw: 47)
    cases.append(copyChannels(n: 2, hw: 50))
    cases.append(transpose01([3, 2, 4099]))
    for phase in ["fwd", "bwd"] {
      cases.append(reflectionPad2d(phase, x: [1, 2, 3, 2100], padding: Padding2d(top: 2, bottom: 1, left: 3, right: 5)))
      // Output rows of 2 runs (k = 2's vector path and k = 3), input rows of 2 runs.
      cases.append(upsampleNearest(phase, x: [1, 2, 2, 1030], scale: 2))
      cases.append(upsampleNearest(phase, x: [1, 1, 2, 700], scale: 3))
      cases.append(upsampleNearest(phase, x: [1, 1, 2, 2053], scale: 2))
    }
    // Softmax cross-entropy over more rows than one split holds.
    cases.append(softmax("softmax_cross_entropy_fwd", n: 2049, c: 3))
    return cases
  }
}
