import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaNN
import KallimaOpenCL
import Testing

/// Tiny networks for the trainers' plumbing: an image-to-image G of `c` channels and a
/// two-layer PatchGAN-like D of `d` input channels.
/// (With a condition, no norm: the tiled rows are constant per sample, so after an instance
/// norm only the zero-padded border carries their gradient, a few ulps that Adam would
/// amplify into backend-dependent ±lr steps.)
func tinyTranslator(_ c: Int, out: Int? = nil, conditionWidth: Int = 0) -> any Layer {
  let normalised = conditionWidth == 0
  let body = Sequential {
    // No bias before the norm: its gradient is zero in exact arithmetic, so Adam would
    // amplify each backend's rounding noise into ±lr steps.
    Conv2d(c + conditionWidth, 4, kernelSize: 3, padding: 1, bias: !normalised)
    if normalised { InstanceNorm2d(4, affine: true) }
    ReLU()
    Conv2d(4, out ?? c, kernelSize: 3, padding: 1)
    Tanh()
  }.named("main")
  guard conditionWidth > 0 else { return body }
  return Chain { TileCondition(); body }
}

/// Concatenates the scope's condition rows [N, D], tiled to HxW, after the image channels
/// (StarGAN's G input).
struct TileCondition: Layer {
  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let s = scope.graph.shape(x)
    let c = try scope.condition(conditionKey, for: "tile")
    return try scope.value(.concat, [x, try tile(c, height: s[2], width: s[3], in: scope)], "concat(x, c)")
  }
}

func tinyCritic(_ d: Int, extra: Int = 0) -> any Layer {
  Sequential {
    Conv2d(d, 4, kernelSize: 4, stride: 2, padding: 1)
    LeakyReLU(0.2)
    Conv2d(4, 1 + extra, kernelSize: 3, padding: 1)
  }.named("model")
}

/// A tiny StarGAN D: a source map and 3 domain logits (the class maps averaged).
func tinyStarCritic(_ x: Value, _ scope: Scope) throws -> (source: Value, logits: Value) {
  let g = scope.graph
  let critic = tinyCritic(1, extra: 3)
  let out = try critic.callAsFunction(x, in: scope)
  let source = try g.value(.slice(start: 0, count: 1), [out], name: "src")
  let maps = try g.value(.slice(start: 1, count: 3), [out], name: "cls maps")
  let s = g.shape(maps)
  let pooled = try g.value(
    .avgPool2d(Pool2dParams(kernel: s[2], stride: s[2], padding: 0), countIncludePad: true), [maps], name: "cls")
  return (source, try g.value(.reshape([s[0], 3]), [pooled], name: "logits"))
}

func pairedImages(_ m: Int, _ c: Int, _ side: Int, seed: UInt64) -> [Float] {
  let stream = RandomStream(seed: seed)
  return (0..<(m * c * side * side)).map { Philox.uniform(stream: stream, index: $0, low: -1, high: 1) }
}

@Suite("Image-to-image trainers")
struct TranslationTrainerTests {
  /// Runs `iterations` on CPU and OpenCL and returns every stored tensor and the statistics.
  func both(_ make: (Backend) throws -> TranslationTrainer, iterations: Int) throws -> [(tensors: [String: [Float]], stats: [String: Float])] {
    var results: [(tensors: [String: [Float]], stats: [String: Float])] = []
    for backend: Backend in [CPUBackend(), try ganOpenCL.get()] {
      let trainer = try make(backend)
      for _ in 0..<iterations { try trainer.step() }
      let stats = try trainer.readStatistics()
      var values: [String: [Float]] = [:]
      for (name, store) in trainer.stores {
        for e in store.entries { values["\(name) \(e.name)"] = try backend.read(e.tensor) }
      }
      results.append((values, stats))
    }
    return results
  }

  /// Every stored tensor by max |OpenCL − CPU| / max |CPU|: measured at most 4.9e-7 over
  /// the three methods (PoCL 3.1, 2-core x86); the bound 5e-6 leaves a margin of 10.
  func expectAgree(_ r: [(tensors: [String: [Float]], stats: [String: Float])], bound: Double) {
    #expect(r[0].tensors.keys.sorted() == r[1].tensors.keys.sorted())
    var worst = (0.0, "")
    for (name, expected) in r[0].tensors {
      guard let actual = r[1].tensors[name] else { continue }
      let scale = Double(expected.map(abs).max() ?? 0)
      let error = zip(actual, expected).map { Double(abs($0 - $1)) }.max() ?? 0
      let relative = error / scale
      if !(relative <= worst.0) { worst = (relative, name) }
    }
    #expect(worst.0 <= bound, "worst tensor \(worst.1): \(worst.0)")
    for (name, value) in r[0].stats {
      #expect(value.isFinite, "\(name) \(value)")
      let other = r[1].stats[name] ?? .nan
      #expect(abs(other - value) <= 1e-4 * max(1, abs(value)), "\(name): OpenCL \(other), CPU \(value)")
    }
    print("worst relative tensor difference \(worst.0) (\(worst.1)); statistics \(r[0].stats.sorted { $0.key < $1.key })")
  }

