import KallimaCore

/// Validation mode: one graph run node by node on two backends (typically the CPU reference
/// and a device) from the same starting values, stopping at the first node whose outputs
/// differ, so a wrong kernel is named rather than discovered as a bad loss later.
public enum PlanValidation {
  public struct Divergence: CustomStringConvertible {
    public let node: Int
    public let name: String
    public let op: String
    public let output: Int
    public let index: Int
    public let reference: Float
    public let candidate: Float
    public var description: String {
      "node \(node) '\(name)' (\(op)) output \(output) differs first at [\(index)]: reference \(reference), candidate \(candidate)"
    }
  }

  /// Runs `graph` once on both backends, node by node, with every external value set from
  /// `externals` (host values; `candidateExternals` overrides them on the candidate), and
  /// returns the first node whose outputs differ beyond `atol + rtol·|reference|`, or nil
  /// when all agree.
  public static func firstDivergence(
    graph: Graph, reference: Backend, candidate: Backend, externals: [Value: [Float]],
    candidateExternals: [Value: [Float]]? = nil, atol: Float = 1e-4, rtol: Float = 1e-3
  ) throws -> Divergence? {
    let all = graph.nodes.indices.flatMap { i in graph.nodes[i].outputShapes.indices.map { Value(node: i, output: $0) } }
    func plan(on backend: Backend, _ values: [Value: [Float]]) throws -> Plan {
      var bindings: [Value: Tensor] = [:]
      for (v, x) in values { bindings[v] = try backend.makeTensor(graph.shape(v), values: x) }
      return try Plan(graph: graph, backend: backend, bindings: bindings, keep: all)
    }
    let a = try plan(on: reference, externals)
    let b = try plan(on: candidate, candidateExternals ?? externals)
    for (i, node) in graph.nodes.enumerated() where !node.op.isExternal {
      // Outputs start as NaN on both sides, so an element a kernel skips, or adds into, cannot
      // pass by matching the zeros of a fresh buffer. Views share their input's storage and
      // constants are filled when the plan is built: they keep their values.
      if !node.op.isView && node.op.kind != .constant {
        for o in node.outputShapes.indices {
          let v = Value(node: i, output: o)
          if let ta = a.tensors[v] { try reference.fill(ta, value: .nan) }
          if let tb = b.tensors[v] { try candidate.fill(tb, value: .nan) }
        }
      }
      try a.runNode(i)
      try b.runNode(i)
      for o in node.outputShapes.indices {
        let v = Value(node: i, output: o)
        guard let ta = a.tensors[v], let tb = b.tensors[v] else { continue }
        let (ra, rb) = (try reference.read(ta), try candidate.read(tb))
        if let k = ra.indices.first(where: { j in !(abs(ra[j] - rb[j]) <= atol + rtol * abs(ra[j])) }) {
          return Divergence(node: i, name: node.name, op: "\(node.op)", output: o, index: k, reference: ra[k], candidate: rb[k])
        }
      }
    }
    return nil
  }
}
