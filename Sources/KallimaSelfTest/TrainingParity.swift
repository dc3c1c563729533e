import KallimaCPU
import KallimaCore
import KallimaGAN

/// A few DCGAN training steps on the CPU reference and on a candidate backend from the same
/// seeds: every logged statistic of every step, and every tensor of both parameter stores
/// after the last step (weights, batch-norm parameters and running statistics, Adam's
/// exp_avg and exp_avg_sq), compared relative to their own size.
public struct TrainingParity: Sendable {
  /// The model: a narrow DCGAN, 32x32 RGB, nz 16, widths 8, batch 4.
  public static let config = DCGANConfig(nz: 16, ngf: 8, ndf: 8, channels: 3, imageSize: 32)
  public static let batch = 4

  /// |candidate − CPU| / |CPU| of each statistic (loss_D, loss_G, D(x), D(G(z))) of each
  /// step. Measured at most 1.2e-7 on PoCL 3.1 (2-core x86): the bound leaves a margin of 17.
  public static let statisticBound = 2e-6
  /// max |candidate − CPU| / max |CPU| over a tensor, so that exp_avg_sq (largest values
  /// 2.8e-6 to 5e-3 per tensor) is held to the same relative standard as the weights.
  /// Measured on PoCL: weights 1.5e-6, running statistics 5.8e-7, exp_avg 8.9e-7,
  /// exp_avg_sq 1.2e-6: the bound leaves a margin of 13.
  public static let tensorBound = 2e-5

  /// One compared quantity: a statistic at a step, or a stored tensor.
  public struct Entry: Sendable {
    public let name: String
    public let error: Double
    public let bound: Double
    public var passed: Bool { error <= bound }
  }

  public let steps: Int
  public let statistics: [Entry]
  public let tensors: [Entry]

  public var entries: [Entry] { statistics + tensors }
  public var failures: [Entry] { entries.filter { !$0.passed } }
  public var passed: Bool { failures.isEmpty }

  /// The worst entry of each kind: statistics, parameter, running_mean, running_var,
  /// exp_avg, exp_avg_sq.
  public var worstByKind: [(kind: String, entry: Entry)] {
    var worst: [String: Entry] = [:]
    for e in statistics where !(e.error <= worst["statistics"]?.error ?? -1) { worst["statistics"] = e }
    for e in tensors {
      let kind = ["exp_avg_sq", "exp_avg", "running_mean", "running_var"].first { e.name.hasSuffix("." + $0) } ?? "parameter"
      if !(e.error <= worst[kind]?.error ?? -1) { worst[kind] = e }
    }
    return worst.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  /// Trains `steps` steps on the CPU reference and on `candidate` and compares them.
  public static func run(on candidate: Backend, steps: Int = 5) throws -> TrainingParity {
    var statistics: [[GANStatistics]] = []
    var stores: [[String: [Float]]] = []
    for backend: Backend in [CPUBackend(), candidate] {
      let trainer = try GANTrainer(backend: backend, config: config, batch: batch, seed: 5, noise: .device(seed: 9))
      let shape = trainer.real.shape
      try backend.write(
        (0..<shape.count).map { Philox.uniform(stream: RandomStream(seed: 77), index: $0, low: -1, high: 1) },
        to: trainer.real)
      var perStep: [GANStatistics] = []
      for _ in 0..<steps {
        try trainer.step()
        perStep.append(try trainer.readStatistics())
      }
      statistics.append(perStep)
      var values: [String: [Float]] = [:]
      for (key, store) in [("G", trainer.generatorParameters), ("D", trainer.discriminatorParameters)] {
        for e in store.entries { values["\(key) \(e.name)"] = try backend.read(e.tensor) }
      }
      stores.append(values)
    }
    var statisticEntries: [Entry] = []
    for (step, (cpu, other)) in zip(statistics[0], statistics[1]).enumerated() {
      for (name, a, e) in [
        ("loss_D", other.lossD, cpu.lossD), ("loss_G", other.lossG, cpu.lossG), ("D(x)", other.dReal, cpu.dReal),
        ("D(G(z))", other.dFake, cpu.dFake),
      ] {
        statisticEntries.append(
          Entry(name: "step \(step + 1) \(name)", error: relative(Double(abs(a - e)), Double(abs(e))), bound: statisticBound))
      }
    }
    var tensorEntries: [Entry] = []
    for name in stores[0].keys.sorted() {
      let expected = stores[0][name]!
      guard let actual = stores[1][name], actual.count == expected.count else {
        tensorEntries.append(Entry(name: name, error: .infinity, bound: tensorBound))
        continue
      }
      let scale = Double(expected.map(abs).max() ?? 0)
      let diff = zip(actual, expected).reduce(0.0) { m, p in
        let d = Double(abs(p.0 - p.1))
        return d <= m ? m : (d.isNaN ? .infinity : d)
      }
      tensorEntries.append(Entry(name: name, error: relative(diff, scale), bound: tensorBound))
    }
    return TrainingParity(steps: steps, statistics: statisticEntries, tensors: tensorEntries)
  }

  /// diff / scale; a tensor that is all zeros on the CPU compares nothing, so it fails.
  static func relative(_ diff: Double, _ scale: Double) -> Double {
    guard scale > 0 else { return .infinity }
    let r = diff / scale
    return r.isNaN ? .infinity : r
  }
}
