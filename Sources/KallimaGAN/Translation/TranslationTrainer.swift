import KallimaCore
import KallimaGraph
import KallimaNN

/// Trains an image-to-image method (`Pix2Pix`, `CycleGAN`, `StarGAN`): one plan per phase of
/// an iteration, built once, sharing the networks' parameter buffers. Batches are gathered
/// (flipped, cropped) on the device, the pools and target permutations live there too, and
/// the statistics accumulate there: `readStatistics` is the only read, so no iteration moves
/// data between host and device. The learning-rate schedule reaches the plans as a kernel
/// argument.
public final class TranslationTrainer {
  public let backend: Backend
  public let method: any TranslationMethod
  public let batch: Int
  /// Each network's parameters (and its optimiser state), by the method's names; the
  /// method's device state ("pools") too.
  public let stores: [String: ParameterStore]
  /// The batch tensors the caller fills with the `.tensors` data source ("A", "B", "labels"),
  /// and the random inputs with `NoiseSource.input` ("alpha").
  public private(set) var inputs: [String: Tensor] = [:]
  /// One plan per phase (`TranslationMethod.phases`).
  public let plans: [Plan]
  /// The ranks of a data-parallel job (`SingleProcess` unless given): each runs this trainer
  /// on its own `batch` of a job batch of `batch · collective.size`, as `GANTrainer` does.
  public let collective: Collective
  /// Completed iterations: the optimiser steps, the data position and the random streams
  /// follow from it.
  public private(set) var iterations = 0
  public let statisticNames: [String]
  let accumulator: Tensor
  /// Runs of the phase behind each statistic since the last read.
  private var runsSinceRead: [Int]
  private let phaseOfStatistic: [Int?]

  /// - Parameters:
  ///   - seed: initialises the networks (each store from its own stream).
  ///   - noise: the random draws besides the data (StarGAN's α): device streams or feeds.
  ///   - collective: a data-parallel job's ranks: the gradients are averaged before every
  ///     optimiser step and the batch-norm running statistics after every plan; each rank
  ///     gathers its own slice of the job's batch and keeps its own image pools.
  ///   - synchronizedBatchNorm: batch norm's statistics over the job's whole batch.
  public init(
    backend: Backend, method: any TranslationMethod, batch: Int, data: TranslationData, seed: UInt64 = 0,
    noise: NoiseSource = .device(seed: 0), collective: Collective = SingleProcess(), synchronizedBatchNorm: Bool = false
  ) throws {
    guard batch >= 1 else {
      throw KallimaError.invalidArgument(op: method.name, message: "the batch needs at least one image, got \(batch)")
    }
    try method.validate()
    self.backend = backend
    self.method = method
    self.batch = batch
    self.collective = collective
    var stores: [String: ParameterStore] = [:]
    for (i, name) in (method.networks + method.stateStores).enumerated() {
      stores[name] = ParameterStore(backend: backend, seed: seed &* 16 &+ UInt64(i) &+ 1)
    }
    self.stores = stores
    statisticNames = method.statistics
    accumulator = try backend.zeros([1, statisticNames.count])
    let random = GANTrainer.RandomInputs(backend: backend, noise: noise)
    var inputs: [String: Tensor] = [:]
    // The phase that reports each statistic (nil: none does, e.g. G_GAN of pix2pix's L1-only baseline).
    var phaseOf = [Int?](repeating: nil, count: statisticNames.count)
    var plans: [Plan] = []
    for (p, _) in method.phases.enumerated() {
      let g = Graph()
      let b = GraphBinder(graph: g)
      let batchValues = try data.batch(b, backend: backend, batch: batch, shapes: method.shapes, inputs: &inputs)
      var context = TranslationContext(
        graph: g, binder: b, batch: batchValues, stores: stores, count: batch, random: random)
      context.ranks = collective.size
      context.synchronizedRanks = synchronizedBatchNorm && collective.size > 1 ? collective.size : nil
      let reported = try method.build(phase: p, context)
      try b.finish()
      try DataParallel.averageRunningStatistics(g, ranks: collective.size)
      var entries: [Int: Value] = [:]
      for (name, v) in reported {
        guard let i = statisticNames.firstIndex(of: name) else {
          throw KallimaError.invalidArgument(op: method.name, message: "phase \(p) reports \(name), which is not a statistic")
        }
        entries[i] = v
        phaseOf[i] = p
      }
      try GANTrainer.accumulate(g, b, accumulator, entries)
      let plan = try Plan(graph: g, backend: backend, bindings: b.bindings)
      plan.collective = collective
      plan.shard = Plan.Shard(rank: collective.rank, count: collective.size)
      plans.append(plan)
    }
    self.plans = plans
    self.inputs = inputs.merging(random.feeds) { a, _ in a }
    phaseOfStatistic = phaseOf
    runsSinceRead = [Int](repeating: 0, count: method.phases.count)
    try synchronizeParameters()
  }

  /// Rank 0's networks and optimiser state on every rank (at the start). The image pools
  /// stay each rank's own.
  public func synchronizeParameters() throws {
    try DataParallel.broadcastFromRankZero(method.networks.map { stores[$0]! }, backend: backend, collective: collective)
  }

  /// The names of the tensors (of every network) whose values differ between ranks: see
  /// `GANTrainer.ranksThatDiffer`.
  public func ranksThatDiffer() throws -> [String] {
    try DataParallel.ranksThatDiffer(
      method.networks.map { ($0, stores[$0]!) }, backend: backend, collective: collective)
  }

  /// The network `name`'s parameters.
  public func parameters(_ name: String) -> ParameterStore? { stores[name] }

  /// One iteration: every phase due at this iteration, in order. Enqueues and returns.
  public func step() throws {
    let factor = method.schedule.factor(iteration: iterations)
    for (p, phase) in method.phases.enumerated() where (iterations + 1) % phase.every == 0 {
      let plan = plans[p]
      plan.learningRateScale = factor
      plan.streamPosition = UInt64(iterations)
      plan.optimizerStep = (iterations + 1) / phase.every
      try plan.run()
      runsSinceRead[p] += 1
    }
    iterations += 1
  }

  /// Continues from a checkpoint taken after `iterations` iterations.
  public func restore(iterations: Int) {
    self.iterations = iterations
    for (p, phase) in method.phases.enumerated() { plans[p].restore(runs: UInt64(iterations / phase.every)) }
    runsSinceRead = runsSinceRead.map { _ in 0 }
  }

  /// Averages of each statistic over its phase's runs since the last call (one blocking
  /// read), then resets the accumulators. A statistic no phase reports (or whose phase has
  /// not run since) is absent.
  public func readStatistics() throws -> [String: Float] {
    var sums = try backend.read(accumulator)
    try collective.allreduceMean(&sums)
    try backend.fill(accumulator, value: 0)
    var result: [String: Float] = [:]
    for (i, name) in statisticNames.enumerated() {
      guard let phase = phaseOfStatistic[i], runsSinceRead[phase] > 0 else { continue }
      result[name] = sums[i] / Float(runsSinceRead[phase])
    }
    runsSinceRead = runsSinceRead.map { _ in 0 }
    return result
  }
}

extension TranslationMethod {
  public var stateStores: [String] { [] }
}
