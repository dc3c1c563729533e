import KallimaCore
import KallimaGraph
import KallimaNN

/// pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
/// Networks"), as `pix2pix_model.py` of junyanz/pytorch-CycleGAN-and-pix2pix trains it. One
/// iteration is one plan:
/// 1. fake_B = G(real_A) (train mode: batch statistics, dropout on);
/// 2. D: ½·[GAN(D(A, fake_B.detach()), 0) + GAN(D(A, real_B), 1)], D on concat(A, B) along
///    channels; Adam step of D;
/// 3. G: GAN(D(A, fake_B), 1) + λ_L1·|fake_B − real_B|₁, through the updated D; Adam step of
///    G (D's parameters are read, never written).
/// The same fake_B (the same dropout masks) serves both updates, as in the reference.
public struct Pix2Pix: TranslationMethod {
  public var generator: any Layer
  public var discriminator: any Layer
  /// One sample of A and B, [C, H, W] (the crop size).
  public var imageA: Shape
  public var imageB: Shape
  /// `--gan_mode`: vanilla (.nonSaturating, the default), lsgan or wgangp.
  public var objective: Objective
  /// λ_L1 (100 in the paper). 0 trains G on the GAN term alone (a baseline).
  public var lambdaL1: Float
  /// Whether G is trained on the GAN term at all (false: the L1-only baseline; D still trains).
  public var adversarial: Bool
  public var optimizerG: Optimizer
  public var optimizerD: Optimizer
  public var schedule: LearningRateSchedule

  public init(
    generator: any Layer, discriminator: any Layer, imageA: Shape, imageB: Shape, objective: Objective = .nonSaturating,
    lambdaL1: Float = 100, adversarial: Bool = true, optimizer: Optimizer = .adam(AdamParams(lr: 2e-4, beta1: 0.5, beta2: 0.999)),
    schedule: LearningRateSchedule = .constant
  ) {
    self.generator = generator
    self.discriminator = discriminator
    self.imageA = imageA
    self.imageB = imageB
    self.objective = objective
    self.lambdaL1 = lambdaL1
    self.adversarial = adversarial
    self.optimizerG = optimizer
    self.optimizerD = optimizer
    self.schedule = schedule
  }

  public var name: String { "pix2pix" }
  public var summary: String {
    let terms = (adversarial ? ["\(objective.name) GAN"] : []) + (lambdaL1 > 0 ? ["λ_L1 \(lambdaL1)·L1"] : [])
    return "pix2pix: G loss \(terms.joined(separator: " + ")), D loss ½(real + fake) on concat(A, B)"
  }
  public var networks: [String] { ["G", "D"] }
  public var shapes: TranslationShapes { TranslationShapes(a: imageA, b: imageB) }
  public var phases: [TranslationPhase] { [TranslationPhase("iteration")] }
  public var statistics: [String] { ["D_real", "D_fake", "G_GAN", "G_L1"] }

  public func validate() throws {
    guard adversarial || lambdaL1 > 0 else {
      throw KallimaError.invalidArgument(op: "pix2pix", message: "G needs a loss: keep the GAN term or give λ_L1 > 0")
    }
    guard imageA.dims.dropFirst() == imageB.dims.dropFirst() else {
      throw KallimaError.shapeMismatch(op: "pix2pix", message: "A \(imageA) and B \(imageB) must have one size")
    }
    if case .wganGP = objective {
      throw KallimaError.invalidArgument(
        op: "pix2pix", message: "wgan-gp is not built for pix2pix here; use ns (vanilla, the default) or lsgan")
    }
  }

  public func translator(_ direction: TranslationDirection) throws -> (network: any Layer, store: String, labels: Int?) {
    (generator, "G", nil)
  }

  public func build(phase: Int, _ c: TranslationContext) throws -> [String: Value] {
    let g = c.graph
    let (a, b) = (c.batch.a, c.batch.b!)
    let fake = try generator(a, in: try c.scope("G", tag: "G"))
    let pair = { (image: Value, name: String) throws -> Value in
      try g.value(.concat, [a, image], name: "concat(A, \(name))")
    }
    // D: the fake pair (detached: no path into G in this loss), then the real pair.
    let fakeDetached = try g.value(.detach, [fake], name: "fake_B.detach()")
    let dFake = try discriminator(try pair(fakeDetached, "fake_B"), in: try c.scope("D", tag: "D(fake)"))
    let lossFake = try c.ganLoss(objective, dFake, real: false, name: "loss_D_fake")
    let dReal = try discriminator(try pair(b, "real_B"), in: try c.scope("D", tag: "D(real)"))
    let lossReal = try c.ganLoss(objective, dReal, real: true, name: "loss_D_real")
    let lossD = try c.scaled(try c.sum([lossFake, lossReal], name: "D_fake + D_real"), 0.5, name: "loss_D")
    try c.update("D", optimizerD, try c.gradients(of: lossD, for: "D"))
    // G, through the updated D.
    var terms: [Value] = []
    var stats = ["D_real": lossReal, "D_fake": lossFake]
    if adversarial {
      let dG = try discriminator(try pair(fake, "fake_B"), in: try c.scope("D", tag: "D(G)"))
      let ganTerm = try c.ganLoss(objective, dG, real: true, name: "loss_G_GAN")
      terms.append(ganTerm)
      stats["G_GAN"] = ganTerm
    }
    let l1 = try c.l1(fake, b, name: "|fake_B - real_B|")
    stats["G_L1"] = l1
    if lambdaL1 > 0 { terms.append(try c.scaled(l1, lambdaL1, name: "loss_G_L1")) }
    let lossG = try c.sum(terms, name: "loss_G")
    try c.update("G", optimizerG, try c.gradients(of: lossG, for: "G"))
    return stats
  }
}
