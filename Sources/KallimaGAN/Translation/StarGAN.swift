import KallimaCore
import KallimaGraph
import KallimaNN

/// StarGAN (Choi et al. 2018, "StarGAN: Unified Generative Adversarial Networks for
/// Multi-Domain Image-to-Image Translation"), as `solver.py` of yunjey/stargan trains it.
/// G reads an image and a target label row (the scope's condition `conditionKey`, tiled and
/// concatenated by the network); D returns two values, its source (PatchGAN) map and its
/// domain logits (`StarGANDiscriminator`). Each iteration draws a batch (x, c_org) and the
/// targets c_trg = c_org permuted on the device (a fresh permutation per iteration).
/// - D phase (every iteration): −mean D_src(x) + mean D_src(G(x, c_trg)) + λ_cls·cls(D_cls(x),
///   c_org) + λ_gp·(‖∇D_src(x̂)‖ − 1)², x̂ = αx + (1 − α)G(x, c_trg), α ~ U[0, 1) per sample;
/// - G phase (every n_critic-th iteration, on the same batch and targets, after that D step):
///   −mean D_src(G(x, c_trg)) + λ_rec·|x − G(G(x, c_trg), c_org)|₁ + λ_cls·cls(D_cls(G(x, c_trg)), c_trg).
/// cls is BCE per attribute summed over attributes and averaged over the batch (CelebA's
/// multi-label attributes), or softmax cross-entropy (single-label domains, as RaFD).
public struct StarGAN: TranslationMethod {
  public var generator: any Layer
  /// D: image -> (source map [N, 1, h, w], domain logits [N, labels]).
  public var discriminator: (Value, Scope) throws -> (source: Value, logits: Value)
  public var image: Shape
  public var labels: Int
  /// Multi-label attributes (BCE per attribute) or one domain per image (cross-entropy).
  public var multiLabel: Bool
  public var lambdaClass: Float
  public var lambdaReconstruction: Float
  public var lambdaGP: Float
  public var nCritic: Int
  public var optimizerG: Optimizer
  public var optimizerD: Optimizer
  public var schedule: LearningRateSchedule
  /// Seed of the target permutations.
  public var targetSeed: UInt64

  public init(
    generator: any Layer, discriminator: @escaping (Value, Scope) throws -> (source: Value, logits: Value),
    image: Shape, labels: Int, multiLabel: Bool = true, lambdaClass: Float = 1, lambdaReconstruction: Float = 10,
    lambdaGP: Float = 10, nCritic: Int = 5, optimizer: Optimizer = .adam(AdamParams(lr: 1e-4, beta1: 0.5, beta2: 0.999)),
    schedule: LearningRateSchedule = .constant, targetSeed: UInt64 = 0x7A46
  ) {
    self.generator = generator
    self.discriminator = discriminator
    self.image = image
    self.labels = labels
    self.multiLabel = multiLabel
    self.lambdaClass = lambdaClass
    self.lambdaReconstruction = lambdaReconstruction
    self.lambdaGP = lambdaGP
    self.nCritic = nCritic
    self.optimizerG = optimizer
    self.optimizerD = optimizer
    self.schedule = schedule
    self.targetSeed = targetSeed
  }

  public var name: String { "stargan" }
  public var summary: String {
    "stargan: wgan-gp λ_gp \(lambdaGP), n_critic \(nCritic), λ_cls \(lambdaClass) (\(multiLabel ? "BCE per attribute" : "cross-entropy")), λ_rec \(lambdaReconstruction), \(labels) labels"
  }
  public var networks: [String] { ["G", "D"] }
  public var shapes: TranslationShapes { TranslationShapes(a: image, labels: labels) }
  public var phases: [TranslationPhase] { [TranslationPhase("D"), TranslationPhase("G", every: nCritic)] }
  public var statistics: [String] { ["D_real", "D_fake", "D_cls", "D_gp", "G_fake", "G_rec", "G_cls"] }

  public func validate() throws {
    func fail(_ m: String) -> KallimaError { .invalidArgument(op: "stargan", message: m) }
    guard nCritic >= 1 else { throw fail("n_critic must be at least 1, got \(nCritic)") }
    guard labels >= (multiLabel ? 1 : 2) else {
      throw fail("\(multiLabel ? "attributes need at least one label" : "domains need at least two"), got \(labels)")
    }
  }

