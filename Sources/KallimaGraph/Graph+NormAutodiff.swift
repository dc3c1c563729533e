import KallimaCore

/// Derivative rules of the normalisation ops (batch norm's train and eval modes, instance
/// norm), written in graph ops so that their results can be differentiated again (WGAN-GP,
/// DRAGAN and R1 differentiate a penalty on ∇ₓD with respect to D's parameters).
///
/// Every normalisation here is y = γ·x̂ + β with x̂ = (x − μ)·s, s = 1/√(σ² + eps), the
/// statistics μ, σ² taken over groups of m elements (batch norm: channel c over N·H·W;
/// instance norm: plane (n, c) over H·W). Its backward is
///   dx = γ·s·(dy − Σdy/m − x̂·Σ(dy·x̂)/m),  dγ = Σ dy·x̂,  dβ = Σ dy.
/// The saved μ and s are separate graph values (secondary outputs of the forward node), so
/// the rules below take them as independent inputs: the backward node's derivative with
/// respect to x holds μ and s fixed, and the forward node's vjp turns gradients arriving at
/// μ and s into gradients for x (∂μ/∂xᵢ = 1/m, ∂s/∂xᵢ = −s²·x̂ᵢ/m).
extension Graph {
  /// Graph arithmetic over a normalisation's statistics: `view` reshapes x so that axis 1
  /// indexes the statistics groups (batch norm: x itself; instance norm: [1, N·C, H·W]),
  /// each of `count` elements, so channel ops (channelSum, mulChannel) act per group.
  struct NormAlgebra {
    let graph: Graph
    let view: Shape
    let count: Int
    let name: String

    var groups: Int { view[1] }
    func op(_ o: GraphOp, _ ins: [Value]) throws -> Value { try graph.value(o, ins, name: name) }
    func viewed(_ t: Value) throws -> Value { graph.shape(t) == view ? t : try op(.reshape(view), [t]) }
    func unviewed(_ t: Value, as s: Shape) throws -> Value { s == view ? t : try op(.reshape(s), [t]) }
    /// Per-group sums of a tensor shaped like x (or the view): a [groups] vector.
    func sum(_ t: Value) throws -> Value { try op(.channelSum, [viewed(t)]) }
    /// A [groups] vector broadcast over the view.
    func broadcast(_ c: Value) throws -> Value { try op(.channelBroadcast(view), [c]) }
    /// t (viewed) times c[group].
    func scaled(_ t: Value, _ c: Value) throws -> Value { try op(.mulChannel, [viewed(t), c]) }
    func mul(_ a: Value, _ b: Value) throws -> Value { try op(.mul, [a, b]) }
    func scale(_ a: Value, _ k: Double) throws -> Value { try op(.scale(Float(k)), [a]) }
    /// The sum of the terms present (nil when none is).
    func total(_ terms: [Value?]) throws -> Value? {
      var acc: Value?
      for case let t? in terms { acc = try acc.map { try op(.add, [$0, t]) } ?? t }
      return acc
    }
    /// x − μ in the view.
    func centred(_ x: Value, mean: Value) throws -> Value { try op(.addChannel, [viewed(x), scale(mean, -1)]) }

    /// The gradient for x (in x's shape) of gradients arriving at the forward node's
    /// statistics outputs: gμ/m + x̂·(−s²·gs/m) per group.
    func statisticsGradient(x: Value, mean: Value, invstd: Value, gMean: Value?, gInvstd: Value?) throws -> Value? {
      let m = Double(count)
      let fromMean = try gMean.map { try scale(broadcast($0), 1 / m) }
      let fromInvstd = try gInvstd.map { gs in
        let xhat = try scaled(centred(x, mean: mean), invstd)
        return try scaled(xhat, scale(mul(mul(invstd, invstd), gs), -1 / m))
      }
      return try total([fromMean, fromInvstd]).map { try unviewed($0, as: graph.shape(x)) }
    }

