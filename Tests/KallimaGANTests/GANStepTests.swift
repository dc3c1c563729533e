import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import KallimaSelfTest
import Testing

/// One OpenCL backend for this test target.
let ganOpenCL: Result<OpenCLBackend, Error> = Result { try OpenCLBackend() }

/// A narrow DCGAN for tests: 32x32 RGB, nz 16, widths 8.
let narrow = DCGANConfig(nz: 16, ngf: 8, ndf: 8, channels: 3, imageSize: 32)

func realBatch(_ shape: Shape) -> [Float] {
  (0..<shape.count).map { Philox.uniform(stream: RandomStream(seed: 77), index: $0, low: -1, high: 1) }
}

@Suite("The GAN step on the device")
struct GANStepTests {
  /// `TrainingParity` (also `kallima selftest`'s training check) holds every statistic of
  /// every step to 2e-6 of its value and every stored tensor (weights, batch-norm
  /// parameters and running statistics, exp_avg, exp_avg_sq) to 2e-5 of its largest value;
  /// the measured errors and margins are on its bounds.
  @Test("DCGAN, 5 steps on CPU and on OpenCL from the same seed: losses and every stored tensor agree")
  func cpuVersusOpenCL() throws {
    let parity = try TrainingParity.run(on: try ganOpenCL.get(), steps: 5)
    #expect(parity.statistics.count == 5 * 4)
    #expect(parity.tensors.count > 20, "\(parity.tensors.map(\.name))")
    for failure in parity.failures {
      Issue.record("\(failure.name): OpenCL differs from the CPU by \(failure.error) of its value (bound \(failure.bound))")
    }
    print(
      "CPU vs OpenCL over 5 steps, worst relative error: "
        + parity.worstByKind.map { String(format: "%@ %.2e (%@)", $0.kind, $0.entry.error, $0.entry.name) }
        .joined(separator: ", "))
  }

  @Test("100 steps, log every 50: two blocking reads in total and no host-to-device traffic per step")
  func hostRoundTrips() throws {
    // A backend of its own: the traffic counters are per backend, and Swift Testing runs the
    // other tests of this target in parallel, so a shared backend's counters would also count
    // their uploads and reads (CI saw exactly that once).
    let cl = try OpenCLBackend()
    let trainer = try GANTrainer(backend: cl, config: DCGANConfig(nz: 8, ngf: 4, ndf: 4, channels: 1, imageSize: 8), batch: 2, seed: 1)
    try cl.write(realBatch(trainer.real.shape), to: trainer.real)
    let before = cl.traffic
    var logged: [GANStatistics] = []
    for step in 1...100 {
      try trainer.step()
      if step % 50 == 0 { logged.append(try trainer.readStatistics()) }
    }
    let used = cl.traffic.since(before)
    #expect(used.blockingReads == 2, "\(used)")
    #expect(used.synchronizations == 0, "\(used)")
    #expect(used.bytesToDevice == 0, "\(used)")
    // ~100 commands a step: the queue bound (a wait for a marker far behind) must have acted,
    // or a long run without reads grows the driver's memory without limit.
    #expect(used.throttleWaits > 0, "\(used)")
    #expect(logged.count == 2 && logged.allSatisfy { $0.steps == 50 && $0.lossD.isFinite && $0.lossG.isFinite })
  }

  @Test("DCGAN-64 at batch 64: each plan's peak device memory is well below the sum of its tensors")
  func memoryPlanOfADCGANStep() throws {
    // The real configuration (plans are built, not run): at toy sizes weight gradients
    // dominate and say little about activation reuse.
    let trainer = try GANTrainer(backend: try ganOpenCL.get(), config: DCGANConfig(), batch: 64)
    for (name, plan) in [("D", trainer.dPlan), ("G", trainer.gPlan)] {
      let m = plan.memory
      #expect(m.peakBytes * 2 < m.unsharedBytes, "\(name) plan: peak \(m.peakBytes) B of \(m.unsharedBytes) B")
    }
  }

  @Test("G's update leaves D's parameters untouched; D's update leaves G's untouched")
  func updatesTouchOnlyTheirNetwork() throws {
    let cpu = CPUBackend()
    let trainer = try GANTrainer(backend: cpu, config: narrow, batch: 2, seed: 3)
    try cpu.write(realBatch(trainer.real.shape), to: trainer.real)
    func snapshot(_ s: ParameterStore) throws -> [[Float]] { try s.trainable.map { try cpu.read($0.tensor) } }
    let g0 = try snapshot(trainer.generatorParameters)
    let d0 = try snapshot(trainer.discriminatorParameters)
    try trainer.dPlan.run()
    #expect(try snapshot(trainer.generatorParameters) == g0)
    let d1 = try snapshot(trainer.discriminatorParameters)
    #expect(d1 != d0)
    try trainer.gPlan.run()
    #expect(try snapshot(trainer.discriminatorParameters) == d1)
    #expect(try snapshot(trainer.generatorParameters) != g0)
  }
}

@Suite("Validation mode")
struct ValidationTests {
  /// The D-step graph of a narrow DCGAN and host values for all its external tensors.
  static func dStep() throws -> (Graph, [Value: [Float]]) {
    let cpu = CPUBackend()
    let trainer = try GANTrainer(backend: cpu, config: narrow, batch: 2, seed: 4)
    let graph = trainer.dPlan.graph
    var externals: [Value: [Float]] = [:]
    for (i, node) in graph.nodes.enumerated() where node.op.description == "input" || node.op.description == "parameter" {
      let v = Value(node: i, output: 0)
      externals[v] = node.name == "real" ? realBatch(graph.shape(v)) : try cpu.read(trainer.dPlan.tensor(v))
    }
    return (graph, externals)
  }

  @Test("a D step validates node by node: CPU and OpenCL agree everywhere")
  func agrees() throws {
    let (graph, externals) = try Self.dStep()
    let divergence = try PlanValidation.firstDivergence(
      graph: graph, reference: CPUBackend(), candidate: try ganOpenCL.get(), externals: externals)
    #expect(divergence == nil, "\(divergence.map(\.description) ?? "")")
  }

  @Test("validation names the first node that differs")
  func namesTheNode() throws {
    let (graph, externals) = try Self.dStep()
    // The candidate starts from a different second-layer weight: the first node reading it
    // is D's second convolution on the real batch.
    let weight = try #require(externals.keys.first { graph.nodes[$0.node].name == "main.2.weight" })
    var candidate = externals
    candidate[weight]![0] += 0.5
    let divergence = try #require(
      try PlanValidation.firstDivergence(
        graph: graph, reference: CPUBackend(), candidate: CPUBackend(), externals: externals,
        candidateExternals: candidate))
    #expect(divergence.name == "D(real) main.2 conv", "\(divergence)")
  }
}

@Suite("Profiling")
struct ProfilingTests {
  @Test("per-node device times from OpenCL events cover every launch of a plan")
  func eventTimes() throws {
    let cl = try OpenCLBackend(profiling: true)
    let trainer = try GANTrainer(backend: cl, config: narrow, batch: 2, seed: 1)
    try cl.random_uniform(trainer.real, stream: RandomStream(seed: 1), low: -1, high: 1)
    try trainer.step()
    let times = try trainer.dPlan.profile()
    #expect(times.count > 30)
    #expect(times.allSatisfy { $0.seconds >= 0 })
    #expect(times.contains { $0.name.contains("conv") && $0.seconds > 0 })
    // Sorted longest first.
    #expect(zip(times, times.dropFirst()).allSatisfy { $0.seconds >= $1.seconds })
  }
}
