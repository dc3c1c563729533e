import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import Testing

@Suite("Recipes")
struct RecipeTests {
  @Test("the README's G and D (a user's own layer inside) train; parameters are named by their place in the network")
  func userNetworks() throws {
    let trainer = try userTrainer(.hinge, batch: 4)
    let cl = trainer.backend
    try cl.random_uniform(trainer.real, stream: RandomStream(seed: 3), low: -1, high: 1)
    let names = trainer.discriminatorParameters.entries.map(\.name)
    #expect(names.contains("net.2.body.0.weight_orig") && names.contains("net.2.body.0.weight_u") && names.contains("net.4.bias"), "\(names)")
    #expect(trainer.generatorParameters.trainable.map(\.name).contains("net.1.weight"))
    let ema = try #require(trainer.emaParameters)
    let before = try cl.read(trainer.generatorParameters["net.6.weight"]!)
    let emaBefore = try cl.read(ema["net.6.weight"]!)
    #expect(before == emaBefore, "the EMA starts from G's weights")
    for _ in 0..<10 { try trainer.step() }
    let stats = try trainer.readStatistics()
    #expect(stats.lossD.isFinite && stats.lossG.isFinite, "\(stats)")
    let after = try cl.read(trainer.generatorParameters["net.6.weight"]!)
    let emaAfter = try cl.read(ema["net.6.weight"]!)
    #expect(after != before)
    // β = 0.999 over 10 steps: the average has moved, by about 1% of G's own change.
    let moved = zip(emaAfter, emaBefore).map { abs($0 - $1) }.reduce(0, +)
    let gMoved = zip(after, before).map { abs($0 - $1) }.reduce(0, +)
    #expect(moved > 0 && moved < 0.05 * gMoved, "EMA moved \(moved), G \(gMoved)")
  }

  @Test(
    "every objective: 20 steps, log every 10, two blocking reads and no host-to-device traffic",
    arguments: Objective.names + ["ns+r1", "hinge+sn+ema"])
  func hostTraffic(_ name: String) throws {
    let cl = try OpenCLBackend()  // its own counters (other tests run in parallel)
    let config = DCGANConfig(nz: 8, ngf: 4, ndf: 4, channels: 1, imageSize: 8, discriminatorNorm: .none)
    var recipe = try GANRecipe.dcgan(config, objective: try Objective.named(String(name.split(separator: "+")[0])))
    if recipe.objective.discriminatorIsAutoencoder { recipe.discriminator = try DCGAN(config).autoencoderDiscriminatorNetwork }
    if name.hasSuffix("r1") { recipe.regularizers = [.r1(gamma: 10)] }
    if name.hasSuffix("ema") { (recipe.spectralNorm, recipe.ema) = (true, EMAConfig(beta: 0.99)) }
    recipe.schedule = .linearDecay(keep: 5, decay: 15)
    let trainer = try GANTrainer(backend: cl, recipe: recipe, batch: 2, seed: 1)
    try cl.random_uniform(trainer.real, stream: RandomStream(seed: 1), low: -1, high: 1)
    let before = cl.traffic
    var logged: [GANStatistics] = []
    for step in 1...20 {
      try trainer.step()
      if step % 10 == 0 { logged.append(try trainer.readStatistics()) }
    }
    let used = cl.traffic.since(before)
    #expect(used.blockingReads == 2, "\(name): \(used)")
    #expect(used.synchronizations == 0, "\(name): \(used)")
    #expect(used.bytesToDevice == 0, "\(name): \(used)")
    #expect(logged.allSatisfy { $0.lossD.isFinite && $0.lossG.isFinite }, "\(name): \(logged)")
  }

  @Test("WGAN clipping with spectral norm, and BEGAN with a D that scores, are refused with a reason")
  func wrongCombinations() throws {
    let cpu = CPUBackend()
    let config = DCGANConfig(nz: 8, ngf: 4, ndf: 4, channels: 1, imageSize: 8)
    var wgan = try GANRecipe.dcgan(config, objective: .wgan(clip: 0.01))
    wgan.spectralNorm = true
    #expect(throws: KallimaError.self) { try GANTrainer(backend: cpu, recipe: wgan, batch: 2) }
    let began = try GANRecipe.dcgan(config, objective: .began(gamma: 0.5, lambdaK: 0.001, initialK: 0))
    do {
      _ = try GANTrainer(backend: cpu, recipe: began, batch: 2)
      Issue.record("BEGAN with a scoring D was accepted")
    } catch {
      #expect("\(error)".contains("autoencoder"), "\(error)")
    }
  }
}