    /// The vjp of the backward node (dy, x, γ, μ, s) -> (dx, dγ, dβ) given upstream
    /// gradients a (for dx), bγ, bβ; γ nil means 1 (no affine). `backward(a)` is the same
    /// backward node applied to a: dx is self-adjoint in dy, so it gives ∂/∂dy of Σ a·dx.
    ///   ∂/∂dy = backward(a) + bγ·x̂ + bβ
    ///   ∂/∂γ  = s·(Σa·dy − Σdy·Σa/m − Σdy·x̂·Σa·x̂/m)
    ///   ∂/∂x  = dy·(s·bγ − γ·s²·Σa·x̂/m) − a·γ·s²·Σdy·x̂/m      (μ, s fixed)
    ///   ∂/∂μ  = −Σ ∂/∂x
    ///   ∂/∂s  = γ·(Σa·dy − Σdy·Σa/m − 3·Σdy·x̂·Σa·x̂/m) + bγ·Σdy·(x − μ)
    func backwardVJP(
      dy: Value, x: Value, gamma: Value?, mean: Value, invstd s: Value, a: Value?, bGamma: Value?, bBeta: Value?,
      backward: (Value) throws -> Value
    ) throws -> (dy: Value?, x: Value?, gamma: Value?, mean: Value?, invstd: Value?) {
      let m = Double(count)
      let d = try centred(x, mean: mean)
      let xhat = try scaled(d, s)
      let dyV = try viewed(dy)
      let sumDy = try sum(dyV)
      let sumDyXhat = try sum(mul(dyV, xhat))
      let aV = try a.map(viewed)
      let sumA = try aV.map(sum)
      let sumAXhat = try aV.map { try sum(mul($0, xhat)) }
      let sumADy = try aV.map { try sum(mul($0, dyV)) }
      let gammaV = gamma ?? graph.constant(1, [groups], name: name)

      let gdy = try total([try a.map(backward), try bGamma.map { try scaled(xhat, $0) }, try bBeta.map(broadcast)])
      // P − (Σdy·Σa + k·Σdy·x̂·Σa·x̂)/m, shared by ∂/∂γ (k = 1) and ∂/∂s (k = 3).
      func centredProduct(_ k: Double) throws -> Value? {
        guard let sumA, let sumAXhat, let sumADy else { return nil }
        let cross = try op(.add, [mul(sumDy, sumA), scale(mul(sumDyXhat, sumAXhat), k)])
        return try op(.add, [sumADy, scale(cross, -1 / m)])
      }
      let ggamma = gamma == nil ? nil : try centredProduct(1).map { try mul(s, $0) }
      let gammaS2 = try mul(gammaV, mul(s, s))
      let coefDy = try total([
        try bGamma.map { try mul(s, $0) }, try sumAXhat.map { try scale(mul(gammaS2, $0), -1 / m) },
      ])
      let coefA = a == nil ? nil : try scale(mul(gammaS2, sumDyXhat), -1 / m)
      let gxV = try total([try coefDy.map { try scaled(dyV, $0) }, try aV.flatMap { v in try coefA.map { try scaled(v, $0) } }])
      let gmean = try gxV.map { try scale(sum($0), -1) }
      let ginvstd = try total([
        try centredProduct(3).map { try mul(gammaV, $0) }, try bGamma.map { try mul($0, sum(mul(dyV, d))) },
      ])
      let xs = graph.shape(x)
      return (try gdy.map { try unviewed($0, as: xs) }, try gxV.map { try unviewed($0, as: xs) }, ggamma, gmean, ginvstd)
    }
  }

  func batchnormAlgebra(_ x: Value, name: String) -> NormAlgebra {
    let s = shape(x)
    return NormAlgebra(graph: self, view: s, count: s.count / s[1], name: name)
  }

  func instanceNormAlgebra(_ x: Value, name: String) -> NormAlgebra {
    let s = shape(x)
    return NormAlgebra(graph: self, view: [1, s[0] * s[1], s.count / (s[0] * s[1])], count: s.count / (s[0] * s[1]), name: name)
  }

