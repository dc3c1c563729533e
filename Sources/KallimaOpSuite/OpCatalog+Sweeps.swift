import KallimaCore

extension OpCatalog {
  /// Lengths around work-group edges (elementwise groups of 256, reductions of 256).
  public static let edgeLengths = [1, 2, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1000]

  /// Every op, forward and backward, on shapes that stress the kernels' edges.
  public static func parityCases() -> [OpCase] {
    var cases: [OpCase] = []
    // DCGAN's convolutions: k4 s2 p1 (down/up-sampling) and k4 s1 p0 (first G, last D layer),
    // plus a 3x3 s1 p1 and odd sizes, batch 1 and odd channel counts.
    let convs: [(n: Int, c: Int, h: Int, k: Int, kernel: Int, s: Int, p: Int)] = [
      (1, 1, 1, 1, 1, 1, 0), (2, 3, 8, 5, 4, 2, 1), (1, 5, 4, 3, 4, 1, 0), (3, 2, 9, 7, 3, 1, 1),
      (2, 3, 33, 2, 4, 2, 1), (1, 4, 31, 3, 4, 2, 1), (2, 1, 5, 1, 3, 2, 0),
      // Long reductions with a small weight: the split-K weight-gradient path.
      (2, 3, 64, 4, 4, 2, 1), (4, 1, 128, 2, 4, 2, 1),
      // A kernel wider than the image: taps whose range of grid positions is empty or
      // starts past the image's far edge (floor, not truncating, division).
      (2, 3, 2, 4, 6, 2, 2),
    ]
    for c in convs {
      for phase in ["fwd", "bwd_data", "bwd_weight"] {
        cases.append(conv2d(phase, n: c.n, c: c.c, h: c.h, w: c.h, k: c.k, kernel: c.kernel, stride: c.s, padding: c.p, bias: c.n != 3))
      }
    }
    let transposes: [(n: Int, c: Int, h: Int, k: Int, kernel: Int, s: Int, p: Int, op: Int)] = [
      (2, 5, 1, 3, 4, 1, 0, 0), (1, 3, 4, 2, 4, 2, 1, 0), (2, 4, 7, 3, 4, 2, 1, 1), (3, 2, 5, 5, 3, 1, 1, 0),
      (1, 1, 16, 3, 4, 2, 1, 0), (2, 3, 1, 2, 6, 2, 2, 0),
    ]
    for t in transposes {
      for phase in ["fwd", "bwd_data", "bwd_weight"] {
        cases.append(
          convTranspose2d(
            phase, n: t.n, c: t.c, h: t.h, w: t.h, k: t.k, kernel: t.kernel, stride: t.s, padding: t.p,
            outputPadding: t.op, bias: t.n != 3))
      }
    }
    for shape: Shape in [[1, 3, 1, 2], [2, 5, 4, 4], [3, 1, 11, 9], [64, 2, 2, 2], [5, 7, 33, 2], [4, 6]] {
      for phase in ["fwd_train", "fwd_eval", "bwd", "bwd_eval"] { cases.append(batchnorm(phase, shape: shape)) }
      cases.append(batchnorm("fwd_train", shape: shape, momentum: 0))
    }
    // Eval mode with one value per channel: a BatchNorm1d on one image (sampling one at a
    // time normalises by the running statistics; train mode refuses it).
    for phase in ["fwd_eval", "bwd_eval"] { cases.append(batchnorm(phase, shape: [1, 256])) }
    for shape: Shape in [[1, 1, 1, 2], [2, 3, 5, 5], [1, 2, 17, 16]] {
      for affine in [false, true] {
        cases.append(instancenorm("fwd", shape: shape, affine: affine))
        cases.append(instancenorm("bwd", shape: shape, affine: affine))
      }
    }
    for n in edgeLengths {
      for kind: Activation in [.relu, .leakyRelu(slope: 0.2), .tanh, .sigmoid, .sqrt, .square, .rsqrt, .exp] {
        cases.append(activation(kind, backward: false, n: n))
        cases.append(activation(kind, backward: true, n: n))
      }
      for op in ["add", "mul", "scale"] { cases.append(binary(op, n: n)) }
      cases.append(reduceSum(n: n))
      cases += fillAndReductionComposites(n: n)
      for op in ["bce_logits_fwd", "bce_logits_bwd", "mse_fwd", "mse_bwd", "l1_fwd", "l1_bwd"] {
        cases.append(loss(op, n: n))
      }
      cases.append(adam(n: n, step: 1))
      cases.append(sgd(n: n, momentum: 0.9))
      cases.append(random("random_uniform", n: n, counter: 5))
      cases.append(random("random_normal", n: n, counter: 0xffff_ffff))
    }
    cases.append(adam(n: 100, step: 1000))
    cases.append(sgd(n: 65, momentum: 0))
    cases.append(reduceSum(n: 100_000))
    for shape: Shape in [[1, 1], [2, 3, 5, 5], [65, 33], [3, 64, 4, 4], [2, 2, 300]] {
      cases.append(channelBroadcast("add_channel", shape: shape))
      cases.append(channelBroadcast("mul_channel", shape: shape))
      cases.append(channelSum(shape: shape))
    }
    cases += concatSlice(n: 2, c1: 3, c2: 5, hw: 4) + concatSlice(n: 1, c1: 1, c2: 1, hw: 1)
    cases += [copyChannels(n: 1, hw: 1), copyChannels(n: 3, hw: 5)]
    cases += poolingParityCases()
    cases += softmaxParityCases()
    cases += reductionParityCases()
    cases += ganOpsParityCases()
    cases += conditionParityCases()
    cases += translationParityCases()
    for (m, n, position) in [(1, 1, UInt64(0)), (7, 5, 3), (33, 16, 60), (100, 64, 1 << 33)] {
      for flip in [false, true] {
        cases.append(gatherImages(count: m, batch: n, channels: 3, size: 5, position: position, flip: flip))
        for streamed in [false, true] {
          cases.append(
            gatherImagesU8(count: m, batch: n, channels: 3, size: 5, position: position, flip: flip, streamed: streamed))
        }
      }
    }
    // Every byte value 0…255 within one image (1 x 16 x 16), both ways.
    cases.append(gatherImagesU8(count: 3, batch: 2, channels: 1, size: 16, position: 1, flip: true, streamed: false))
    cases.append(gatherImagesU8(count: 3, batch: 2, channels: 1, size: 16, position: 1, flip: false, streamed: true))
    for (m, n, k) in [(1, 1, 1), (2, 3, 4), (33, 31, 65), (64, 1, 100), (7, 65, 2)] {
      for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        cases.append(matmul(m: m, n: n, k: k, transposeA: ta, transposeB: tb))
      }
    }
    for (n, i, o) in [(1, 1, 1), (4, 100, 1), (64, 33, 65)] {
      for phase in ["fwd", "bwd_data", "bwd_weight"] { cases.append(linear(phase, n: n, inFeatures: i, out: o)) }
    }
    return cases
  }

  /// One case per op at DCGAN-64, batch-64 scale (the microbenchmark table).
  public static func benchmarkCases(batch n: Int = 64) -> [OpCase] {
    var cases: [OpCase] = []
    // D's second layer (64->128, 32x32 -> 16x16) and G's matching transpose.
    for phase in ["fwd", "bwd_data", "bwd_weight"] {
      cases.append(conv2d(phase, n: n, c: 64, h: 32, w: 32, k: 128, kernel: 4, stride: 2, padding: 1, bias: false))
    }
    for phase in ["fwd", "bwd_data", "bwd_weight"] {
      cases.append(convTranspose2d(phase, n: n, c: 128, h: 16, w: 16, k: 64, kernel: 4, stride: 2, padding: 1, bias: false))
    }
    let act: Shape = [n, 128, 16, 16]
    for phase in ["fwd_train", "fwd_eval", "bwd", "bwd_eval"] { cases.append(batchnorm(phase, shape: act)) }
    cases.append(instancenorm("fwd", shape: act, affine: true))
    cases.append(instancenorm("bwd", shape: act, affine: true))
    let count = act.count
    cases.append(activation(.leakyRelu(slope: 0.2), backward: false, n: count))
    cases.append(activation(.leakyRelu(slope: 0.2), backward: true, n: count))
    cases.append(activation(.relu, backward: false, n: count))
    cases.append(activation(.tanh, backward: false, n: count))
    cases.append(activation(.sigmoid, backward: false, n: count))
    for op in ["add", "mul", "scale"] { cases.append(binary(op, n: count)) }
    cases.append(channelBroadcast("add_channel", shape: act))
    cases.append(channelBroadcast("mul_channel", shape: act))
    cases += concatSlice(n: n, c1: 64, c2: 64, hw: 16)
    cases.append(matmul(m: 512, n: 512, k: 512, transposeA: false, transposeB: false))
    cases.append(linear("fwd", n: n, inFeatures: 8192, out: 100))
    cases.append(reduceSum(n: count))
    cases.append(channelSum(shape: act))
    for op in ["bce_logits_fwd", "bce_logits_bwd", "mse_fwd", "mse_bwd", "l1_fwd", "l1_bwd"] {
      cases.append(loss(op, n: count))
    }
    cases.append(adam(n: 1 << 21, step: 10))  // ~ the parameter count of DCGAN-64's D (2.8M)
    cases.append(sgd(n: 1 << 21, momentum: 0.9))
    cases.append(gatherImages(count: 1000, batch: n, channels: 3, size: 64, position: 0, flip: true))
    cases.append(random("random_uniform", n: count, counter: 0))
    cases.append(random("random_normal", n: count, counter: 0))
    cases += poolingBenchmarkCases(batch: n)
    for op in ["softmax_cross_entropy_fwd", "softmax_cross_entropy_bwd", "softmax_fwd"] {
      cases.append(softmax(op, n: n, c: 1008))
    }
    cases += ganOpsBenchmarkCases(batch: n)
    cases.append(mismatchRows(n: n, d: 10, .oneHot(classes: 10), "one-hot"))
    return cases
  }
}
