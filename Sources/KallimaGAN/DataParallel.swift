import KallimaCore
import KallimaGraph
import KallimaNN

/// Data parallelism inside the training plans: each rank runs the same plans on its own part
/// of the batch (`Plan.shard`), and the graph averages what must agree across ranks before it
/// is used: the gradients before the optimiser step, and the batch-norm running statistics
/// after the forward passes that updated them. Each travels as one bucket (one
/// `allreduceMean` of every value flattened into a row; the translation methods use one
/// gradient bucket per network), so the round trips do not grow with the number of layers;
/// synchronised batch norm and BEGAN's k_t add small ones of their own. With one rank the
/// graph is left as it is.
enum DataParallel {
  /// `grads` averaged over `ranks` (the gradient of the job's mean loss: each rank's loss is
  /// the mean over its own part of the batch).
  static func averaged(_ g: Graph, _ grads: [String: Value], ranks: Int, what: String) throws -> [String: Value] {
    guard ranks > 1, !grads.isEmpty else { return grads }
    let names = grads.keys.sorted()
    let means = try averaged(g, names.map { grads[$0]! }, what: what)
    return Dictionary(uniqueKeysWithValues: zip(names, means))
  }

  /// Appends, at the end of the graph, the average over `ranks` of every running mean and
  /// variance a batch-norm node of the graph updates, written back in place: with per-rank
  /// batch statistics the ranks' running statistics would otherwise drift apart.
  static func averageRunningStatistics(_ g: Graph, ranks: Int) throws {
    guard ranks > 1 else { return }
    var buffers: [Value] = []
    for node in g.nodes {
      guard case .batchnormTrain = node.op else { continue }
      for v in node.inputs[3...4] where !buffers.contains(v) { buffers.append(v) }
    }
    guard !buffers.isEmpty else { return }
    let means = try averaged(g, buffers, what: "batch-norm running statistics")
    for (buffer, mean) in zip(buffers, means) {
      try g.add(.assign, [buffer, mean], name: "running statistics, mean over ranks")
    }
  }

  /// The values averaged over the ranks through one bucket: flattened into a [1, Σn] row,
  /// one `allreduceMean`, sliced and reshaped back.
  private static func averaged(_ g: Graph, _ values: [Value], what: String) throws -> [Value] {
    let rows = try values.map { try g.value(.reshape([1, g.shape($0).count]), [$0], name: "\(what) (row)") }
    let bucket = try g.value(.concat, rows, name: "\(what) (bucket)")
    let mean = try g.value(.allreduceMean, [bucket], name: "\(what) (mean over ranks)")
    var start = 0
    return try values.map { v in
      let count = g.shape(v).count
      defer { start += count }
      let slice = try g.value(.slice(start: start, count: count), [mean], name: "\(what) (slice)")
      return try g.value(.reshape(g.shape(v)), [slice], name: "\(what) (mean)")
    }
  }
}

extension GANTrainer {
  /// Rank 0's networks, optimiser and objective state on every rank (at the start: ranks on
  /// different devices need not initialise to the same bits).
  public func synchronizeParameters() throws {
    try DataParallel.broadcastFromRankZero(
      [generatorParameters, discriminatorParameters, objectiveParameters] + (emaParameters.map { [$0] } ?? []),
      backend: backend, collective: collective)
  }

  /// The names of the tensors whose values differ between ranks (none while the ranks stay
  /// in step): each tensor's sum and sum of squares, in Double, compared by their minimum and
  /// maximum over the ranks. One read of every tensor and two small allreduces: for every
  /// few hundred steps, not every step.
  public func ranksThatDiffer() throws -> [String] {
    try DataParallel.ranksThatDiffer(
      [("G", generatorParameters), ("D", discriminatorParameters), ("objective", objectiveParameters)]
        + (emaParameters.map { [("EMA", $0)] } ?? []),
      backend: backend, collective: collective)
  }
}

extension DataParallel {
  /// Every tensor of `stores` replaced by rank 0's.
  static func broadcastFromRankZero(_ stores: [ParameterStore], backend: Backend, collective: Collective) throws {
    guard collective.size > 1 else { return }
    for entry in stores.flatMap(\.entries) {
      var values = try backend.read(entry.tensor)
      try collective.broadcast(&values, root: 0)
      try backend.write(values, to: entry.tensor)
    }
  }

  /// The names ("store tensor") of the tensors of `stores` whose values differ between ranks.
  static func ranksThatDiffer(_ stores: [(String, ParameterStore)], backend: Backend, collective: Collective) throws -> [String] {
    guard collective.size > 1 else { return [] }
    var names: [String] = []
    var sums: [Double] = []
    for (network, store) in stores {
      for entry in store.entries {
        let values = try backend.read(entry.tensor)
        names.append("\(network) \(entry.name)")
        sums.append(values.reduce(0) { $0 + Double($1) })
        sums.append(values.reduce(0) { $0 + Double($1) * Double($1) })
      }
    }
    let (low, high) = try collective.spread(sums)
    return names.indices.filter { low[2 * $0] != high[2 * $0] || low[2 * $0 + 1] != high[2 * $0 + 1] }.map { names[$0] }
  }
}
