import KallimaCore

/// Derivative rules of the loss backward nodes and of softmax, in graph ops, so a gradient
/// that went through a loss (∇ₓ of BCE(D(x)), say) can be differentiated again. Every loss
/// backward is dloss[0]/N times a per-element term (N = the elements of x, or the rows for
/// softmax cross-entropy), so its derivative with respect to dloss is Σ a·(the same node
/// with dloss = 1).
extension Graph {
  /// softmax and softmax cross-entropy work on rows of [N, C]; viewed as [1, N, C] the rows
  /// are axis 1, so the channel ops reduce and broadcast per row.
  struct RowAlgebra {
    let graph: Graph
    let shape: Shape
    let name: String
    var rowView: Shape { [1, shape[0], shape[1]] }
    func op(_ o: GraphOp, _ ins: [Value]) throws -> Value { try graph.value(o, ins, name: name) }
    /// [N]: the sum of each row.
    func rowSum(_ t: Value) throws -> Value { try op(.channelSum, [op(.reshape(rowView), [t])]) }
    /// [N, C]: c[r] in row r.
    func broadcast(_ c: Value) throws -> Value { try op(.reshape(shape), [op(.channelBroadcast(rowView), [c])]) }
    /// [N, C]: row r of t times c[r].
    func scaleRows(_ t: Value, _ c: Value) throws -> Value {
      try op(.reshape(shape), [op(.mulChannel, [op(.reshape(rowView), [t]), c])])
    }
    /// The vjp of the row softmax p at upstream a: p ⊙ (a − ⟨a, p⟩ per row).
    func softmaxVJP(p: Value, a: Value) throws -> Value {
      try op(.mul, [p, op(.add, [a, op(.scale(-1), [broadcast(rowSum(op(.mul, [a, p])))])])])
    }
  }

  func lossVJP(_ node: Node, index: Int, _ gy: Value, name: String) throws -> [Value?]? {
    let x = node.inputs
    func op(_ o: GraphOp, _ ins: [Value]) throws -> Value { try value(o, ins, name: name) }
    /// ∂/∂dloss: Σ a·(the node with dloss = 1), in dloss's shape.
    func dlossGradient(_ o: GraphOp) throws -> Value {
      let dl = shape(x[2])
      let unit = try op(o, [x[0], x[1], constant(1, dl, name: name)])
      let s = try op(.reduceSum(alpha: 1), [op(.mul, [gy, unit])])
      return dl == [1] ? s : try op(.reshape(dl), [s])
    }
    /// gy·dloss/N (dloss broadcast to x's shape).
    func weighted(_ over: Int) throws -> Value {
      try op(.mul, [gy, op(.scalarBroadcast(shape(x[0]), alpha: 1 / Float(over)), [x[2]])])
    }
    switch node.op {
    case .softmax:
      return [try RowAlgebra(graph: self, shape: shape(x[0]), name: name).softmaxVJP(p: Value(node: index, output: 0), a: gy)]
    case .bceLogitsBwd:
      // dx = dloss/N·(σ(x) − t): ∂/∂x = a·dloss/N·σ(1 − σ), ∂/∂t = −a·dloss/N.
      let k = try weighted(shape(x[0]).count)
      let sigma = try op(.activation(.sigmoid), [x[0]])
      return [try op(.activationBwd(.sigmoid), [sigma, sigma, k]), try op(.scale(-1), [k]), try dlossGradient(node.op)]
    case .mseBwd:
      // dx = 2·dloss/N·(x − t).
      let k = try weighted(shape(x[0]).count)
      return [try op(.scale(2), [k]), try op(.scale(-2), [k]), try dlossGradient(node.op)]
    case .l1Bwd:
      // dx = dloss/N·sign(x − t): zero derivative in x and t away from x = t.
      return [nil, nil, try dlossGradient(node.op)]
    case .softmaxCrossEntropyBwd:
      // dx[r] = k·(p[r]·Σt[r] − t[r]) with k = dloss/N, p = softmax(x[r]):
      //   ∂/∂x[r] = k·Σt[r]·p ⊙ (a − ⟨a, p⟩),  ∂/∂t[r] = k·(⟨a, p⟩ − a).
      let s = shape(x[0])
      let rows = RowAlgebra(graph: self, shape: s, name: name)
      let k = try op(.scalarBroadcast([s[0]], alpha: 1 / Float(s[0])), [x[2]])
      let p = try op(.softmax, [x[0]])
      let gx = try rows.scaleRows(rows.softmaxVJP(p: p, a: gy), op(.mul, [k, rows.rowSum(x[1])]))
      let ap = try rows.broadcast(rows.rowSum(op(.mul, [gy, p])))
      let gt = try rows.scaleRows(op(.add, [ap, op(.scale(-1), [gy])]), k)
      return [gx, gt, try dlossGradient(node.op)]
    default:
      return nil
    }
  }
}
