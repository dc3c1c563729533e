import KallimaCore
import KallimaGraph
import KallimaNN

/// Data parallelism inside the training plans: each rank runs the same plans on its own part
/// of the batch (`Plan.shard`), and the graph averages what must agree across ranks before it
/// is used: the gradients before the optimiser step, and the batch-norm running statistics
/// after the forward passes that updated them. They travel in buckets (one `allreduceMean`
/// of values flattened into a row) of up to `bucketBytes`, filled in the order the backward
/// pass produces the gradients: the plan launches each bucket's exchange as soon as its last
/// gradient is computed (`Graph.launchOrder`), and the ranks average it while the device
/// computes the next. Synchronised batch norm and BEGAN's k_t add small exchanges of their
/// own. With one rank the graph is left as it is.
enum DataParallel {
  /// The largest bucket, in bytes (a single value larger than this travels alone). Small
  /// enough that DCGAN-64's D (11 MB of gradients) and G (14 MB) each split into several
  /// buckets that overlap with backward work, large enough that a bucket's fixed cost (one
  /// MPI call, tens of microseconds on InfiniBand) stays a small part of its transfer.
  static let bucketBytes = 4 << 20

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

  /// The values averaged over the ranks, in buckets of up to `bucketBytes` taken in the
  /// order the graph computes the values: each bucket flattened into a [1, Σn] row, one
  /// `allreduceMean`, sliced and reshaped back.
  private static func averaged(_ g: Graph, _ values: [Value], what: String) throws -> [Value] {
    var means: [Value: Value] = [:]
    for (b, bucket) in buckets(values.map { ($0, g.shape($0).count) }).enumerated() {
      let rows = try bucket.map { try g.value(.reshape([1, g.shape($0).count]), [$0], name: "\(what) (row)") }
      let row = rows.count == 1 ? rows[0] : try g.value(.concat, rows, name: "\(what) (bucket \(b))")
      let mean = try g.value(.allreduceMean, [row], name: "\(what) (bucket \(b), mean over ranks)")
      var start = 0
      for v in bucket {
        let count = g.shape(v).count
        defer { start += count }
        let slice = rows.count == 1 ? mean : try g.value(.slice(start: start, count: count), [mean], name: "\(what) (slice)")
        means[v] = try g.value(.reshape(g.shape(v)), [slice], name: "\(what) (mean)")
      }
    }
    return values.map { means[$0]! }
  }

  /// `values` (with their element counts) grouped into buckets of at most `bucketBytes`,
  /// in the order of the nodes that compute them, each value in one bucket.
  static func buckets(_ values: [(Value, Int)], bytes: Int = bucketBytes) -> [[Value]] {
    var buckets: [[Value]] = []
    var filled = 0
    for (v, count) in values.sorted(by: { ($0.0.node, $0.0.output) < ($1.0.node, $1.0.output) }) {
      if buckets.isEmpty || (filled > 0 && filled + 4 * count > bytes) {
        buckets.append([])
        filled = 0
      }
      buckets[buckets.count - 1].append(v)
      filled += 4 * count
    }
    return buckets
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
