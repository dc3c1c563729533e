import Foundation
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL

/// End-to-end DCGAN training throughput: whole steps (D update, then G update) replayed
/// from their plans, timed with one device barrier after the last step.
public struct DCGANBenchmark {
  public var config: DCGANConfig
  public var batch: Int
  public var steps: Int
  public var warmupSteps: Int

  /// Another method's networks and losses (StackGAN) instead of DCGAN's, under `model`'s
  /// name; `config` still gives the widths and side the report shows.
  public var recipe: GANRecipe?
  public var model = "DCGAN"

  public init(config: DCGANConfig, batch: Int, steps: Int, warmupSteps: Int = 2) {
    (self.config, self.batch, self.steps, self.warmupSteps) = (config, batch, steps, warmupSteps)
  }

  public struct NodeTime: Codable {
    public var plan: String
    public var node: String
    public var seconds: Double
  }

  public struct KernelTime: Codable {
    /// The kernel, or "gemm BATCHx(MxNxK) TILE" / "sgemm MxNxK" for a GEMM.
    public var name: String
    public var seconds: Double
    public var launches: Int
  }

  public struct Report: Codable {
    public var model: String
    public var backend: String
    /// Where the OpenCL backend's GEMM tuning came from (`TuningSource`); nil on the CPU.
    public var tuning: String?
    public var batch: Int
    public var imageSize: Int
    public var ngf: Int
    public var ndf: Int
    public var steps: Int
    public var secondsPerStep: Double
    public var stepsPerSecond: Double
    public var imagesPerSecond: Double
    /// GEMM-shaped FLOPs of one step (D plan + G plan).
    public var flopsPerStep: Double
    public var gflops: Double
    public var sgemmGflops: Double?
    public var ratioToSGEMM: Double?
    /// Blocking reads + synchronisations per step in the timed region (one barrier in all).
    public var hostWaitsPerStep: Double
    /// Queue-bound waits per step in the timed region: host waits too (for a command
    /// enqueued hundreds of commands earlier, so the device stays busy), counted apart.
    public var queueBoundWaitsPerStep: Double
    public var bytesToDevicePerStep: Double
    public var peakPlanBytes: Int
    public var setupSeconds: Double
    public var topNodes: [NodeTime]
    /// Device time of one profiled step per launch name, both plans, slowest first (empty
    /// when the backend cannot time kernels).
    public var topKernels: [KernelTime]
    /// All kernels' device time in that step.
    public var kernelSeconds: Double
  }

