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
