import KallimaCore
import KallimaGraph
import KallimaNN

/// How a conditional D scores a pair (c, x) (SPEC §3; `kallima train --d-head`).
///
/// Each head's D outputs [N, k] scores; column 0 is always the adversarial score the
/// objective's terms, gradient penalties and R1 act on.
/// - `concat` (Reed et al. 2016's architecture): D's 4x4 features concatenated with the
///   condition's embedding replicated spatially, a 1x1 conv, then the final 4x4 conv: one
///   score. Trained on two kinds of pair: (c, x) → real, (c, G(z, c)) → fake.
/// - `matching` (GAN-CLS, Reed et al. 2016; SPEC §3 (a)): the concat network trained on
///   three kinds of pair per batch: (c, x) → real, (c, G(z, c)) → fake and (c̃, x) → fake,
///   c̃ a condition of the batch that differs from x's (`mismatch_rows`), weighted 1, ½, ½.
/// - `twoHead` (SPEC §3 (b)): column 0 scores realism from x alone, column 1 the match of x
///   with c (the concat head). Realism: x → real, G(z, c) → fake; match: (c, x) → real,
///   (c̃, x) → fake. Case 2 lowers realism, case 3 lowers match. G is trained on both.
/// - `projection` (Miyato & Koyama 2018): pooled features φ(x), score = linear(φ) +
///   ⟨embed(c), φ⟩; two kinds of pair as `concat`. Usually with spectral norm and hinge.
/// - `acgan` (Odena et al. 2017): column 0 realism, columns 1… class logits; D and G both
///   add λ·(the classification loss of the pair's class): softmax cross-entropy for one-hot
///   classes, binary cross-entropy per tag for tag sets. D sees x alone.
/// - `stackgan` (Zhang et al. 2017): column 0 is a matching-aware score of the pair as
///   `matching`'s: (c, x) → real, (c, G(z, c)) → fake, (c̃, x) → fake; column 1, when D
///   gives one, an unconditional score of x alone: x → real, G(z, c) → fake. The real terms
///   of the two columns are averaged, the fake ones weighted with the mismatched term (the
///   reference: real + ½(fake + wrong) for stage I's one score, ½(real + real_u) +
///   ⅓(fake + wrong + fake_u) for stage II's two); G is trained on both columns. StackGAN's
///   own D (`--arch stackgan`) is conditioned on μ of G's conditioning augmentation; on the
///   dcgan and resnet bodies the head is the concat network's joint score and a realism score.
/// - `none`: the architecture's unconditional D, which sees x alone, with a conditional G —
///   the baseline that shows why SPEC §3 insists on pairs (nothing makes G obey c).
public enum DiscriminatorHead: String, CaseIterable, Sendable, Codable {
  case unconditional = "none"
  case concat
  case matching
  case twoHead = "two-head"
  case projection
  case acgan
  case stackgan