  public func translator(_ direction: TranslationDirection) throws -> (network: any Layer, store: String, labels: Int?) {
    (generator, "G", labels)
  }

  /// The classification loss of logits [N, L] against label rows [N, L].
  func classification(_ g: Graph, _ logits: Value, _ target: Value, name: String) throws -> Value {
    if multiLabel {
      // size_average=False / N: the mean over elements times L.
      let mean = try g.value(.bceLogits, [logits, target], name: name + " (mean)")
      return try g.value(.scale(Float(labels)), [mean], name: name)
    }
    return try g.value(.softmaxCrossEntropy, [logits, target], name: name)
  }

  public func build(phase: Int, _ c: TranslationContext) throws -> [String: Value] {
    let g = c.graph
    let x = c.batch.a
    let original = c.batch.labels!
    // c_trg: the batch's own rows in a fresh random order (torch.randperm), one per run.
    let n = c.count
    let rows4 = try g.value(.reshape([n, labels, 1, 1]), [original], name: "c_org rows")
    let permuted = try g.value(
      .gatherImages(DataOrder(seed: targetSeed, count: n), batch: n, flip: false), [rows4], name: "c_trg rows")
    let target = try g.value(.reshape([n, labels]), [permuted], name: "c_trg")
    let generate = { (image: Value, labels: Value, tag: String) throws -> Value in
      try self.generator(image, in: try c.scope("G", tag: tag, conditions: [conditionKey: labels]))
    }
    let critic = { (image: Value, tag: String) throws -> (source: Value, logits: Value) in
      try self.discriminator(image, try c.scope("D", tag: tag))
    }
    let fake = try generate(x, target, "G(x, c_trg)")
    if phase == 0 {
      let real = try critic(x, "D(x)")
      let lossReal = try g.mean(real.source, alpha: -1, name: "D_real")
      let lossCls = try classification(g, real.logits, original, name: "D_cls")
      let detached = try g.value(.detach, [fake], name: "x_fake.detach()")
      let lossFake = try g.mean(try critic(detached, "D(x_fake)").source, name: "D_fake")
      // x̂ = α·x + (1 − α)·x_fake, α per sample; the penalty differentiates D through x̂.
      let alpha = try c.uniform([n], name: "alpha", salt: 0x6A)
      let difference = try g.value(.add, [x, try g.value(.scale(-1), [detached], name: "-x_fake")], name: "x - x_fake")
      let mixed = try g.value(
        .add, [detached, try g.scalePerSample(difference, by: alpha, name: "α(x - x_fake)")], name: "x̂")
      let context = DStepContext(
        graph: g, binder: c.binder, critic: { image, tag in try critic(image, "D(\(tag))").source },
        uniform: { shape, name, salt in try c.uniform(shape, name: name, salt: salt) }, state: c.stores["D"]!, batch: n, ranks: 1)
      let (lossGP, _) = try Objective.gradientPenalty(context, at: mixed, lambda: 1)
      let lossD = try c.sum(
        [lossReal, lossFake, try c.scaled(lossCls, lambdaClass, name: "λ_cls·D_cls"), try c.scaled(lossGP, lambdaGP, name: "λ_gp·D_gp")],
        name: "loss_D")
      try c.update("D", optimizerD, try c.gradients(of: lossD, for: "D"))
      return ["D_real": lossReal, "D_fake": lossFake, "D_cls": lossCls, "D_gp": lossGP]
    }
    let judged = try critic(fake, "D(G(x, c_trg))")
    let lossFake = try g.mean(judged.source, alpha: -1, name: "G_fake")
    let lossCls = try classification(g, judged.logits, target, name: "G_cls")
    let reconstruction = try generate(fake, original, "G(G(x, c_trg), c_org)")
    let lossRec = try c.l1(reconstruction, x, name: "G_rec")
    let lossG = try c.sum(
      [lossFake, try c.scaled(lossRec, lambdaReconstruction, name: "λ_rec·G_rec"), try c.scaled(lossCls, lambdaClass, name: "λ_cls·G_cls")],
      name: "loss_G")
    try c.update("G", optimizerG, try c.gradients(of: lossG, for: "G"))
    return ["G_fake": lossFake, "G_rec": lossRec, "G_cls": lossCls]
  }
}
