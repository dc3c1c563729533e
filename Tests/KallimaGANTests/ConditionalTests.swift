import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaNN
import KallimaOpenCL
import Testing

/// Conditional recipes (SPEC §3): every head builds, trains and keeps its statistics on the
/// device; the condition reaches G and D; impossible combinations are refused; the
/// mismatched pairs of real data never match.
@Suite("Conditional GANs")
struct ConditionalTests {
  static let config = DCGANConfig(nz: 8, ngf: 4, ndf: 4, channels: 1, imageSize: 16, discriminatorNorm: .none)
  static let classes = 3

  static func recipe(
    _ head: DiscriminatorHead, objective: Objective = .nonSaturating, targets: ConditionTargets = .exclusive,
    arch: Architecture = .dcgan, config: DCGANConfig = config, interpolation: Float? = nil
  ) throws -> GANRecipe {
    let conditioning = Conditioning(
      width: classes, targets: targets, head: head, embedding: 6, conditionalBatchNorm: arch == .resnet,
      interpolationWeight: interpolation)
    var recipe = GANRecipe(
      generator: try arch.conditionalGenerator(config, conditioning),
      discriminator: try arch.conditionalDiscriminator(config, conditioning), latentShape: arch.latentShape(config),
      imageShape: [config.channels, config.imageSize, config.imageSize], objective: objective, sizes: config,
      conditioning: conditioning)
    if head == .projection { recipe.spectralNorm = true }
    return recipe
  }

  /// One-hot rows for `labels`.
  static func onehot(_ labels: [Int], classes: Int = classes) -> [Float] {
    labels.flatMap { k in (0..<classes).map { $0 == k ? Float(1) : 0 } }
  }

