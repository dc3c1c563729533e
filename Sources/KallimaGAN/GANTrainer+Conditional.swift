import KallimaCore
import KallimaGraph
import KallimaNN

/// Where a conditional trainer's condition rows come from.
enum ConditionSource {
  /// An unconditional recipe.
  case none
  /// The dataset's rows on the device [M, width, 1, 1]: the D plan gathers its real batch's
  /// rows by the images' order; the G plan gathers from its own shuffle.
  case dataset(Tensor, real: DataOrder, generator: DataOrder)
  /// Rows the caller fills, [batch, width] each (the `.tensor` real source).
  case tensors(real: Tensor, generator: Tensor)

  enum Step { case discriminator, generator }

  /// The batch's rows [batch, width] in a plan being built (nil when unconditional).
  func rows(_ b: GraphBinder, batch: Int, step: Step) throws -> Value? {
    let g = b.graph
    switch self {
    case .none:
      return nil
    case .tensors(let real, let generator):
      let t = step == .discriminator ? real : generator
      let v = g.input(t.shape, name: step == .discriminator ? "c (real batch)" : "c (G step)")
      b.bind(v, t)
      return v
    case .dataset(let rows, let real, let generator):
      let source = g.input(rows.shape, name: "condition rows")
      b.bind(source, rows)
      let order = step == .discriminator ? real : generator
      let gathered = try g.value(
        .gatherImages(order, batch: batch, flip: false), [source],
        name: step == .discriminator ? "c (real batch)" : "c (G step)")
      return try g.value(.reshape([batch, rows.shape[1]]), [gathered], name: "c rows")
    }
  }
}

/// The conditional parts of one D step: extra loss terms (beside the real and fake terms)
/// and statistics by name.
struct ConditionalTerms {
  var losses: [Value] = []
  var statistics: [String: Value] = [:]
}

extension GANTrainer {
  /// Checks the conditions against the recipe and the data source, and says where the rows
  /// come from.
  static func conditionSource(
    _ recipe: GANRecipe, backend: Backend, batch: Int, data: RealSource, conditions: Tensor?
  ) throws -> ConditionSource {
    func fail(_ message: String) -> KallimaError { .invalidArgument(op: "GANTrainer", message: message) }
    guard let conditioning = recipe.conditioning else {
      guard conditions == nil else { throw fail("condition rows were given, but the recipe is unconditional") }
      return .none
    }
    let width = conditioning.width
    let count: Int
    let dataSeed: UInt64
    switch data {
    case .tensor:
      guard conditions == nil else {
        throw fail("with the .tensor real source, fill realConditions and generatorConditions; do not pass condition rows")
      }
      return .tensors(real: try backend.zeros([batch, width]), generator: try backend.zeros([batch, width]))
    case .dataset(let images, let seed, _):
      (count, dataSeed) = (images.shape[0], seed)
    case .streamed(_, let total, let seed, _):
      (count, dataSeed) = (total, seed)
    }
    guard let conditions else {
      throw fail("a conditional recipe needs one condition row per dataset image ([\(count), \(width), 1, 1]); none was given")
    }
    guard conditions.shape == [count, width, 1, 1] else {
      throw KallimaError.shapeMismatch(
        op: "GANTrainer", message: "condition rows are \(conditions.shape); the dataset and recipe need [\(count), \(width), 1, 1]")
    }
    return .dataset(
      conditions, real: DataOrder(seed: dataSeed, count: count),
      generator: DataOrder(seed: dataSeed ^ 0xC0_4D17_1045, count: count))
  }
}

extension Conditioning {
  /// The statistics a head logs beside the objective's: the mean D score of the mismatched
  /// pairs (σ of it for the logistic losses), or AC-GAN's classification loss on real images.
  public var statistics: [String] {
    switch head {
    case .matching, .twoHead, .stackgan: return ["D(x,c̃)"]
    case .acgan: return ["loss_cls"]
    case .unconditional, .concat, .projection: return []
    }
  }

  /// The columns [N, k] of scores from `start`.
  func columns(_ g: Graph, _ scores: Value, from start: Int, count: Int = 1) throws -> Value {
    try g.value(.slice(start: start, count: count), [scores], name: "scores \(start)..<\(start + count)")
  }