  @Test("pix2pix: 3 iterations from a paired dataset (gather, flip, crop) agree on CPU and OpenCL")
  func pix2pix() throws {
    let r = try both({ be in
      let data = try be.makeTensor([6, 2, 10, 10], values: pairedImages(6, 2, 10, seed: 3))
      let method = Pix2Pix(generator: tinyTranslator(1), discriminator: tinyCritic(2), imageA: [1, 8, 8], imageB: [1, 8, 8])
      return try TranslationTrainer(backend: be, method: method, batch: 2, data: .paired(data, seed: 4, flip: true, crop: 8), seed: 1)
    }, iterations: 3)
    expectAgree(r, bound: 5e-6)
    #expect(r[0].tensors.keys.contains("D model.0.weight") && r[0].tensors.keys.contains("G main.0.weight"))
  }

  @Test("pix2pix's baselines: L1 only leaves G_GAN out of the statistics and D still trains; GAN only moves G")
  func pix2pixBaselines() throws {
    let be = CPUBackend()
    let data = try be.makeTensor([4, 2, 8, 8], values: pairedImages(4, 2, 8, seed: 3))
    for (adversarial, lambda) in [(false, Float(100)), (true, Float(0))] {
      let method = Pix2Pix(
        generator: tinyTranslator(1), discriminator: tinyCritic(2), imageA: [1, 8, 8], imageB: [1, 8, 8],
        lambdaL1: lambda, adversarial: adversarial)
      let trainer = try TranslationTrainer(backend: be, method: method, batch: 2, data: .paired(data, seed: 1, flip: false), seed: 1)
      try trainer.step()
      let stats = try trainer.readStatistics()
      #expect(Set(stats.keys) == (adversarial ? ["D_real", "D_fake", "G_GAN", "G_L1"] : ["D_real", "D_fake", "G_L1"]))
      // Adam's first step moves every trained weight: G's by its one loss, D's in both.
      for name in ["G", "D"] {
        let moved = try trainer.stores[name]!.entries.filter { $0.name.hasSuffix(".exp_avg") }.map { try be.read($0.tensor) }
        #expect(moved.allSatisfy { $0.contains { $0 != 0 } }, "\(name) has a weight without a gradient (adversarial \(adversarial))")
      }
    }
    #expect(throws: KallimaError.self) {
      try Pix2Pix(generator: tinyTranslator(1), discriminator: tinyCritic(2), imageA: [1, 8, 8], imageB: [1, 8, 8],
        lambdaL1: 0, adversarial: false).validate()
    }
  }

  @Test("10 iterations of each method on device-resident data move nothing between host and device; one read")
  func noHostTraffic() throws {
    // A backend of its own: the traffic counters are per backend, and other tests run at
    // the same time on the shared one.
    let cl = try OpenCLBackend()
    let bytes = try cl.makeByteTensor([6, 2, 10, 10])
    let pixels = (0..<600).map { UInt8(truncatingIfNeeded: $0 * 37) }
    try pixels.withUnsafeBytes { try cl.write(bytes: $0, to: bytes, offset: 0) }
    let single = try cl.makeTensor([5, 1, 8, 8], values: pairedImages(5, 1, 8, seed: 9))
    var rows = [Float](repeating: 0, count: 15)
    for i in 0..<5 { rows[i * 3 + i % 3] = 1 }
    let labels = try cl.makeTensor([5, 3, 1, 1], values: rows)
    let trainers: [TranslationTrainer] = [
      try TranslationTrainer(
        backend: cl, method: Pix2Pix(generator: tinyTranslator(1), discriminator: tinyCritic(2), imageA: [1, 8, 8], imageB: [1, 8, 8]),
        batch: 2, data: .paired(bytes, seed: 1, flip: true, crop: 8)),
      try TranslationTrainer(
        backend: cl,
        method: CycleGAN(
          generatorA: tinyTranslator(1), generatorB: tinyTranslator(1), discriminatorA: tinyCritic(1),
          discriminatorB: tinyCritic(1), imageA: [1, 8, 8], imageB: [1, 8, 8], poolSize: 3),
        batch: 2, data: .unpaired(a: single, b: single, seed: 2, flip: true)),
      try TranslationTrainer(
        backend: cl,
        method: StarGAN(generator: tinyTranslator(1, conditionWidth: 3), discriminator: tinyStarCritic, image: [1, 8, 8], labels: 3, nCritic: 2),
        batch: 2, data: .labelled(single, labels: labels, seed: 3, flip: true)),
    ]
    for trainer in trainers {
      let before = cl.traffic
      for _ in 0..<10 { try trainer.step() }
      let stats = try trainer.readStatistics()
      let used = cl.traffic.since(before)
      #expect(used.bytesToDevice == 0 && used.synchronizations == 0 && used.blockingReads == 1, "\(trainer.method.name): \(used)")
      #expect(!stats.isEmpty && stats.values.allSatisfy(\.isFinite), "\(trainer.method.name): \(stats)")
    }
  }

  @Test("CycleGAN: 4 iterations with pools of 3 agree on CPU and OpenCL, pools included")
  func cycleGAN() throws {
    let r = try both({ be in
      let a = try be.makeTensor([5, 1, 8, 8], values: pairedImages(5, 1, 8, seed: 5))
      let b = try be.makeTensor([7, 1, 8, 8], values: pairedImages(7, 1, 8, seed: 6))
      let method = CycleGAN(
        generatorA: tinyTranslator(1), generatorB: tinyTranslator(1), discriminatorA: tinyCritic(1),
        discriminatorB: tinyCritic(1), imageA: [1, 8, 8], imageB: [1, 8, 8], poolSize: 3)
      return try TranslationTrainer(backend: be, method: method, batch: 2, data: .unpaired(a: a, b: b, seed: 2, flip: false), seed: 1)
    }, iterations: 4)
    expectAgree(r, bound: 5e-6)
    #expect(r[0].tensors["pools fake_B_pool"]?.count == 3 * 64)
  }

  @Test("StarGAN: D and G phases (n_critic 2) with device-permuted targets agree on CPU and OpenCL")
  func starGAN() throws {
    let r = try both({ be in
      let images = try be.makeTensor([6, 1, 8, 8], values: pairedImages(6, 1, 8, seed: 7))
      var rows = [Float](repeating: 0, count: 6 * 3)
      for i in 0..<6 { rows[i * 3 + i % 3] = 1; if i % 2 == 0 { rows[i * 3 + 2] = 1 } }
      let labels = try be.makeTensor([6, 3, 1, 1], values: rows)
      let method = StarGAN(
        generator: tinyTranslator(1, conditionWidth: 3),
        discriminator: tinyStarCritic,
        image: [1, 8, 8], labels: 3, nCritic: 2)
      return try TranslationTrainer(backend: be, method: method, batch: 3, data: .labelled(images, labels: labels, seed: 3, flip: true), seed: 1)
    }, iterations: 4)
    expectAgree(r, bound: 5e-6)
    #expect(Set(r[0].stats.keys) == ["D_real", "D_fake", "D_cls", "D_gp", "G_fake", "G_rec", "G_cls"])
  }

  @Test("StarGAN with single-label domains (cross-entropy) agrees on CPU and OpenCL")
  func starGANDomains() throws {
    let r = try both({ be in
      let images = try be.makeTensor([6, 1, 8, 8], values: pairedImages(6, 1, 8, seed: 8))
      var rows = [Float](repeating: 0, count: 6 * 3)
      for i in 0..<6 { rows[i * 3 + i % 3] = 1 }
      let labels = try be.makeTensor([6, 3, 1, 1], values: rows)
      let method = StarGAN(
        generator: tinyTranslator(1, conditionWidth: 3), discriminator: tinyStarCritic, image: [1, 8, 8], labels: 3,
        multiLabel: false, nCritic: 1)
      return try TranslationTrainer(backend: be, method: method, batch: 3, data: .labelled(images, labels: labels, seed: 5, flip: false), seed: 2)
    }, iterations: 3)
    expectAgree(r, bound: 5e-6)
    // Cross-entropy of 3 near-uniform logits is near log 3 (BCE summed over 3 would be near 3 log 2).
    #expect(abs((r[0].stats["D_cls"] ?? 0) - Float(log(3.0))) < 0.3, "\(r[0].stats)")
  }
}
