import Foundation
import KallimaCore
import KallimaGAN
import KallimaGraph

/// End-to-end image-to-image training throughput: whole pix2pix or CycleGAN iterations
/// replayed from their plans with the reference networks (unet_<size> or resnet blocks,
/// the 70x70 PatchGAN), timed with one device barrier after the last iteration. Random
/// batches are written once (`TranslationData.tensors`), so no data moves per iteration.
public struct TranslationBenchmark {
  public enum Method: String, Sendable { case pix2pix, cyclegan }
  public var method: Method
  public var size: Int
  public var batch: Int
  public var ngf: Int
  public var ndf: Int
  public var steps: Int
  public var warmupSteps: Int

  public init(method: Method, size: Int, batch: Int = 1, ngf: Int = 64, ndf: Int = 64, steps: Int, warmupSteps: Int = 2) {
    (self.method, self.size, self.batch, self.ngf, self.ndf) = (method, size, batch, ngf, ndf)
    (self.steps, self.warmupSteps) = (steps, warmupSteps)
  }

  public struct Report: Codable {
    public var method: String
    public var backend: String
    public var imageSize: Int
    public var batch: Int
    public var generator: String
    public var steps: Int
    public var secondsPerStep: Double
    public var imagesPerSecond: Double
    public var flopsPerStep: Double
    public var gflops: Double
    public var hostWaitsPerStep: Double
    public var bytesToDevicePerStep: Double
    public var peakPlanBytes: Int
    public var setupSeconds: Double
    public var topNodes: [DCGANBenchmark.NodeTime]
  }

  /// The method with the reference's networks at this size (3-channel images).
  func makeMethod() throws -> (any TranslationMethod, String) {
    switch method {
    case .pix2pix:
      let name = "unet_\(size)"
      let g = try TranslationNetworks.generator(name, ngf: ngf, norm: .batch, dropout: true, height: size, width: size)
      let d = try TranslationNetworks.discriminator("basic", inputChannels: 6, ndf: ndf, norm: .batch, height: size, width: size)
      return (Pix2Pix(generator: g, discriminator: d, imageA: [3, size, size], imageB: [3, size, size]), name)
    case .cyclegan:
      let name = size >= 256 ? "resnet_9blocks" : "resnet_6blocks"
      let g = { try TranslationNetworks.generator(name, ngf: self.ngf, norm: .instance, height: self.size, width: self.size) }
      let d = { try TranslationNetworks.discriminator("basic", inputChannels: 3, ndf: self.ndf, norm: .instance, height: self.size, width: self.size) }
      return (
        CycleGAN(
          generatorA: try g(), generatorB: try g(), discriminatorA: try d(), discriminatorB: try d(), imageA: [3, size, size],
          imageB: [3, size, size]), name
    )
    }
  }

  public func run(on backend: Backend) throws -> Report {
    let setupStart = Timing.now()
    let (m, name) = try makeMethod()
    let trainer = try TranslationTrainer(backend: backend, method: m, batch: batch, data: .tensors, seed: 1)
    for (i, t) in trainer.inputs.sorted(by: { $0.key < $1.key }).enumerated() {
      try backend.random_uniform(t.value, stream: RandomStream(seed: 3 + UInt64(i)), low: -1, high: 1)
    }
    let beforeWarmup = Timing.now() - setupStart
    let (perStep, traffic, warmup) = try Timing.trainingSteps(on: backend, warmup: warmupSteps, steps: steps) { try trainer.step() }
    let setup = beforeWarmup + warmup
    var nodes: [DCGANBenchmark.NodeTime] = []
    for plan in trainer.plans {
      nodes += try plan.profile().map { DCGANBenchmark.NodeTime(plan: method.rawValue, node: $0.name, seconds: $0.seconds) }
    }
    let flops = trainer.plans.reduce(0) { $0 + $1.flops }
    return Report(
      method: method.rawValue, backend: backend.name, imageSize: size, batch: batch, generator: name, steps: steps,
      secondsPerStep: perStep, imagesPerSecond: Double(batch) / perStep, flopsPerStep: flops, gflops: flops / perStep / 1e9,
      hostWaitsPerStep: Double(traffic.hostWaits) / Double(steps),
      bytesToDevicePerStep: Double(traffic.bytesToDevice) / Double(steps),
      peakPlanBytes: trainer.plans.reduce(0) { $0 + $1.memory.peakBytes }, setupSeconds: setup,
      topNodes: Array(nodes.sorted { $0.seconds > $1.seconds }.prefix(10)))
  }
}

extension TranslationBenchmark.Report {
  public var text: String {
    var lines = [
      "\(method) \(imageSize)x\(imageSize), \(generator) G, basic D, batch \(batch) on \(backend)",
      String(
        format: "%d timed iterations: %.3f s/iteration, %.2f images/s (set-up and 2-iteration warm-up: %.1f s)", steps,
        secondsPerStep, imagesPerSecond, setupSeconds),
      String(format: "GEMM-shaped work: %.1f GFLOP per iteration, achieved %.1f GFLOP/s", flopsPerStep / 1e9, gflops),
      String(format: "host waits per iteration: %.3f (one barrier after the last); host-to-device bytes per iteration: %.0f", hostWaitsPerStep, bytesToDevicePerStep),
      String(format: "plan memory (peak): %.1f MiB", Double(peakPlanBytes) / 1_048_576),
      "top nodes of one profiled iteration:",
    ]
    for n in topNodes { lines.append(String(format: "  %8.2f ms  %@", n.seconds * 1000, n.node)) }
    return lines.joined(separator: "\n")
  }
}
