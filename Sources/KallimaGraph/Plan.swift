import Foundation
import KallimaCore

/// A graph compiled for one backend: buffers allocated once by the memory plan, then a flat
/// list of op launches with their tensors bound. `run()` enqueues every launch and returns;
/// nothing waits on the device unless a value is read.
public final class Plan {
  public let graph: Graph
  public let backend: Backend
  public let memory: MemoryPlan
  /// The tensor behind every value (external ones as bound).
  public private(set) var tensors: [Value: Tensor] = [:]
  /// The launches in order, each with the exchanges to finish before it (those whose
  /// averages it reads).
  private var steps: [(node: Int, run: () throws -> Void, finishes: [Exchange])] = []
  /// The live nodes in launch order (`Graph.launchOrder`).
  public let order: [Int]
  /// One per `allreduceMean` node, by node.
  var exchanges: [Int: Exchange] = [:]
  /// Completed runs; random nodes draw the next block of their stream each run.
  public private(set) var runs: UInt64 = 0
  /// The 1-based step every optimiser update node uses (Adam's bias correction, EMA's
  /// warm-up); nil: `runs + 1`. Set it before a run when several plans share one optimiser
  /// clock (lazy regularisation's two D plans) or the trainer counts steps itself.
  public var optimizerStep: Int?
  /// Multiplies the learning rate of every optimiser update node (Adam, RMSprop, SGD) at
  /// launch: learning-rate decay without rebuilding the plan. A kernel argument: no traffic.
  public var learningRateScale: Double = 1
  /// The step optimiser nodes use in the coming run.
  var currentStep: Int { optimizerStep ?? Int(runs) + 1 }
  /// Where random nodes and data gathering are in their streams (run i draws block i):
  /// `runs` unless set. Plans that take turns at one job (a D step with and without a lazy
  /// regulariser) set it to their shared count, so together they draw one stream.
  public var streamPosition: UInt64?
  var position: UInt64 { streamPosition ?? runs }
  /// The ranks `allreduceMean` nodes average over (a single process unless set).
  public var collective: Collective = SingleProcess() {
    didSet { queue = nil }
  }
  /// Whether the exchanges of `allreduceMean` nodes run on a thread of their own while the
  /// plan goes on launching (when the collective accepts calls from any thread), or block
  /// the launching thread one by one. Either way the values are the same.
  public var overlapsCommunication = true {
    didSet { queue = nil }
  }
  /// The thread this plan's exchanges run on, made at the first exchange.
  var queue: CollectiveQueue?
  /// Seconds spent in the collective's reductions of this plan's exchanges since the plan
  /// was made (on whichever thread ran them): the communication itself, without the
  /// staging transfers or the wait for the device to compute what is exchanged.
  public var communicationSeconds: Double { exchanges.values.reduce(0) { $0 + $1.seconds } }
  /// This rank's part of a data-parallel job, when the plan is one of `count` replicas, each
  /// training on its own `1/count` of a batch `count` times the plan's: data gathering and
  /// random nodes take rank `rank`'s slice of what a single plan of the whole batch would
  /// draw (the same values, split), so the job's batch is the single plan's.
  public var shard = Shard(rank: 0, count: 1)

  public struct Shard: Equatable, Sendable {
    public var rank: Int
    public var count: Int
    public init(rank: Int, count: Int) {
      precondition(count >= 1 && (0..<count).contains(rank), "rank \(rank) of \(count)")
      (self.rank, self.count) = (rank, count)
    }

    /// The first counter of a random node's draw of `elements` values at stream position
    /// `position`. A single plan of the whole batch draws block b of its fill from counter
    /// position·blocks + b; rank r's slice starts at element r·elements, block r·elements/4,
    /// exactly when `elements` is a multiple of 4 (a Philox block holds 4 values). Otherwise
    /// the ranks draw disjoint streams of their own (independent, not the single plan's).
    func counter(position: UInt64, elements: Int) -> UInt64 {
      let blocks = UInt64((elements + 3) / 4)
      guard count > 1 else { return position &* blocks }
      if elements % 4 == 0 {
        return position &* UInt64(elements / 4 * count) &+ UInt64(rank * elements / 4)
      }
      return (position &* UInt64(count) &+ UInt64(rank)) &* blocks
    }

    /// The position in the data order of this rank's first image at stream position
    /// `position`, `batch` images per rank.
    public func imagePosition(_ position: UInt64, batch: Int) -> UInt64 {
      (position &* UInt64(count) &+ UInt64(rank)) &* UInt64(batch)
    }
  }