@Suite("ResNet recipe")
struct ResNetRecipeTests {
  @Test("SNGAN's 64x64 ResNet: G 16·ngf → ngf over four up-blocks, D ndf → 16·ndf over five blocks; one hinge step")
  func resnet64() throws {
    let config = DCGANConfig(nz: 8, ngf: 2, ndf: 2, channels: 3, imageSize: 64)
    let model = try ResNetGAN(config)
    let recipe = GANRecipe(
      generator: model.generatorNetwork, discriminator: model.discriminatorNetwork, latentShape: [8],
      imageShape: [3, 64, 64], objective: .hinge, spectralNorm: true, sizes: config)
    let cpu = CPUBackend()
    let trainer = try GANTrainer(backend: cpu, recipe: recipe, batch: 2, seed: 1)
    let g = Dictionary(uniqueKeysWithValues: trainer.generatorParameters.entries.map { ($0.name, $0.tensor.shape) })
    let d = Dictionary(uniqueKeysWithValues: trainer.discriminatorParameters.entries.map { ($0.name, $0.tensor.shape) })
    #expect(g["l1.weight"] == [16 * 32, 8] && g["block2.c1.weight"] == [16, 32, 3, 3] && g["block5.c2.weight"] == [2, 2, 3, 3])
    #expect(g["b6.weight"] == [2] && g["c6.weight"] == [3, 2, 3, 3])
    #expect(d["block1.c1.weight_orig"] == [2, 3, 3, 3] && d["block5.c2.weight_orig"] == [32, 32, 3, 3])
    #expect(d["block5.c_sc.weight_orig"] == [32, 16, 1, 1] && d["l6.weight_orig"] == [1, 32])
    try cpu.random_uniform(trainer.real, stream: RandomStream(seed: 2), low: -1, high: 1)
    try trainer.step()
    let stats = try trainer.readStatistics()
    #expect(stats.lossD.isFinite && stats.lossG.isFinite)
  }

  @Test("SNGAN's ResNet G and D at 32x32: torch_mimicry's names, spectral norm on D, CPU and OpenCL agree over 3 steps")
  func resnet32() throws {
    let config = DCGANConfig(nz: 8, ngf: 8, ndf: 8, channels: 3, imageSize: 32)
    let model = try ResNetGAN(config)
    var recipe = GANRecipe(
      generator: model.generatorNetwork, discriminator: model.discriminatorNetwork, latentShape: [8],
      imageShape: [3, 32, 32], objective: .hinge, spectralNorm: true, sizes: config)
    recipe.optimizerD = .adam(AdamParams(lr: 2e-4, beta1: 0, beta2: 0.9))
    var finals: [[String: [Float]]] = []
    var initial: [String: [Float]] = [:]
    for backend: Backend in [CPUBackend(), try ganOpenCL.get()] {
      let trainer = try GANTrainer(backend: backend, recipe: recipe, batch: 2, seed: 4)
      try backend.write(realBatch(trainer.real.shape), to: trainer.real)
      for store in [trainer.generatorParameters, trainer.discriminatorParameters] {
        for e in store.trainable { initial[e.name] = try backend.read(e.tensor) }
      }
      let g = Set(trainer.generatorParameters.entries.map(\.name))
      let d = Set(trainer.discriminatorParameters.entries.map(\.name))
      for name in ["l1.weight", "block2.b1.running_mean", "block2.c1.weight", "block4.c_sc.bias", "b5.weight", "c5.weight"] {
        #expect(g.contains(name), "G lacks \(name)")
      }
      for name in ["block1.c1.weight_orig", "block1.c_sc.weight_u", "block2.c2.weight_v", "l5.weight_orig", "l5.bias"] {
        #expect(d.contains(name), "D lacks \(name)")
      }
      // block3 and block4 keep width and size: no shortcut conv, as in SNGAN.
      #expect(!d.contains("block3.c_sc.weight_orig"))
      for _ in 0..<3 { try trainer.step() }
      let stats = try trainer.readStatistics()
      #expect(stats.lossD.isFinite && stats.lossG.isFinite)
      var values: [String: [Float]] = [:]
      for store in [trainer.generatorParameters, trainer.discriminatorParameters] {
        for e in store.trainable { values[e.name] = try backend.read(e.tensor) }
      }
      finals.append(values)
    }
    // Adam moves a weight by about lr·sign(gradient) whatever the gradient's size, so a
    // gradient within float rounding of zero may step the other way on the other backend.
    // Some gradients are exactly zero: the biases of the G blocks' shortcut convs (c_sc.bias)
    // add a per-channel constant that the next batch norm removes. The Double reference
    // leaves those within 1e-8 of their start (its gradient is rounding noise ~1e-11, so
    // Adam's step is ~lr·1e-3), while float32 noise on OpenCL takes full ±lr steps: they are
    // skipped, and counted. Every other weight must agree to 1e-5 + 1e-4·|w|, with at most
    // 0.1% within what three Adam steps can explain.
    var (total, outliers, zeroGradient) = (0, 0, 0)
    for (name, expected) in finals[0] {
      for (i, (a, e)) in zip(finals[1][name]!, expected).enumerated() {
        if abs(e - initial[name]![i]) < 1e-8 {
          zeroGradient += 1
          continue
        }
        total += 1
        if abs(a - e) > 1e-5 + 1e-4 * abs(e) { outliers += 1 }
        #expect(abs(a - e) <= 3 * 2 * 2e-4 + 1e-5, "\(name)[\(i)]: OpenCL \(a), CPU \(e)")
      }
    }
    print("resnet32: \(outliers) of \(total) weights differ between OpenCL and CPU beyond 1e-5 + 1e-4·|w| after 3 steps; \(zeroGradient) with zero gradient skipped")
    #expect(outliers * 1000 <= total)
    #expect(zeroGradient <= 2 * 8 * 3, "only the shortcut biases of the 3 G blocks should have zero gradient")
  }
}
