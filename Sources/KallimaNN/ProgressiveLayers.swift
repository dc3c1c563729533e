import KallimaCore
import KallimaGraph

/// Pixelwise feature normalisation (Karras et al. 2018, §4.2): every pixel's feature vector
/// scaled to unit root-mean-square over the channels, y = x / √(mean_c x² + ε), ε = 1e-8.
/// x [N, C, H, W] (a latent [N, C, 1, 1] too). No parameters.
///
/// Built from differentiable ops: the channel sum is a 1x1 convolution with a kernel of
/// ones [1, C, 1, 1], and its broadcast back over the channels the transposed one.
public struct PixelNorm: Layer {
  public var eps: Float
  public init(eps: Float = 1e-8) { self.eps = eps }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let g = scope.graph
    let s = g.shape(x)
    guard s.rank == 4 else {
      throw KallimaError.shapeMismatch(op: scope.nodeName("pixel norm"), message: "input must be [N, C, H, W], got \(s)")
    }
    let c = s[1]
    let ones = g.constant(1, [1, c, 1, 1], name: scope.nodeName("pixel norm ones"))
    let squares = try scope.value(.mul, [x, x], "pixel norm x²")
    let sum = try scope.value(.conv2d(Conv2dParams(stride: 1, padding: 0)), [squares, ones], "pixel norm Σ_c x²")
    let meanSquare = try scope.value(.scale(1 / Float(c)), [sum], "pixel norm mean_c x²")
    let shifted = try scope.value(.add, [meanSquare, g.constant(eps, g.shape(meanSquare), name: "ε")], "pixel norm + ε")
    let inverse = try scope.value(.activation(.rsqrt), [shifted], "pixel norm 1/√(·)")
    let spread = try scope.value(
      .convTranspose2d(ConvTranspose2dParams(stride: 1, padding: 0, outputPadding: 0)), [inverse, ones], "pixel norm over C")
    return try scope.value(.mul, [x, spread], "pixel norm")
  }
}

/// Minibatch standard deviation (Karras et al. 2018, §3), as the reference's
/// `minibatch_stddev_layer`: the batch split into groups of `groupSize` samples (sample n in
/// group member n / M, M = N / groupSize), the standard deviation of each feature over a
/// group's members (biased, √(var + 1e-8)), averaged over the features to one number per
/// group, appended to every member's input as one more constant channel. x [N, C, H, W] ->
/// [N, C + 1, H, W]; N must be a multiple of the group size (or smaller than it: one group).
///
/// The reductions over the group are products with constant rows of ones, so the layer
/// differentiates twice (WGAN-GP's penalty differentiates D's input gradient).
public struct MinibatchStdDev: Layer {
  public var groupSize: Int
  public init(groupSize: Int = 4) { self.groupSize = groupSize }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let g = scope.graph
    let s = g.shape(x)
    guard s.rank == 4 else {
      throw KallimaError.shapeMismatch(op: scope.nodeName("minibatch stddev"), message: "input must be [N, C, H, W], got \(s)")
    }
    let (n, c, h, w) = (s[0], s[1], s[2], s[3])
    let groups = min(groupSize, n)
    guard n % groups == 0 else {
      throw KallimaError.shapeMismatch(
        op: scope.nodeName("minibatch stddev"), message: "the batch \(n) must be a multiple of the group size \(groups)")
    }
    let m = n / groups
    let k = m * c * h * w
    func product(_ a: Value, _ b: Value, alpha: Float = 1, _ what: String) throws -> Value {
      try scope.value(.matmul(transposeA: false, transposeB: false, alpha: alpha), [a, b], what)
    }
    func ones(_ shape: Shape) -> Value { g.constant(1, shape, name: scope.nodeName("ones \(shape)")) }
    // Rows: group member, columns: (m, c, h, w).
    let rows = try scope.value(.reshape([groups, k]), [x], "minibatch stddev by member")
    let mean = try product(ones([1, groups]), rows, alpha: 1 / Float(groups), "minibatch stddev mean")
    let centered = try scope.value(.add, [rows, try product(ones([groups, 1]), mean, alpha: -1, "minibatch stddev −mean")], "minibatch stddev x − mean")
    let squares = try scope.value(.mul, [centered, centered], "minibatch stddev (x − mean)²")
    let variance = try product(ones([1, groups]), squares, alpha: 1 / Float(groups), "minibatch stddev variance")
    let shifted = try scope.value(.add, [variance, g.constant(1e-8, [1, k], name: "ε")], "minibatch stddev var + ε")
    let std = try scope.value(.activation(.sqrt), [shifted], "minibatch stddev σ")
    // One number per group: the mean of σ over (c, h, w).
    let perGroup = try product(
      try scope.value(.reshape([m, c * h * w]), [std], "minibatch stddev σ by group"), ones([c * h * w, 1]),
      alpha: 1 / Float(c * h * w), "minibatch stddev mean σ")
    // Sample n = member·M + group: the column of group values repeated for every member,
    // then over every pixel.
    let row = try scope.value(.reshape([1, m]), [perGroup], "minibatch stddev groups as a row")
    let perSample = try scope.value(.reshape([n, 1]), [try product(ones([groups, 1]), row, "minibatch stddev per member")], "minibatch stddev per sample")
    let plane = try scope.value(.reshape([n, 1, h, w]), [try product(perSample, ones([1, h * w]), "minibatch stddev over pixels")], "minibatch stddev channel")
    return try scope.value(.concat, [x, plane], "minibatch stddev")
  }
}

/// (1 − α)·`a` + α·`b`, with α a one-element value [1]: Progressive GAN's fade-in, from the
/// upsampled output of the smaller network (α = 0) to the new block's (α = 1). Written as
/// two products, not a + α·(b − a), so both ends are exact: α = 0 gives `a` and α = 1 gives
/// `b`, bit for bit.
public func lerp(_ a: Value, _ b: Value, alpha: Value, in scope: Scope) throws -> Value {
  let g = scope.graph
  let oneMinus = try scope.value(
    .add, [try scope.value(.scale(-1), [alpha], "fade −α"), g.constant(1, g.shape(alpha), name: "1")], "fade 1 − α")
  let kept = try scope.value(.mulScalar, [a, oneMinus], "fade (1 − α)·old")
  return try scope.value(.add, [kept, try scope.value(.mulScalar, [b, alpha], "fade α·new")], "fade")
}