  /// The vjp of the normalisation ops (they take gradients for any subset of their outputs).
  func normVJP(_ node: Node, index: Int, _ g: [Value?], name: String) throws -> [Value?]? {
    let x = node.inputs
    switch node.op {
    case .batchnormTrain:
      let (mean, invstd) = (Value(node: index, output: 1), Value(node: index, output: 2))
      let bwd = try g[0].map { try add(.batchnormBwd, [$0, x[0], x[1], mean, invstd], name: name) }
      let alg = batchnormAlgebra(x[0], name: name)
      let fromStats = try alg.statisticsGradient(x: x[0], mean: mean, invstd: invstd, gMean: g[1], gInvstd: g[2])
      return [try alg.total([bwd?[0], fromStats]), bwd?[1], bwd?[2], nil, nil]
    case .batchnormBwd:
      let alg = batchnormAlgebra(x[1], name: name)
      let r = try alg.backwardVJP(
        dy: x[0], x: x[1], gamma: x[2], mean: x[3], invstd: x[4], a: g[0], bGamma: g[1], bBeta: g[2]
      ) { a in try self.add(.batchnormBwd, [a, x[1], x[2], x[3], x[4]], name: name)[0] }
      return [r.dy, r.x, r.gamma, r.mean, r.invstd]
    case .batchnormEval(let eps):
      // The running statistics are state, not trained: no gradient for them.
      guard let gy = g[0] else { return [nil, nil, nil, nil, nil] }
      let out = try add(.batchnormEvalBwd(eps: eps), [gy, x[0], x[1], x[3], x[4]], name: name)
      return [out[0], out[1], out[2], nil, nil]
    case .batchnormEvalBwd(let eps):
      // dx = dy·γ·s, dγ = Σ dy·x̂, dβ = Σ dy with s = 1/√(runningVar + eps) constant:
      //   ∂/∂dy = a·γ·s + bγ·x̂ + bβ,  ∂/∂x = dy·bγ·s,  ∂/∂γ = Σ a·dy·s.
      let (dy, xv, gamma, rm, rv) = (x[0], x[1], x[2], x[3], x[4])
      let c = shape(gamma)
      let alg = batchnormAlgebra(xv, name: name)
      let ones = constant(1, c, name: name)
      func bwd(_ v: Value, _ gamma: Value) throws -> Value {
        try add(.batchnormEvalBwd(eps: eps), [v, xv, gamma, rm, rv], name: name)[0]
      }
      let xhat = try g[1].map { _ in try value(.batchnormEval(eps: eps), [xv, ones, constant(0, c, name: name), rm, rv], name: name) }
      let gdy = try alg.total([
        try g[0].map { try bwd($0, gamma) }, try g[1].map { try alg.scaled(xhat!, $0) }, try g[2].map(alg.broadcast),
      ])
      let gx = try g[1].map { try bwd(try alg.scaled(dy, $0), ones) }
      let ggamma = try g[0].map { try alg.sum(try alg.mul($0, try bwd(dy, ones))) }
      return [gdy, gx, ggamma, nil, nil]
    case .instanceNorm:
      let (mean, invstd) = (Value(node: index, output: 1), Value(node: index, output: 2))
      let alg = instanceNormAlgebra(x[0], name: name)
      let dx = try g[0].map { try value(.instanceNormBwd, [$0, x[0], mean, invstd], name: name) }
      let fromStats = try alg.statisticsGradient(x: x[0], mean: mean, invstd: invstd, gMean: g[1], gInvstd: g[2])
      return [try alg.total([dx, fromStats])]
    case .instanceNormBwd:
      let alg = instanceNormAlgebra(x[1], name: name)
      let r = try alg.backwardVJP(
        dy: x[0], x: x[1], gamma: nil, mean: x[2], invstd: x[3], a: g[0], bGamma: nil, bBeta: nil
      ) { a in try self.value(.instanceNormBwd, [a, x[1], x[2], x[3]], name: name) }
      return [r.dy, r.x, r.mean, r.invstd]
    default:
      return nil
    }
  }
}
