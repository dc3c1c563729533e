import KallimaCore
import KallimaGraph

/// The name under which a conditional network finds its condition in `Scope.conditions`:
/// one row per sample, [N, width] (a one-hot class, a multi-hot tag set, a bag of words, or a
/// text embedding).
public let conditionKey = "c"

/// The condition compressed to `dimension` features: LeakyReLU(0.2)(Linear(c)), as Reed et
/// al. 2016 compress a 1024-d text embedding to 128 before G and D use it. On a one-hot
/// class this is a learned class embedding (plus a bias); on a bag of words, the mean of
/// learned word embeddings. Parameters `weight` [dimension, width], `bias` [dimension].
/// Input: the scope's condition [N, width]; output [N, dimension].
public struct ConditionEmbedding: Layer {
  public var width: Int
  public var dimension: Int

  public init(width: Int, dimension: Int) {
    self.width = width
    self.dimension = dimension
  }

  /// Ignores `x`: the input is the scope's condition.
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try embed(in: scope)
  }

  public func embed(in scope: Scope) throws -> Value {
    let c = try scope.condition(conditionKey, for: "condition embedding")
    let h = try Linear(width, dimension)(c, in: scope)
    return try LeakyReLU(0.2)(h, in: scope)
  }
}

/// G's input for a conditional generator: z concatenated with the condition's embedding
/// (Mirza & Osindero 2014; Reed et al. 2016). z is [N, nz, 1, 1] (DCGAN) or [N, nz] (ResNet);
/// the output is [N, nz + dimension, 1, 1] or [N, nz + dimension]. The embedding's
/// parameters are `NAME.weight` / `NAME.bias` under this layer's scope.
public struct ConcatCondition: Layer {
  public var embedding: ConditionEmbedding
  public var name: String

  public init(width: Int, dimension: Int, name: String = "embed") {
    embedding = ConditionEmbedding(width: width, dimension: dimension)
    self.name = name
  }

  public func callAsFunction(_ z: Value, in scope: Scope) throws -> Value {
    let e = try embedding.embed(in: scope.child(name))
    let s = scope.graph.shape(z)
    let n = s[0]
    guard s.rank == 2 || (s.rank == 4 && s[2] == 1 && s[3] == 1) else {
      throw KallimaError.shapeMismatch(op: scope.nodeName("concat condition"), message: "z must be [N, nz] or [N, nz, 1, 1], got \(s)")
    }
    let shaped = s.rank == 2 ? e : try scope.value(.reshape([n, embedding.dimension, 1, 1]), [e], "condition as 1x1")
    return try scope.value(.concat, [z, shaped], "z ⊕ embed(c)")
  }
}

/// Rows [N, D] replicated over an H x W grid: [N, D, H, W] (Reed et al.'s "replicated
/// spatially" text embedding before D concatenates it with its 4x4 features). One GEMM
/// with a row of ones, so it differentiates like any other node.
public func tile(_ rows: Value, height: Int, width: Int, in scope: Scope) throws -> Value {
  let s = scope.graph.shape(rows)
  guard s.rank == 2 else {
    throw KallimaError.shapeMismatch(op: scope.nodeName("tile"), message: "rows must be [N, D], got \(s)")
  }
  let column = try scope.value(.reshape([s[0] * s[1], 1]), [rows], "tile column")
  let ones = scope.graph.constant(1, [1, height * width], name: "ones")
  let grid = try scope.value(.matmul(transposeA: false, transposeB: false, alpha: 1), [column, ones], "tile")
  return try scope.value(.reshape([s[0], s[1], height, width]), [grid], "tile view")
}

/// ⟨a_i, b_i⟩ per row of a, b [N, D]: [N, 1].
public func rowDot(_ a: Value, _ b: Value, in scope: Scope) throws -> Value {
  let s = scope.graph.shape(a)
  let product = try scope.value(.mul, [a, b], "row product")
  let ones = scope.graph.constant(1, [s[1], 1], name: "ones")
  return try scope.value(.matmul(transposeA: false, transposeB: false, alpha: 1), [product, ones], "row dot")
}

