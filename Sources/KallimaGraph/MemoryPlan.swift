import KallimaCore

/// Device buffers for a graph's intermediate values, assigned by liveness: a buffer is
/// reused once the last node that reads its value has run (best fit by size). External
/// values (inputs, parameters) are bound by the caller; views share their source's buffer;
/// constants get slots of their own; values the caller wants to read stay live to the end.
public struct MemoryPlan {
  /// Buffer slot of each planned value (views map to their source's slot).
  public let slot: [Value: Int]
  /// Size of each slot in float32 elements.
  public let slotSizes: [Int]
  /// Bytes of all planned slots: the plan's peak device memory beyond external tensors.
  public var peakBytes: Int { slotSizes.reduce(0, +) * 4 }
  /// Bytes the same values would take with one buffer each.
  public let unsharedBytes: Int

  /// - Parameter order: the live nodes in the order a plan launches them (by default
  ///   `graph.launchOrder`); liveness is counted in that order.
  public init(graph: Graph, keep: Set<Value>, order: [Int]? = nil) {
    let nodes = graph.nodes
    let order = order ?? graph.launchOrder(live: graph.liveNodes(keep: keep))
    // Views resolve to the value that owns the storage.
    var root: [Value: Value] = [:]
    func owner(_ v: Value) -> Value { root[v] ?? v }
    for (i, node) in nodes.enumerated() where node.op.isView {
      root[Value(node: i, output: 0)] = owner(node.inputs[0])
    }
    // Last reading launch (position in `order`) of each owning value; kept values and
    // constants live forever.
    var lastUse: [Value: Int] = [:]
    for (t, i) in order.enumerated() {
      for v in nodes[i].inputs { lastUse[owner(v)] = max(lastUse[owner(v)] ?? t, t) }
    }
    for v in keep { lastUse[owner(v)] = Int.max }
    for (i, node) in nodes.enumerated() {
      if case .constant = node.op { lastUse[Value(node: i, output: 0)] = Int.max }
    }
    var slot: [Value: Int] = [:]
    var sizes: [Int] = []
    var free: [Int] = []
    var unshared = 0
    var releaseAt: [Int: [Int]] = [:]
    for (t, i) in order.enumerated() {
      let node = nodes[i]
      if !node.op.isExternal && !node.op.isView {
        for (o, shape) in node.outputShapes.enumerated() {
          let v = Value(node: i, output: o)
          let need = max(shape.count, 1)
          unshared += need * 4
          // In place when an elementwise op's input dies here; else best fit among free
          // slots; else a new slot. A constant is written once, when the plan is built, so
          // its slot must never have held anything that a run writes.
          var isConstant = false
          if case .constant = node.op { isConstant = true }
          let candidates = isConstant ? [] : free.enumerated().filter { sizes[$0.element] >= need }
          let s: Int
          if o == 0, node.op.isElementwise, let donor = node.inputs.first(where: { input in
            let r = owner(input)
            return lastUse[r] == t && slot[r] != nil && sizes[slot[r]!] >= need
              && graph.shape(input).count == shape.count && !(releaseAt[t]?.isEmpty ?? true)
              && releaseAt[t]!.contains(slot[r]!)
          }) {
            s = slot[owner(donor)]!
            releaseAt[t]!.removeAll { $0 == s }
          } else if let best = candidates.min(by: { sizes[$0.element] < sizes[$1.element] }) {
            s = best.element
            free.remove(at: best.offset)
          } else {
            s = sizes.count
            sizes.append(need)
          }
          slot[v] = s
          let end = lastUse[v] ?? t
          if end != Int.max { releaseAt[max(end, t), default: []].append(s) }
        }
      }
      if node.op.isView, let s = slot[owner(node.inputs[0])] { slot[Value(node: i, output: 0)] = s }
      free += releaseAt[t] ?? []
    }
    self.slot = slot
    self.slotSizes = sizes
    self.unsharedBytes = unshared
  }
}