  public static func named(_ name: String) throws -> DiscriminatorHead {
    guard let h = DiscriminatorHead(rawValue: name) else {
      throw KallimaError.invalidArgument(
        op: "recipe", message: "unknown --d-head '\(name)'; choose one of \(allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return h
  }

  /// Whether the D step adds the mismatched pairs (c̃, x) → fake.
  public var usesMismatchedPairs: Bool { self == .matching || self == .twoHead || self == .stackgan }
}

/// What kind of target a condition row is, for the heads that classify (AC-GAN).
public enum ConditionTargets: String, Sendable, Codable {
  /// One-hot rows: one class of K (softmax cross-entropy).
  case exclusive
  /// Multi-hot rows: a tag set (one binary cross-entropy per tag).
  case multiLabel
  /// Dense rows (a bag of words, a text embedding): nothing to classify.
  case dense
}

/// A conditional recipe's condition and how G and D use it.
public struct Conditioning: Sendable, Equatable {
  /// Values per condition row.
  public var width: Int
  public var targets: ConditionTargets
  public var head: DiscriminatorHead
  /// Features of the condition's learned embedding in G and D (Reed et al. use 128).
  public var embedding: Int
  /// G conditions its batch norms on the class (class-conditional BN, the ResNet G of the
  /// projection-D paper) instead of concatenating the embedding to z. Needs one-hot rows.
  public var conditionalBatchNorm: Bool
  /// Weights of the fake pairs (c, G(z, c)) and the mismatched pairs (c̃, x) in D's loss;
  /// the real pairs weigh 1. Defaults: GAN-CLS's ½ and ½ for `matching`, whose one score
  /// has two kinds of negative; StackGAN stage II's ⅓ and ⅓ for `stackgan` (two scores);
  /// 1 and 1 for `twoHead`, whose realism head sees only the
  /// fakes and match head only the mismatched pairs; the fake weight 1 for the others.
  public var fakeWeight: Float
  public var mismatchWeight: Float
  /// GAN-INT (Reed et al. 2016): G is also trained on interpolated conditions ½(c + c̃) with
  /// this weight (nil: off).
  public var interpolationWeight: Float?
  /// λ of AC-GAN's classification loss.
  public var classWeight: Float

  public init(
    width: Int, targets: ConditionTargets, head: DiscriminatorHead, embedding: Int = 128,
    conditionalBatchNorm: Bool = false, fakeWeight: Float? = nil, mismatchWeight: Float? = nil,
    interpolationWeight: Float? = nil, classWeight: Float = 1
  ) {
    self.width = width
    self.targets = targets
    self.head = head
    self.embedding = embedding
    self.conditionalBatchNorm = conditionalBatchNorm
    let shared: Float = head == .matching ? 0.5 : head == .stackgan ? 1.0 / 3 : 1
    self.fakeWeight = fakeWeight ?? shared
    self.mismatchWeight = mismatchWeight ?? shared
    self.interpolationWeight = interpolationWeight
    self.classWeight = classWeight
  }

  /// Rejects the combinations whose math does not work, saying why.
  public func validate(objective: Objective) throws {
    func fail(_ message: String) -> KallimaError { .invalidArgument(op: "recipe", message: message) }
    guard width >= 1, embedding >= 1 else { throw fail("a condition needs width and embedding >= 1, got \(width), \(embedding)") }
    if objective.discriminatorIsAutoencoder {
      throw fail(
        "BEGAN's D reconstructs images and gives no score for a pair (c, x); a conditional BEGAN would need a conditional "
          + "autoencoder. Use ns, lsgan, hinge, wgan-gp, wgan or dragan with a conditional head")
    }
    if head == .acgan, targets == .dense {
      throw fail(
        "AC-GAN's D classifies images into the condition's classes or tags; a text or embedding condition has none. "
          + "Use --d-head matching, two-head, projection or concat")
    }
    if conditionalBatchNorm, targets != .exclusive {
      throw fail("class-conditional batch norm needs one-hot class conditions; tags and text are concatenated to z instead")
    }
    if !(fakeWeight > 0) || !(mismatchWeight >= 0) || !(classWeight >= 0) || (interpolationWeight.map { !($0 >= 0) } ?? false) {
      throw fail("pair weights must be positive (fake) or non-negative (mismatch, class, interpolation)")
    }
  }
}

/// A conditional D: a body (image -> features) and a head that scores the pair (c, x).
/// Bodies give either 4x4 feature maps [N, C, 4, 4] (DCGAN's D without its last conv) or
/// pooled features [N, C] (the ResNet D without its last linear); heads work on both.
/// Parameter names: the body's (`main.N…`, `blockN…`), then `head.*` (see each head).
public struct ConditionalDiscriminator: Layer {
  public var body: any Layer
  public var features: Int
  public var conditioning: Conditioning
  public var weightInit: ParameterInit

  public init(body: any Layer, features: Int, conditioning: Conditioning, weightInit: ParameterInit) {
    self.body = body
    self.features = features
    self.conditioning = conditioning
    self.weightInit = weightInit
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let h = try body(x, in: scope)
    let head = scope.child("head")
    let s = scope.graph.shape(h)
    let n = s[0]
    let c = conditioning
    let spatial = s.rank == 4
    guard s.rank == 2 || (spatial && s[2] == 4 && s[3] == 4) else {
      throw KallimaError.shapeMismatch(op: scope.nodeName("head"), message: "D's body must give [N, C, 4, 4] or [N, C], got \(s)")
    }
    /// One score per sample from features: the 4x4 "valid" conv of DCGAN, or a linear.
    func score(_ f: Value, _ name: String, outputs: Int = 1) throws -> Value {
      let fs = scope.graph.shape(f)
      if spatial {
        let conv = Conv2d(fs[1], outputs, kernelSize: 4, bias: false, weightInit: weightInit)
        return try scope.value(.reshape([n, outputs]), [try conv(f, in: head, named: name)], "\(name) scores")
      }
      return try Linear(fs[1], outputs, weightInit: weightInit, biasInit: .constant(0))(f, in: head, named: name)
    }
    /// The pair's features: [h; tile(embed(c))] and a 1x1 conv + LeakyReLU (Reed et al.),
    /// or [φ; embed(c)] and a linear + LeakyReLU on pooled features.
    func joint() throws -> Value {
      let e = try ConditionEmbedding(width: c.width, dimension: c.embedding).embed(in: head.child("embed"))
      if spatial {
        let both = try scope.value(.concat, [h, try tile(e, height: 4, width: 4, in: head)], "h ⊕ tile(embed(c))")
        let mixed = try Conv2d(features + c.embedding, features, kernelSize: 1, bias: false, weightInit: weightInit)(
          both, in: head, named: "joint")
        return try LeakyReLU(0.2)(mixed, in: head)
      }
      let both = try scope.value(.concat, [h, e], "φ ⊕ embed(c)")
      let mixed = try Linear(features + c.embedding, features, weightInit: weightInit, biasInit: .constant(0))(
        both, in: head, named: "joint")
      return try LeakyReLU(0.2)(mixed, in: head)
    }
    switch c.head {
    case .unconditional:
      throw KallimaError.invalidArgument(op: scope.nodeName("head"), message: "the unconditional head is the plain D, not a head")
    case .stackgan:
      // StackGAN's scores on this body: the joint (matching-aware) score, then x's alone.
      let conditional = try score(try joint(), "out")
      let unconditional = try score(h, "realism")
      return try scope.value(.concat, [conditional, unconditional], "conditional ⊕ unconditional")
    case .concat, .matching:
      return try score(try joint(), "out")
    case .twoHead:
      let realism = try score(h, "realism")
      let match = try score(try joint(), "match")
      return try scope.value(.concat, [realism, match], "realism ⊕ match")
    case .projection:
      let phi = spatial ? try GlobalSumPool()(h, in: head) : h
      let linear = try Linear(features, 1, weightInit: weightInit, biasInit: .constant(0))(phi, in: head, named: "linear")
      let cond = try scope.condition(conditionKey, for: "projection head")
      let embed = try Embedding(c.width, features, weightInit: weightInit)(cond, in: head, named: "embed")
      return try scope.value(.add, [linear, try rowDot(embed, phi, in: head)], "linear(φ) + ⟨embed(c), φ⟩")
    case .acgan:
      let realism = try score(h, "realism")
      let classes = try score(h, "classes", outputs: c.width)
      return try scope.value(.concat, [realism, classes], "realism ⊕ class logits")
    }
  }
}

/// The conditional form of a recipe's networks.
extension Architecture {
  /// G(z, c): DCGAN's G (or the ResNet G) fed z ⊕ embed(c); with `conditionalBatchNorm`, the
  /// ResNet G whose batch norms take their scale and shift from the class.
  public func conditionalGenerator(_ config: DCGANConfig, _ conditioning: Conditioning) throws -> any Layer {
    let widened = DCGANConfig(
      nz: config.nz + conditioning.embedding, ngf: config.ngf, ndf: config.ndf, channels: config.channels,
      imageSize: config.imageSize, discriminatorNorm: config.discriminatorNorm)
    switch self {
    case .dcgan:
      guard !conditioning.conditionalBatchNorm else {
        throw KallimaError.invalidArgument(
          op: "recipe", message: "class-conditional batch norm is built for the resnet G; the dcgan G concatenates the condition to z")
      }
      return Chain([ConcatCondition(width: conditioning.width, dimension: conditioning.embedding), try DCGAN(widened).generatorNetwork])
    case .resnet:
      if conditioning.conditionalBatchNorm {
        return try ResNetGAN(config).generatorNetwork(classes: conditioning.width)
      }
      return Chain([ConcatCondition(width: conditioning.width, dimension: conditioning.embedding), try ResNetGAN(widened).generatorNetwork])
    }
  }

  /// D(c, x): the architecture's D body with the conditioning's head.
  public func conditionalDiscriminator(_ config: DCGANConfig, _ conditioning: Conditioning) throws -> any Layer {
    if conditioning.head == .unconditional { return try discriminator(config, autoencoder: false) }
    switch self {
    case .dcgan:
      let model = try DCGAN(config)
      return ConditionalDiscriminator(
        body: model.discriminatorBody, features: config.ndf << (config.stages - 1), conditioning: conditioning,
        weightInit: DCGAN.weightInit)
    case .resnet:
      let model = try ResNetGAN(config)
      return ConditionalDiscriminator(
        body: model.discriminatorBody, features: model.discriminatorFeatures, conditioning: conditioning,
        weightInit: .xavierUniform(fanIn: model.discriminatorFeatures, fanOut: 1))
    }
  }
}