  /// A trainer on the `.tensor` source with random images and conditions filled in.
  static func trainer(_ recipe: GANRecipe, backend: Backend, batch: Int = 6) throws -> GANTrainer {
    let trainer = try GANTrainer(backend: backend, recipe: recipe, batch: batch, seed: 2)
    try backend.random_uniform(trainer.real, stream: RandomStream(seed: 5), low: -1, high: 1)
    let labels = (0..<batch).map { $0 % classes }
    try backend.write(onehot(labels), to: try #require(trainer.realConditions))
    try backend.write(onehot(labels.reversed()), to: try #require(trainer.generatorConditions))
    return trainer
  }

  @Test(
    "every head trains on PoCL: finite statistics, the head's own statistics, and the condition's embeddings learn",
    arguments: DiscriminatorHead.allCases)
  func headsTrain(_ head: DiscriminatorHead) throws {
    let cl = try OpenCLBackend()
    let recipe = try Self.recipe(head, objective: head == .projection ? .hinge : .nonSaturating)
    let trainer = try Self.trainer(recipe, backend: cl)
    let gEmbed = try #require(trainer.generatorParameters["embed.weight"])
    let gBefore = try cl.read(gEmbed)
    let dNames = trainer.discriminatorParameters.trainable.map(\.name)
    let expected: [DiscriminatorHead: [String]] = [
      .unconditional: ["main.4.weight"],
      .concat: ["head.embed.weight", "head.joint.weight", "head.out.weight"],
      .matching: ["head.embed.weight", "head.joint.weight", "head.out.weight"],
      .twoHead: ["head.realism.weight", "head.embed.weight", "head.match.weight"],
      .projection: ["head.linear.weight_orig", "head.embed.weight_orig"],
      .acgan: ["head.realism.weight", "head.classes.weight"],
      .stackgan: ["head.embed.weight", "head.joint.weight", "head.out.weight", "head.realism.weight"],
    ]
    for name in expected[head]! { #expect(dNames.contains(name), "\(head): no \(name) in \(dNames)") }
    let conditionWeight = expected[head]!.first { $0.contains("embed") }
    let dBefore = try conditionWeight.map { try cl.read(trainer.discriminatorParameters[$0]!) }
    for _ in 0..<4 { try trainer.step() }
    let stats = try trainer.readStatistics()
    #expect(stats.lossD.isFinite && stats.lossG.isFinite, "\(head): \(stats)")
    for name in recipe.conditioning!.statistics {
      let v = try #require(stats.extras[name], "\(head) logs \(name)")
      #expect(v.isFinite, "\(head): \(name) \(v)")
    }
    #expect(try cl.read(gEmbed) != gBefore, "\(head): G's condition embedding did not learn")
    if let conditionWeight, let dBefore {
      #expect(try cl.read(trainer.discriminatorParameters[conditionWeight]!) != dBefore, "\(head): D's \(conditionWeight) did not learn")
    }
  }

  @Test("the matching-aware D logs the mismatched pairs' score; AC-GAN's class loss starts near log K")
  func headStatistics() throws {
    let cpu = CPUBackend()
    let matching = try Self.trainer(try Self.recipe(.matching), backend: cpu)
    try matching.runDiscriminatorStep()
    let m = try matching.readStatistics()
    // σ of a near-zero score at initialisation: 0.5 within the networks' small initial outputs.
    let wrong = try #require(m.extras["D(x,c̃)"])
    #expect(abs(wrong - 0.5) < 0.05, "\(m)")
    let acgan = try Self.trainer(try Self.recipe(.acgan), backend: cpu)
    try acgan.runDiscriminatorStep()
    let a = try acgan.readStatistics()
    let cls = try #require(a.extras["loss_cls"])
    #expect(abs(cls - Float(log(3.0))) < 0.05, "cross-entropy of near-uniform logits over 3 classes: \(a)")
  }

  @Test(
    "every objective with every head: two steps with finite statistics on PoCL, or a refusal for BEGAN",
    arguments: Objective.names + ["ns+r1"])
  func objectivesTimesHeads(_ name: String) throws {
    let cl = try OpenCLBackend()
    let objective = try Objective.named(String(name.split(separator: "+")[0]))
    for head in DiscriminatorHead.allCases {
      var recipe = try Self.recipe(head, objective: objective)
      if name.hasSuffix("r1") { recipe.regularizers = [.r1(gamma: 10)] }
      if case .wgan = objective { recipe.spectralNorm = false }
      if objective.discriminatorIsAutoencoder {
        #expect(throws: KallimaError.self, "\(name) with \(head) must be refused") {
          _ = try GANTrainer(backend: cl, recipe: recipe, batch: 4)
        }
        continue
      }
      let trainer = try Self.trainer(recipe, backend: cl, batch: 4)
      for _ in 0..<2 { try trainer.step() }
      let stats = try trainer.readStatistics()
      #expect(stats.lossD.isFinite && stats.lossG.isFinite && stats.extras.values.allSatisfy(\.isFinite), "\(name), \(head): \(stats)")
    }
  }

  @Test("the ResNet G with class-conditional batch norm and a projection D train (Miyato & Koyama's setting)")
  func resnetProjection() throws {
    let config = DCGANConfig(nz: 8, ngf: 4, ndf: 4, channels: 1, imageSize: 32)
    let recipe = try Self.recipe(.projection, objective: .hinge, arch: .resnet, config: config)
    let trainer = try Self.trainer(recipe, backend: try OpenCLBackend(), batch: 4)
    let names = trainer.generatorParameters.entries.map(\.name)
    #expect(names.contains("block2.b1.gain.weight") && names.contains("block2.b1.bn.running_mean"), "\(names)")
    for _ in 0..<2 { try trainer.step() }
    let stats = try trainer.readStatistics()
    #expect(stats.lossD.isFinite && stats.lossG.isFinite, "\(stats)")
  }

  @Test("GAN-INT adds a G term on interpolated conditions: G's loss differs from the same run without it")
  func ganInt() throws {
    let cpu = CPUBackend()
    let plain = try Self.trainer(try Self.recipe(.matching), backend: cpu)
    let interpolated = try Self.trainer(try Self.recipe(.matching, interpolation: 1), backend: cpu)
    try plain.step()
    try interpolated.step()
    let (a, b) = (try plain.readStatistics(), try interpolated.readStatistics())
    // Same seeds, so D's step is identical; G's loss gains a second, positive NS term.
    #expect(a.lossD == b.lossD, "\(a) vs \(b)")
    #expect(b.lossG > a.lossG + 0.3, "\(a) vs \(b)")
  }

  @Test("combinations whose math does not work are refused, saying why")
  func refusals() throws {
    func message(_ body: () throws -> Void) -> String {
      do { try body() } catch { return "\(error)" }
      return ""
    }
    let began = message {
      _ = try GANTrainer(
        backend: CPUBackend(), recipe: try Self.recipe(.matching, objective: .began(gamma: 0.5, lambdaK: 0.001, initialK: 0)),
        batch: 2)
    }
    #expect(began.contains("BEGAN"), "\(began)")
    let dense = message { try Conditioning(width: 4, targets: .dense, head: .acgan).validate(objective: .hinge) }
    #expect(dense.contains("AC-GAN") && dense.contains("text"), "\(dense)")
    let cbn = message {
      try Conditioning(width: 4, targets: .multiLabel, head: .projection, conditionalBatchNorm: true).validate(objective: .hinge)
    }
    #expect(cbn.contains("one-hot"), "\(cbn)")
    let dcganCBN = message {
      _ = try Architecture.dcgan.conditionalGenerator(
        Self.config, Conditioning(width: 3, targets: .exclusive, head: .projection, conditionalBatchNorm: true))
    }
    #expect(dcganCBN.contains("resnet"), "\(dcganCBN)")
    let missing = message {
      let images = try CPUBackend().zeros([10, 1, 16, 16])
      _ = try GANTrainer(
        backend: CPUBackend(), recipe: try Self.recipe(.matching), batch: 2, data: .dataset(images, seed: 0, flip: false))
    }
    #expect(missing.contains("condition row"), "\(missing)")
  }

  @Test("on the dataset source, conditional training moves nothing between host and device")
  func noHostTraffic() throws {
    let cl = try OpenCLBackend()
    let m = 40
    let images = try cl.makeTensor([m, 1, 16, 16], values: (0..<(m * 256)).map { Float(($0 * 7) % 255) / 127.5 - 1 })
    let rows = try cl.makeTensor([m, Self.classes, 1, 1], values: Self.onehot((0..<m).map { $0 % Self.classes }))
    let trainer = try GANTrainer(
      backend: cl, recipe: try Self.recipe(.matching, interpolation: 1), batch: 8, seed: 1,
      data: .dataset(images, seed: 3, flip: true), conditions: rows)
    let before = cl.traffic
    for _ in 0..<10 { try trainer.step() }
    let stats = try trainer.readStatistics()
    let used = cl.traffic.since(before)
    #expect(used.bytesToDevice == 0 && used.synchronizations == 0 && used.blockingReads == 1, "\(used)")
    #expect(stats.lossD.isFinite && stats.lossG.isFinite, "\(stats)")
  }

  @Test("real batches' mismatched conditions (gathered as training gathers them) never equal the matching ones")
  func mismatchedPairsDiffer() throws {
    // 10 classes with a skewed balance, so equal neighbours are common in a batch.
    let cl = try OpenCLBackend()
    let m = 500
    let labels = (0..<m).map { i in i % 7 == 0 ? 1 : (i * 31) % 10 }
    let rows = try cl.makeTensor([m, 10, 1, 1], values: Self.onehot(labels, classes: 10))
    let batch = 32
    let g = Graph()
    let b = GraphBinder(graph: g)
    let source = g.input(rows.shape, name: "rows")
    b.bind(source, rows)
    let c = try g.value(
      .reshape([batch, 10]), [try g.value(.gatherImages(DataOrder(seed: 9, count: m), batch: batch, flip: false), [source])])
    let wrong = try g.value(.mismatchRows, [c])
    let plan = try Plan(graph: g, backend: cl, bindings: b.bindings, keep: [c, wrong])
    var equalNeighbours = 0
    for _ in 0..<50 {
      try plan.run()
      let (real, mismatched) = (try cl.read(plan.tensor(c)), try cl.read(plan.tensor(wrong)))
      for i in 0..<batch {
        let r = Array(real[(i * 10)..<((i + 1) * 10)])
        let w = Array(mismatched[(i * 10)..<((i + 1) * 10)])
        #expect(r != w, "row \(i): the mismatched condition equals the matching one")
        #expect(w.reduce(0, +) == 1, "row \(i): the mismatched condition is not a one-hot class of the batch: \(w)")
        if r == Array(real[(((i + 1) % batch) * 10)..<((((i + 1) % batch) + 1) * 10)]) { equalNeighbours += 1 }
      }
    }
    // A plain shift by one would have paired this many rows with their own class.
    #expect(equalNeighbours > 50, "the data has few equal neighbours (\(equalNeighbours)); the test would prove little")
  }
}
