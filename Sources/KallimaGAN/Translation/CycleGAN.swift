import KallimaCore
import KallimaGraph
import KallimaNN

/// CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
/// Adversarial Networks"), as `cycle_gan_model.py` of junyanz/pytorch-CycleGAN-and-pix2pix
/// trains it. G_A maps A → B and is judged by D_A (on B images); G_B maps B → A, judged by
/// D_B. One iteration is one plan:
/// 1. fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A);
/// 2. G_A and G_B together: GAN(D_A(fake_B), 1) + GAN(D_B(fake_A), 1)
///    + λ_A·|rec_A − A|₁ + λ_B·|rec_B − B|₁
///    + λ_idt·(λ_B·|G_A(B) − B|₁ + λ_A·|G_B(A) − A|₁); Adam steps of both G (D read only);
/// 3. D_A on B against a fake drawn from the pool of past fake_B, D_B on A against one from
///    the pool of past fake_A, each ½·[GAN(D(real), 1) + GAN(D(fake), 0)]; Adam steps of both.
/// The pools (`poolSize` images each, 50 by default) live on the device (`image_pool`).
public struct CycleGAN: TranslationMethod {
  public var generatorA: any Layer
  public var generatorB: any Layer
  public var discriminatorA: any Layer
  public var discriminatorB: any Layer
  /// One sample of A and of B, [C, H, W].
  public var imageA: Shape
  public var imageB: Shape
  /// `--gan_mode` (lsgan by default for CycleGAN).
  public var objective: Objective
  /// λ_A, λ_B: the cycle losses' weights (10 each).
  public var lambdaA: Float
  public var lambdaB: Float
  /// λ_identity (0.5): the identity losses weigh λ_idt·λ_B and λ_idt·λ_A; 0 skips them
  /// (they need A and B with one channel count).
  public var lambdaIdentity: Float
  /// Images kept per pool (50); 0 shows D the newest fakes.
  public var poolSize: Int
  /// Seed of the pools' choices.
  public var poolSeed: UInt64
  public var optimizerG: Optimizer
  public var optimizerD: Optimizer
  public var schedule: LearningRateSchedule

  public init(
    generatorA: any Layer, generatorB: any Layer, discriminatorA: any Layer, discriminatorB: any Layer, imageA: Shape,
    imageB: Shape, objective: Objective = .lsgan, lambdaA: Float = 10, lambdaB: Float = 10, lambdaIdentity: Float = 0.5,
    poolSize: Int = 50, poolSeed: UInt64 = 0x9001, optimizer: Optimizer = .adam(AdamParams()),
    schedule: LearningRateSchedule = .constant
  ) {
    self.generatorA = generatorA
    self.generatorB = generatorB
    self.discriminatorA = discriminatorA
    self.discriminatorB = discriminatorB
    self.imageA = imageA
    self.imageB = imageB
    self.objective = objective
    self.lambdaA = lambdaA
    self.lambdaB = lambdaB
    self.lambdaIdentity = lambdaIdentity
    self.poolSize = poolSize
    self.poolSeed = poolSeed
    self.optimizerG = optimizer
    self.optimizerD = optimizer
    self.schedule = schedule
  }