  /// AC-GAN's classification loss of the class logits (columns 1… of `scores`) against the
  /// pair's condition rows, and λ times it: softmax cross-entropy for one-hot classes; for
  /// tag sets, binary cross-entropy summed over tags and averaged over the batch (StarGAN's
  /// attribute loss). `what` names the pair ("real", "fake", "G").
  func classTerm(_ g: Graph, scores: Value, condition: Value, _ what: String) throws -> (loss: Value, weighted: Value) {
    let logits = try columns(g, scores, from: 1, count: width)
    let name = "class loss (\(what))"
    let loss: Value
    switch targets {
    case .exclusive:
      loss = try g.value(.softmaxCrossEntropy, [logits, condition], name: name)
    case .multiLabel:
      let mean = try g.value(.bceLogits, [logits, condition], name: name + " per tag")
      loss = try g.value(.scale(Float(width)), [mean], name: name)
    case .dense:
      throw KallimaError.invalidArgument(op: "acgan", message: "a dense condition has no classes to predict")
    }
    return (loss, try g.value(.scale(classWeight), [loss], name: "λ·" + name))
  }

  /// Whether `scores` carry StackGAN's unconditional column beside the conditional one.
  func hasUnconditionalScore(_ g: Graph, _ scores: Value) -> Bool { head == .stackgan && g.shape(scores)[1] == 2 }

  /// D's terms on the real pairs (c, x): the adversarial term, plus the match head's real
  /// term (two heads), the classification loss (AC-GAN), or the mean with the
  /// unconditional column's (StackGAN stage II).
  func realPairTerms(
    _ context: DStepContext, _ objective: Objective, scores: Value, condition: Value, adversarial: Value,
    into terms: inout ConditionalTerms
  ) throws -> Value {
    let g = context.graph
    switch head {
    case .twoHead:
      let match = try columns(g, scores, from: 1)
      return try g.plus(adversarial, try objective.realTerm(context, x: match, dReal: match), name: "real: realism + match")
    case .acgan:
      let (loss, weighted) = try classTerm(g, scores: scores, condition: condition, "real")
      terms.statistics["loss_cls"] = loss
      return try g.plus(adversarial, weighted, name: "real terms")
    case .stackgan where hasUnconditionalScore(g, scores):
      let uncond = try columns(g, scores, from: 1)
      let both = try g.plus(adversarial, try objective.realTerm(context, x: uncond, dReal: uncond), name: "real: cond + uncond")
      return try g.value(.scale(0.5), [both], name: "½(real cond + uncond)")
    case .unconditional, .concat, .matching, .projection, .stackgan:
      return adversarial
    }
  }

  /// D's terms on the fake pairs (c, G(z, c)): the adversarial term (with StackGAN's
  /// unconditional one) weighted, plus AC-GAN's classification loss.
  func fakePairTerms(
    _ context: DStepContext, _ objective: Objective, fake: Value, scores: Value, condition: Value, adversarial: Value
  ) throws -> Value {
    let g = context.graph
    var adversarial = adversarial
    if hasUnconditionalScore(g, scores) {
      let uncond = try columns(g, scores, from: 1)
      adversarial = try g.plus(adversarial, try objective.fakeTerm(context, fake: fake, dFake: uncond), name: "fake: cond + uncond")
    }
    let weighted = fakeWeight == 1 ? adversarial : try g.value(.scale(fakeWeight), [adversarial], name: "weighted fake term")
    guard head == .acgan else { return weighted }
    return try g.plus(weighted, try classTerm(g, scores: scores, condition: condition, "fake").weighted, name: "fake terms")
  }

  /// The mismatched pairs' term: (c̃, x) → fake on the joint score (matching) or the match
  /// head (two heads), weighted.
  func mismatchedPairTerm(_ context: DStepContext, _ objective: Objective, scores: Value, into terms: inout ConditionalTerms)
    throws -> Value
  {
    let g = context.graph
    let score = head == .twoHead ? try columns(g, scores, from: 1) : try columns(g, scores, from: 0)
    let term = try objective.fakeTerm(context, fake: score, dFake: score)
    terms.statistics["D(x,c̃)"] = try objective.reportedMeans(context, dReal: score, dFake: score).0
    return try g.value(.scale(mismatchWeight), [term], name: "weighted mismatched term")
  }

  /// G's loss on (c, G(z, c)) beyond the adversarial term: the match head's (two heads), the
  /// classification loss (AC-GAN), or the unconditional score's (StackGAN stage II).
  func generatorTerms(_ g: Graph, _ objective: Objective, scores: Value, condition: Value, adversarial: Value) throws -> Value {
    switch head {
    case .twoHead:
      let match = try columns(g, scores, from: 1)
      return try g.plus(adversarial, try objective.generatorLoss(g, fake: match, dFake: match), name: "loss_G: realism + match")
    case .acgan:
      return try g.plus(adversarial, try classTerm(g, scores: scores, condition: condition, "G").weighted, name: "loss_G")
    case .stackgan where hasUnconditionalScore(g, scores):
      let uncond = try columns(g, scores, from: 1)
      return try g.plus(adversarial, try objective.generatorLoss(g, fake: uncond, dFake: uncond), name: "loss_G: cond + uncond")
    case .unconditional, .concat, .matching, .projection, .stackgan:
      return adversarial
    }
  }
}
