import KallimaCore

extension Graph {
  /// The order a plan launches the live nodes in: the graph's own order, except that every
  /// `allreduceMean`, with the glue whose results go only into it (a gradient bucket's
  /// reshapes and concat, the sums of a gradient's terms), runs as soon as its inputs are
  /// ready. A bucket's exchange then starts while the rest of the backward pass is still to
  /// be launched, and the device computes that rest while the ranks average the bucket.
  ///
  /// Only those nodes move, and only earlier; the others keep their order. A node never
  /// moves before an effect node (an optimiser step, an assign, a batch-norm update) that
  /// came before it in the graph and touches the storage of one of its inputs, so every
  /// read sees the values it saw in graph order. With no `allreduceMean` node the order is
  /// the graph's.
  public func launchOrder(live: [Bool]) -> [Int] {
    let n = nodes.count
    var consumers = [[Int]](repeating: [], count: n)
    for i in 0..<n where live[i] {
      for v in nodes[i].inputs { consumers[v.node].append(i) }
    }
    var early = [Bool](repeating: false, count: n)
    for i in stride(from: n - 1, through: 0, by: -1) where live[i] {
      let op = nodes[i].op
      switch op.kind {
      case .allreduceMean: early[i] = true
      case .reshape, .detach, .concat, .add: early[i] = !consumers[i].isEmpty && consumers[i].allSatisfy { early[$0] }
      default: break
      }
    }
    let inGraphOrder = (0..<n).filter { live[$0] }
    guard early.contains(true) else { return inGraphOrder }

    // What each moving node waits for: its inputs, and the effect nodes before it that
    // touch its inputs' storage (views resolved to the value that owns the storage).
    var root: [Value: Value] = [:]
    func owner(_ v: Value) -> Value { root[v] ?? v }
    for (i, node) in nodes.enumerated() where node.op.isView {
      root[Value(node: i, output: 0)] = owner(node.inputs[0])
    }
    let effects = inGraphOrder.filter { nodes[$0].op.hasEffect }.map { ($0, Set(nodes[$0].inputs.map(owner))) }
    var remaining = [Int](repeating: 0, count: n)
    var waiters = [[Int]](repeating: [], count: n)
    for i in inGraphOrder where early[i] {
      var waitsFor = Set(nodes[i].inputs.map(\.node))
      let storage = Set(nodes[i].inputs.map(owner))
      for (e, touched) in effects where e < i && !touched.isDisjoint(with: storage) { waitsFor.insert(e) }
      remaining[i] = waitsFor.count
      for d in waitsFor { waiters[d].append(i) }
    }

    var order: [Int] = []
    order.reserveCapacity(inGraphOrder.count)
    var placed = [Bool](repeating: false, count: n)
    func place(_ first: Int) {
      var ready = [first]
      while !ready.isEmpty {
        // The lowest index first, so the order is the same on every rank and every build.
        let k = ready.indices.min { ready[$0] < ready[$1] }!
        let i = ready.remove(at: k)
        order.append(i)
        placed[i] = true
        for w in waiters[i] {
          remaining[w] -= 1
          if remaining[w] == 0 && !placed[w] { ready.append(w) }
        }
      }
    }
    for i in inGraphOrder where !placed[i] && (!early[i] || remaining[i] == 0) { place(i) }
    precondition(order.count == inGraphOrder.count, "launch order: \(inGraphOrder.count - order.count) nodes never became ready")
    return order
  }
}