  /// - Parameters:
  ///   - bindings: a tensor for every input and parameter node.
  ///   - keep: values the caller will read after a run (never reused for others).
  public init(graph: Graph, backend: Backend, bindings: [Value: Tensor], keep: [Value] = []) throws {
    self.graph = graph
    self.backend = backend
    let live = graph.liveNodes(keep: Set(keep))
    self.order = graph.launchOrder(live: live)
    self.memory = MemoryPlan(graph: graph, keep: Set(keep), order: order)
    let buffers = try memory.slotSizes.map { try backend.makeBuffer(count: $0) }
    for (i, node) in graph.nodes.enumerated() {
      for (o, shape) in node.outputShapes.enumerated() {
        let v = Value(node: i, output: o)
        if node.op.isView {
          // A view shares its source's storage, external or planned.
          guard let source = tensors[node.inputs[0]] else { continue }
          tensors[v] = Tensor(shape: shape, buffer: source.buffer)
        } else if node.op.isExternal {
          guard let t = bindings[v] else {
            throw KallimaError.invalidArgument(op: "plan", message: "\(node.op) node \(i) '\(node.name)' \(shape) is not bound")
          }
          guard t.shape == shape else {
            throw KallimaError.shapeMismatch(
              op: "plan", message: "node \(i) '\(node.name)' is \(shape) but its bound tensor is \(t.shape)")
          }
          tensors[v] = t
        } else if let s = memory.slot[v] {
          tensors[v] = Tensor(shape: shape, buffer: buffers[s])
        } else if node.op.isView, let source = tensors[node.inputs[0]] {
          // A view of an external tensor (targets reshaped by a loss's derivative rule).
          tensors[v] = try source.reshaped(shape)
        }
      }
      if case .constant(let c) = node.op, let t = tensors[Value(node: i, output: 0)] { try backend.fill(t, value: c) }
    }
    var owner: [Value: Value] = [:]
    for (i, node) in graph.nodes.enumerated() where node.op.isView {
      owner[Value(node: i, output: 0)] = owner[node.inputs[0]] ?? node.inputs[0]
    }
    for i in order {
      guard let step = try makeStep(i) else { continue }
      let reads = Set(graph.nodes[i].inputs.map { owner[$0] ?? $0 })
      let finishes = reads.compactMap { $0.output == 0 ? exchanges[$0.node] : nil }.sorted { $0.node < $1.node }
      steps.append((i, step, finishes))
    }
  }

  public func tensor(_ v: Value) -> Tensor { tensors[v]! }

  /// GEMM-shaped FLOPs of one run (nodes the plan executes only).
  public var flops: Double { steps.reduce(0) { $0 + graph.flops(ofNode: $1.node) } }

  /// Enqueues one whole pass over the graph. Returns with every exchange done (its average
  /// written back, or its write-back enqueued), so the caller may use the collective again.
  public func run() throws {
    for s in steps { try launch(s) }
    try finishExchanges()
    runs += 1
  }

  private func launch(_ s: (node: Int, run: () throws -> Void, finishes: [Exchange])) throws {
    for e in s.finishes { try finish(e) }
    try s.run()
  }

  /// Runs once and returns the time per node, longest first: device time from kernel events
  /// when the backend records them (an OpenCL backend made with `profiling: true`), else
  /// wall time with a barrier after each node.
  public func profile() throws -> [(node: Int, name: String, seconds: Double)] {
    try profileWithKernels().nodes
  }

  /// `profile()`'s node times, and from the same run the device time per launch name
  /// (kernel, or GEMM with its shape), slowest first: where a node's time goes. The
  /// kernel list is empty when the backend cannot time kernels.
  public func profileWithKernels() throws -> (
    nodes: [(node: Int, name: String, seconds: Double)], kernels: [(name: String, seconds: Double, launches: Int)]
  ) {
    if let timing = backend as? KernelTiming, timing.canTimeKernels {
      timing.startKernelTimings()
      var ranges: [(Int, Range<Int>)] = []
      for s in steps {
        let first = timing.recordedKernelCount
        try launch(s)
        ranges.append((s.node, first..<timing.recordedKernelCount))
      }
      try finishExchanges()
      let kernels = try timing.stopKernelTimings()
      runs += 1
      let nodes = ranges.map { node, range in
        let n = graph.nodes[node]
        return (node, "\(n.name) (\(n.op))", kernels[range].reduce(0) { $0 + $1.seconds })
      }.sorted { $0.2 > $1.2 }
      var totals: [String: (seconds: Double, launches: Int)] = [:]
      for k in kernels where !k.name.hasSuffix(" start") {
        totals[k.name, default: (0, 0)].seconds += k.seconds
        totals[k.name, default: (0, 0)].launches += 1
      }
      let byName = totals.map { (name: $0.key, seconds: $0.value.seconds, launches: $0.value.launches) }
      return (nodes, byName.sorted { $0.seconds > $1.seconds })
    }
    try backend.synchronize()
    var times: [(Int, String, Double)] = []
    for s in steps {
      let start = DispatchTime.now().uptimeNanoseconds
      try launch(s)
      try backend.synchronize()
      let t = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      let node = graph.nodes[s.node]
      times.append((s.node, "\(node.name) (\(node.op))", t))
    }
    try finishExchanges()
    runs += 1
    return (times.sorted { $0.2 > $1.2 }, [])
  }