  public func run(on backend: Backend, sgemm: ReferenceFigures.GEMM? = nil) throws -> Report {
    let setupStart = Timing.now()
    let trainer = try recipe.map { try GANTrainer(backend: backend, recipe: $0, batch: batch, seed: 1, noise: .device(seed: 2)) }
      ?? GANTrainer(backend: backend, config: config, batch: batch, seed: 1, noise: .device(seed: 2))
    try backend.random_uniform(trainer.real, stream: RandomStream(seed: 3), low: -1, high: 1)
    // A conditional recipe's condition rows: random, as a text embedding's.
    for (i, rows) in [trainer.realConditions, trainer.generatorConditions].compactMap({ $0 }).enumerated() {
      try backend.random_uniform(rows, stream: RandomStream(seed: 4 + UInt64(i)), low: -1, high: 1)
    }
    let beforeWarmup = Timing.now() - setupStart
    let (perStep, traffic, warmup) = try Timing.trainingSteps(on: backend, warmup: warmupSteps, steps: steps) { try trainer.step() }
    let setup = beforeWarmup + warmup

    // One profiled step (the D plan n_critic times, then the G plan) for the per-node and
    // per-kernel tables: OpenCL events when the backend records them, else a barrier after
    // every node (and no kernel table).
    var nodes: [NodeTime] = []
    var kernels: [String: KernelTime] = [:]
    let runs = Array(repeating: ("D", trainer.dPlan), count: trainer.nCritic) + [("G", trainer.gPlan)]
    for (index, (label, plan)) in runs.enumerated() {
      let profile = try plan.profileWithKernels()
      if index == 0 || label == "G" {
        nodes += profile.nodes.map { NodeTime(plan: label, node: $0.name, seconds: $0.seconds) }
      }
      for k in profile.kernels {
        kernels[k.name, default: KernelTime(name: k.name, seconds: 0, launches: 0)].seconds += k.seconds
        kernels[k.name]!.launches += k.launches
      }
    }
    let byTime = kernels.values.sorted { $0.seconds > $1.seconds }
    let flops = trainer.dPlan.flops * Double(trainer.nCritic) + trainer.gPlan.flops
    let gflops = flops / perStep / 1e9
    return Report(
      model: model, backend: backend.name, tuning: (backend as? OpenCLBackend)?.tuning.description, batch: batch, imageSize: config.imageSize, ngf: config.ngf, ndf: config.ndf, steps: steps,
      secondsPerStep: perStep, stepsPerSecond: 1 / perStep, imagesPerSecond: Double(batch) / perStep,
      flopsPerStep: flops, gflops: gflops, sgemmGflops: sgemm?.gflops, ratioToSGEMM: sgemm.map { gflops / $0.gflops },
      hostWaitsPerStep: Double(traffic.hostWaits) / Double(steps),
      queueBoundWaitsPerStep: Double(traffic.throttleWaits) / Double(steps),
      bytesToDevicePerStep: Double(traffic.bytesToDevice) / Double(steps),
      peakPlanBytes: trainer.dPlan.memory.peakBytes + trainer.gPlan.memory.peakBytes, setupSeconds: setup,
      topNodes: Array(nodes.sorted { $0.seconds > $1.seconds }.prefix(10)), topKernels: Array(byTime.prefix(20)),
      kernelSeconds: byTime.reduce(0) { $0 + $1.seconds })
  }
}

extension DCGANBenchmark.Report {
  /// Plain-text rendering.
  public var text: String {
    var lines = [
      "\(model) \(imageSize)x\(imageSize), ngf \(ngf), ndf \(ndf), batch \(batch) on \(backend)",
      String(
        format: "%d timed steps: %.3f s/step, %.3f steps/s, %.1f images/s (set-up and %@ warm-up: %.1f s)", steps,
        secondsPerStep, stepsPerSecond, imagesPerSecond, "2-step", setupSeconds),
      String(format: "GEMM-shaped work: %.1f GFLOP per step, achieved %.1f GFLOP/s", flopsPerStep / 1e9, gflops),
    ]
    if let s = sgemmGflops, let r = ratioToSGEMM {
      lines.append(String(format: "SGEMM n=1024 (backend.matmul, the GEMM the convolutions use) on the same device: %.1f GFLOP/s; ratio %.3f", s, r))
    }
    lines.append(
      String(
        format: "host waits per step: %.3f blocking (reads and synchronisations: one barrier after the last step), "
          + "%.3f queue-bound (for a command enqueued hundreds of commands earlier; no data moves)",
        hostWaitsPerStep, queueBoundWaitsPerStep))
    lines.append(String(format: "host-to-device bytes per step: %.0f", bytesToDevicePerStep))
    lines.append(String(format: "plan memory (D plan + G plan peaks): %.1f MiB", Double(peakPlanBytes) / 1_048_576))
    lines.append("top nodes of one profiled step (device time from kernel events where available):")
    for n in topNodes {
      lines.append(String(format: "  %8.2f ms  %@ plan  %@", n.seconds * 1000, n.plan, n.node))
    }
    if !topKernels.isEmpty {
      lines.append(
        String(format: "top kernels of one profiled step (%.1f ms of device time in all; share, launches):", kernelSeconds * 1000))
      for k in topKernels {
        lines.append(
          String(format: "  %8.2f ms  %5.1f%%  %3d×  %@", k.seconds * 1000, 100 * k.seconds / kernelSeconds, k.launches, k.name))
      }
    }
    return lines.joined(separator: "\n")
  }
}