  public var name: String { "cyclegan" }
  public var summary: String {
    "cyclegan: \(objective.name) GAN, λ_cycle \(lambdaA)/\(lambdaB), identity \(lambdaIdentity), pool \(poolSize)"
  }
  public var networks: [String] { ["G_A", "G_B", "D_A", "D_B"] }
  public var shapes: TranslationShapes { TranslationShapes(a: imageA, b: imageB) }
  public var phases: [TranslationPhase] { [TranslationPhase("iteration")] }
  public var statistics: [String] { ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"] }

  public func validate() throws {
    func fail(_ m: String) -> KallimaError { .invalidArgument(op: "cyclegan", message: m) }
    guard imageA.dims.dropFirst() == imageB.dims.dropFirst() else {
      throw KallimaError.shapeMismatch(op: "cyclegan", message: "A \(imageA) and B \(imageB) must have one size")
    }
    if lambdaIdentity > 0, imageA[0] != imageB[0] {
      throw fail("the identity loss feeds B to G_A, so A and B need one channel count (\(imageA[0]) vs \(imageB[0])); use --lambda-identity 0")
    }
    guard poolSize >= 0 else { throw fail("the pool size must be 0 or more, got \(poolSize)") }
    if case .wganGP = objective { throw fail("wgan-gp is not built for CycleGAN here; use lsgan (the default) or ns") }
  }

  public func translator(_ direction: TranslationDirection) throws -> (network: any Layer, store: String, labels: Int?) {
    direction == .aToB ? (generatorA, "G_A", nil) : (generatorB, "G_B", nil)
  }

  public func build(phase: Int, _ c: TranslationContext) throws -> [String: Value] {
    let g = c.graph
    let (a, b) = (c.batch.a, c.batch.b!)
    let gA = { (x: Value, tag: String) throws -> Value in try self.generatorA(x, in: try c.scope("G_A", tag: tag)) }
    let gB = { (x: Value, tag: String) throws -> Value in try self.generatorB(x, in: try c.scope("G_B", tag: tag)) }
    let fakeB = try gA(a, "G_A(A)")
    let recA = try gB(fakeB, "G_B(G_A(A))")
    let fakeA = try gB(b, "G_B(B)")
    let recB = try gA(fakeA, "G_A(G_B(B))")
    var stats: [String: Value] = [:]
    // The generators' step.
    if lambdaIdentity > 0 {
      let idtA = try c.l1(try gA(b, "G_A(B)"), b, name: "|G_A(B) - B|")
      let idtB = try c.l1(try gB(a, "G_B(A)"), a, name: "|G_B(A) - A|")
      stats["idt_A"] = try c.scaled(idtA, lambdaB * lambdaIdentity, name: "loss_idt_A")
      stats["idt_B"] = try c.scaled(idtB, lambdaA * lambdaIdentity, name: "loss_idt_B")
    }
    stats["G_A"] = try c.ganLoss(
      objective, try discriminatorA(fakeB, in: try c.scope("D_A", tag: "D_A(fake_B)")), real: true, name: "loss_G_A")
    stats["G_B"] = try c.ganLoss(
      objective, try discriminatorB(fakeA, in: try c.scope("D_B", tag: "D_B(fake_A)")), real: true, name: "loss_G_B")
    stats["cycle_A"] = try c.scaled(try c.l1(recA, a, name: "|rec_A - A|"), lambdaA, name: "loss_cycle_A")
    stats["cycle_B"] = try c.scaled(try c.l1(recB, b, name: "|rec_B - B|"), lambdaB, name: "loss_cycle_B")
    var terms = [stats["G_A"]!, stats["G_B"]!, stats["cycle_A"]!, stats["cycle_B"]!]
    if lambdaIdentity > 0 { terms += [stats["idt_A"]!, stats["idt_B"]!] }
    let lossG = try c.sum(terms, name: "loss_G")
    let gradsA = try c.gradients(of: lossG, for: "G_A")
    let gradsB = try c.gradients(of: lossG, for: "G_B")
    try c.update("G_A", optimizerG, gradsA)
    try c.update("G_B", optimizerG, gradsB)
    // The discriminators' step, on fakes from the pools (fake_B and fake_A as computed
    // before the G step, as the reference's).
    func pooled(_ fake: Value, _ name: String, salt: UInt64) throws -> Value {
      let detached = try g.value(.detach, [fake], name: "\(name).detach()")
      guard poolSize > 0 else { return detached }
      let shape = g.shape(fake)
      let pool = try c.binder.parameter(
        c.stores["pools"]!, "\(name)_pool", Shape([poolSize] + shape.dims.dropFirst()), .constant(0), trainable: false)
      return try g.value(.imagePool(seed: poolSeed ^ salt), [pool, detached], name: "\(name) from the pool")
    }
    func discriminatorLoss(_ d: any Layer, _ store: String, real: Value, fake: Value) throws -> Value {
      let lossReal = try c.ganLoss(objective, try d(real, in: try c.scope(store, tag: "\(store)(real)")), real: true, name: "\(store) real")
      let lossFake = try c.ganLoss(objective, try d(fake, in: try c.scope(store, tag: "\(store)(fake)")), real: false, name: "\(store) fake")
      return try c.scaled(try c.sum([lossReal, lossFake], name: "\(store) real + fake"), 0.5, name: "loss_\(store)")
    }
    stats["D_A"] = try discriminatorLoss(discriminatorA, "D_A", real: b, fake: try pooled(fakeB, "fake_B", salt: 0xB))
    stats["D_B"] = try discriminatorLoss(discriminatorB, "D_B", real: a, fake: try pooled(fakeA, "fake_A", salt: 0xA))
    try c.update("D_A", optimizerD, try c.gradients(of: stats["D_A"]!, for: "D_A"))
    try c.update("D_B", optimizerD, try c.gradients(of: stats["D_B"]!, for: "D_B"))
    return stats
  }

  /// The device state besides the networks: the pools of past fakes.
  public var stateStores: [String] { poolSize > 0 ? ["pools"] : [] }
}