  /// The launches of node `index` only (validation mode steps through a plan this way).
  func runNode(_ index: Int) throws {
    for s in steps where s.node == index { try launch(s) }
    try finishExchanges()
  }

  /// Continues a run count saved earlier (resuming training): random streams, data order and
  /// optimiser step counts all derive from it.
  public func restore(runs: UInt64) { self.runs = runs }

  private func makeStep(_ i: Int) throws -> (() throws -> Void)? {
    let node = graph.nodes[i]
    let be = backend
    let x = node.inputs.map { tensors[$0]! }
    let outs = node.outputShapes.indices.map { tensors[Value(node: i, output: $0)] }
    switch node.op {
    case .input, .parameter, .constant, .reshape, .detach:
      return nil
    case .randomNormal(let seed, let mean, let std):
      let y = outs[0]!
      return { [unowned self] in
        let counter = self.shard.counter(position: self.position, elements: y.count)
        try be.random_normal(y, stream: RandomStream(seed: seed, counter: counter), mean: mean, std: std)
      }
    case .randomUniform(let seed, let low, let high):
      let y = outs[0]!
      return { [unowned self] in
        let counter = self.shard.counter(position: self.position, elements: y.count)
        try be.random_uniform(y, stream: RandomStream(seed: seed, counter: counter), low: low, high: high)
      }
    case .dropoutMask(let seed, let p):
      let y = outs[0]!
      return { [unowned self] in
        let counter = self.shard.counter(position: self.position, elements: y.count)
        try be.dropout_mask(y, stream: RandomStream(seed: seed, counter: counter), p: p)
      }
    case .assign: return { try be.scale(x[1], alpha: 1, y: x[0]) }
    case .clamp(let lo, let hi): return { try be.clamp_fwd(x[0], y: outs[0]!, min: lo, max: hi) }
    case .clampBwd(let lo, let hi): return { try be.clamp_bwd(x: x[0], dy: x[1], dx: outs[0]!, min: lo, max: hi) }
    case .mulScalar: return { try be.mul_scalar(x[0], x[1], y: outs[0]!) }
    case .transpose01: return { try be.transpose01(x[0], y: outs[0]!) }
    case .allreduceMean:
      let exchange = Exchange(node: i, input: x[0], output: outs[0]!)
      exchanges[i] = exchange
      return { [unowned self] in
        if self.collective.size == 1 {
          try be.scale(x[0], alpha: 1, y: outs[0]!)
        } else {
          try self.start(exchange)
        }
      }
    case .divScalar: return { try be.div_scalar(x[0], x[1], y: outs[0]!) }
    case .reflectionPad2d(let p): return { try be.reflection_pad2d_fwd(x: x[0], y: outs[0]!, padding: p) }
    case .reflectionPad2dBwd(let p): return { try be.reflection_pad2d_bwd(dy: x[0], dx: outs[0]!, padding: p) }
    case .upsampleNearest(let k): return { try be.upsample_nearest2d_fwd(x: x[0], y: outs[0]!, scale: k) }
    case .upsampleNearestBwd(let k): return { try be.upsample_nearest2d_bwd(dy: x[0], dx: outs[0]!, scale: k) }
    case .conv2d(let p):
      let bias = x.count == 3 ? x[2] : nil
      return { try be.conv2d_fwd(x: x[0], weight: x[1], bias: bias, y: outs[0]!, params: p) }
    case .conv2dBwdData(let p, _):
      return { try be.conv2d_bwd_data(dy: x[0], weight: x[1], dx: outs[0]!, params: p) }
    case .conv2dBwdWeight(let p, _):
      return { try be.conv2d_bwd_weight(x: x[0], dy: x[1], dweight: outs[0]!, params: p) }
    case .convTranspose2d(let p):
      let bias = x.count == 3 ? x[2] : nil
      return { try be.conv_transpose2d_fwd(x: x[0], weight: x[1], bias: bias, y: outs[0]!, params: p) }
    case .convTranspose2dBwdData(let p, _):
      return { try be.conv_transpose2d_bwd_data(dy: x[0], weight: x[1], dx: outs[0]!, params: p) }
    case .convTranspose2dBwdWeight(let p, _):
      return { try be.conv_transpose2d_bwd_weight(x: x[0], dy: x[1], dweight: outs[0]!, params: p) }
    case .batchnormTrain(let momentum, let eps):
      return {
        try be.batchnorm_fwd_train(
          x: x[0], gamma: x[1], beta: x[2], y: outs[0]!, saveMean: outs[1]!, saveInvstd: outs[2]!,
          runningMean: x[3], runningVar: x[4], momentum: momentum, eps: eps)
      }
    case .batchnormEval(let eps):
      return {
        try be.batchnorm_fwd_eval(
          x: x[0], gamma: x[1], beta: x[2], runningMean: x[3], runningVar: x[4], y: outs[0]!, eps: eps)
      }
    case .gatherImages(let order, let batch, let flip):
      // A byte source (a dataset kept as 8-bit images) converts as it gathers.
      return { [unowned self] in
        let position = self.shard.imagePosition(self.position, batch: batch)
        if x[0].buffer is ByteBuffer {
          try be.gather_images_u8(
            source: x[0], y: outs[0]!, order: order, position: position, flip: flip, streamed: false)
        } else {
          try be.gather_images(source: x[0], y: outs[0]!, order: order, position: position, flip: flip)
        }
      }
    case .mismatchRows: return { try be.mismatch_rows(x: x[0], y: outs[0]!) }
    case .randomCrop(let seed, _, _):
      return { [unowned self] in
        let position = self.shard.imagePosition(self.position, batch: x[0].shape[0])
        try be.random_crop(x: x[0], y: outs[0]!, seed: seed, position: position)
      }
    case .imagePool(let seed):
      return { [unowned self] in
        // Each rank keeps a pool of its own fakes and draws from its own part of the stream.
        let position = self.shard.imagePosition(self.position, batch: x[1].shape[0])
        try be.image_pool(pool: x[0], x: x[1], y: outs[0]!, seed: seed, position: position)
      }
    case .maxPool2d(let p): return { try be.max_pool2d_fwd(x: x[0], y: outs[0]!, params: p) }
    case .maxPool2dBwd(let p): return { try be.max_pool2d_bwd(x: x[0], dy: x[1], dx: outs[0]!, params: p) }
    case .avgPool2d(let p, let include):
      return { try be.avg_pool2d_fwd(x: x[0], y: outs[0]!, params: p, countIncludePad: include) }
    case .avgPool2dBwd(let p, let include, _):
      return { try be.avg_pool2d_bwd(dy: x[0], dx: outs[0]!, params: p, countIncludePad: include) }
    case .upsampleBilinear: return { try be.upsample_bilinear2d_fwd(x: x[0], y: outs[0]!) }
    case .upsampleBilinearBwd: return { try be.upsample_bilinear2d_bwd(dy: x[0], dx: outs[0]!) }
    case .batchnormBwd:
      return {
        try be.batchnorm_bwd(
          dy: x[0], x: x[1], gamma: x[2], saveMean: x[3], saveInvstd: x[4], dx: outs[0]!, dgamma: outs[1]!,
          dbeta: outs[2]!)
      }
    case .activation(let a):
      return { try be.activation_fwd(a, x: x[0], y: outs[0]!) }
    case .activationBwd(let a):
      return { try be.activation_bwd(a, x: x[0], y: x[1], dy: x[2], dx: outs[0]!) }
    case .add: return { try be.add(x[0], x[1], y: outs[0]!) }
    case .mul: return { try be.mul(x[0], x[1], y: outs[0]!) }
    case .scale(let a): return { try be.scale(x[0], alpha: a, y: outs[0]!) }
    case .addChannel: return { try be.add_channel(x[0], bias: x[1], y: outs[0]!) }
    case .mulChannel: return { try be.mul_channel(x[0], scale: x[1], y: outs[0]!) }
    case .channelSum: return { try be.channel_sum(x[0], y: outs[0]!) }
    case .channelBroadcast: return { try be.channel_sum_bwd(dy: x[0], dx: outs[0]!) }
    case .matmul(let ta, let tb, let alpha):
      return { try be.matmul(x[0], transposeA: ta, x[1], transposeB: tb, c: outs[0]!, alpha: alpha, beta: 0) }
    case .reduceSum(let alpha): return { try be.reduce_sum(x[0], y: outs[0]!, alpha: alpha) }
    case .scalarBroadcast(_, let alpha):
      return { try be.reduce_sum_bwd(dy: x[0].reshaped([1]), alpha: alpha, dx: outs[0]!) }
    case .softmaxCrossEntropy:
      return { try be.softmax_cross_entropy_fwd(logits: x[0], targets: x[1], loss: outs[0]!) }
    case .softmaxCrossEntropyBwd:
      return { try be.softmax_cross_entropy_bwd(logits: x[0], targets: x[1], dloss: x[2], dlogits: outs[0]!) }
    case .softmax: return { try be.softmax_fwd(x[0], y: outs[0]!) }
    case .bceLogits: return { try be.bce_logits_fwd(logits: x[0], targets: x[1], loss: outs[0]!) }
    case .bceLogitsBwd: return { try be.bce_logits_bwd(logits: x[0], targets: x[1], dloss: x[2], dlogits: outs[0]!) }
    case .mse: return { try be.mse_fwd(x: x[0], target: x[1], loss: outs[0]!) }
    case .mseBwd: return { try be.mse_bwd(x: x[0], target: x[1], dloss: x[2], dx: outs[0]!) }
    case .l1: return { try be.l1_fwd(x: x[0], target: x[1], loss: outs[0]!) }
    case .l1Bwd: return { try be.l1_bwd(x: x[0], target: x[1], dloss: x[2], dx: outs[0]!) }
    case .concat: return { try be.concat_channels(x, y: outs[0]!) }
    case .slice(let start, _): return { try be.slice_channels(x[0], start: start, y: outs[0]!) }
    case .channelPad(let start, _): return { try be.slice_channels_bwd(dy: x[0], start: start, dx: outs[0]!) }
    case .accumulate: return { try be.add(x[0], x[1], y: x[0]) }
    case .adamUpdate(let h):
      return { [unowned self] in
        var scaled = h
        scaled.lr *= self.learningRateScale
        try be.adam_step(param: x[0], grad: x[1], m: x[2], v: x[3], step: self.currentStep, params: scaled)
      }
    case .sgdUpdate(let h):
      return { [unowned self] in
        var scaled = h
        if self.learningRateScale != 1 { scaled.lr = Float(Double(h.lr) * self.learningRateScale) }
        try be.sgd_step(param: x[0], grad: x[1], momentumBuffer: h.momentum != 0 ? x[2] : nil, params: scaled)
      }
    case .rmspropUpdate(let h):
      let buffer = h.momentum > 0 ? x[3] : nil
      let average = h.centered ? x[h.momentum > 0 ? 4 : 3] : nil
      return { [unowned self] in
        var scaled = h
        scaled.lr *= self.learningRateScale
        try be.rmsprop_step(
          param: x[0], grad: x[1], squareAvg: x[2], momentumBuffer: buffer, gradAvg: average, params: scaled)
      }
    case .emaUpdate(let beta, let startStep):
      return { [unowned self] in
        try be.ema_update(ema: x[0], param: x[1], beta: self.currentStep <= startStep ? 0 : beta)
      }
    case .batchnormEvalBwd(let eps):
      return {
        try be.batchnorm_bwd_eval(
          dy: x[0], x: x[1], gamma: x[2], runningMean: x[3], runningVar: x[4], dx: outs[0]!, dgamma: outs[1]!,
          dbeta: outs[2]!, eps: eps)
      }
    case .instanceNorm(let eps):
      return {
        try be.instancenorm_fwd(
          x: x[0], gamma: nil, beta: nil, y: outs[0]!, saveMean: outs[1]!, saveInvstd: outs[2]!, eps: eps)
      }
    case .instanceNormBwd:
      return {
        try be.instancenorm_bwd(
          dy: x[0], x: x[1], gamma: nil, saveMean: x[2], saveInvstd: x[3], dx: outs[0]!, dgamma: nil, dbeta: nil)
      }
    case .maxPool2dGather(let p): return { try be.max_pool2d_gather(x: x[0], g: x[1], y: outs[0]!, params: p) }
    }
  }
}