/// StackGAN's conditioning augmentation (Zhang et al. 2017, §3.1): a text embedding e
/// [N, E] (the scope's condition) → (μ, log σ²) = split(fc(e)), [N, dimension] each →
/// ĉ = μ + σ·ε with ε ~ N(0, I) drawn per sample and run (σ = exp(½·log σ²)), and the KL
/// divergence to N(0, I), −½·mean(1 + log σ² − μ² − exp(log σ²)) over every element (the
/// reference's `KL_loss`), which the layer adds to its binder's auxiliary losses with
/// `klWeight` (the reference configs' COEFF.KL = 2.0) for the trainer to add to G's loss
/// (not when the network is `Frozen`). ε is drawn in eval mode too, as the reference
/// samples; it comes from `Scope.randomNormal` ("ε" under the layer's path), so a trainer
/// can feed it.
///
/// `reluBeforeSplit`: the reference code (hanzhanggit/StackGAN-Pytorch, `CA_NET.encode`)
/// applies a ReLU to fc(e) before splitting it, so μ ≥ 0 and σ ≥ 1 always; the paper's
/// description has no ReLU. The default follows the code (its results and checkpoints);
/// false follows the paper. Parameters `fc.weight` [2·dimension, E], `fc.bias`.
public struct ConditioningAugmentation: Layer {
  public var embedding: Int
  public var dimension: Int
  public var klWeight: Float
  public var reluBeforeSplit: Bool
  public var weightInit: ParameterInit?
  public var seed: UInt64

  public init(
    embedding: Int, dimension: Int, klWeight: Float = 2, reluBeforeSplit: Bool = true, weightInit: ParameterInit? = nil,
    seed: UInt64 = 0xCA
  ) {
    (self.embedding, self.dimension, self.klWeight, self.reluBeforeSplit) = (embedding, dimension, klWeight, reluBeforeSplit)
    (self.weightInit, self.seed) = (weightInit, seed)
  }

  /// (μ, log σ²) of the scope's condition, [N, dimension] each.
  public func encode(in scope: Scope) throws -> (mu: Value, logVariance: Value) {
    let e = try scope.condition(conditionKey, for: "conditioning augmentation")
    let fc = Linear(embedding, 2 * dimension, weightInit: weightInit, biasInit: weightInit.map { _ in .constant(0) })
    var h = try fc(e, in: scope.child("fc"))
    if reluBeforeSplit { h = try ReLU()(h, in: scope) }
    return (
      try scope.value(.slice(start: 0, count: dimension), [h], "μ"),
      try scope.value(.slice(start: dimension, count: dimension), [h], "log σ²")
    )
  }

  /// Ignores `x`: the input is the scope's condition. Returns ĉ [N, dimension].
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let g = scope.graph
    let (mu, logVariance) = try encode(in: scope)
    let n = g.shape(mu)[0]
    let sigma = try scope.value(.activation(.exp), [try scope.value(.scale(0.5), [logVariance], "½·log σ²")], "σ")
    let epsilon = try scope.randomNormal([n, dimension], "ε", seed: seed)
    let sample = try scope.value(.add, [mu, try scope.value(.mul, [sigma, epsilon], "σ·ε")], "ĉ = μ + σ·ε")
    guard !scope.options.frozen else { return sample }
    // KL(N(μ, σ²) ‖ N(0, I)) as the reference: −½·mean(1 + log σ² − μ² − exp(log σ²)).
    let squares = try scope.value(.mul, [mu, mu], "μ²")
    let variance = try scope.value(.activation(.exp), [logVariance], "σ²")
    let negatives = try scope.value(.add, [squares, variance], "μ² + σ²")
    let terms = try scope.value(
      .add, [try scope.value(.add, [logVariance, g.constant(1, [n, dimension], name: "1")], "1 + log σ²"),
             try scope.value(.scale(-1), [negatives], "−(μ² + σ²)")], "1 + log σ² − μ² − σ²")
    let kl = try scope.value(.reduceSum(alpha: -0.5 / Float(n * dimension)), [terms], "KL")
    scope.binder.addLoss(Self.lossName, kl, weight: klWeight)
    return sample
  }

  /// The name of the KL term among the binder's auxiliary losses.
  public static let lossName = "ca_kl"

  /// μ alone, as a layer (ignores its input): what StackGAN's D is conditioned on.
  public var mean: some Layer { ConditionMean(augmentation: self) }
}

/// μ of a conditioning augmentation (see `ConditioningAugmentation.mean`).
public struct ConditionMean: Layer {
  public var augmentation: ConditioningAugmentation
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value { try augmentation.encode(in: scope).mu }
}
