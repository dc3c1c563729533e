import KallimaCore
import KallimaGraph
import KallimaNN

/// What an objective needs while the D step is built: the graph, D as a function of an
/// image, random draws, and somewhere to keep its device state and report statistics.
struct DStepContext {
  let graph: Graph
  let binder: GraphBinder
  /// Builds D (train mode) on an image; `tag` names its nodes "D(tag)".
  let critic: (Value, String) throws -> Value
  /// U[0, 1) of a shape: a device random node, or an input the caller fills (fixtures).
  let uniform: (Shape, String, UInt64) throws -> Value
  /// The objective's own device state (BEGAN's k_t) lives here.
  let state: ParameterStore
  let batch: Int
  /// The ranks of a data-parallel job (1: a single process): state that follows the batch's
  /// losses (BEGAN's k_t) follows the job's mean.
  let ranks: Int
}

/// Graph helpers for scalar losses (one-element values [1]).
extension Graph {
  /// alpha·mean(v).
  func mean(_ v: Value, alpha: Float = 1, name: String) throws -> Value {
    try value(.reduceSum(alpha: alpha / Float(shape(v).count)), [v], name: name)
  }

  /// a + b (same shapes).
  func plus(_ a: Value, _ b: Value, name: String) throws -> Value { try value(.add, [a, b], name: name) }

  /// c + s·v elementwise (a constant node of v's shape).
  func affine(_ v: Value, scale s: Float, plus c: Float, name: String) throws -> Value {
    let scaled = try value(.scale(s), [v], name: name + " scale")
    return try value(.add, [scaled, constant(c, shape(v), name: "\(c)")], name: name)
  }

  /// v [N, …] scaled per sample by s [N].
  func scalePerSample(_ v: Value, by s: Value, name: String) throws -> Value {
    let shape = self.shape(v)
    let n = shape[0]
    let flat = try value(.reshape([1, n, shape.count / n, 1]), [v], name: name + " view")
    let scaled = try value(.mulChannel, [flat, s], name: name)
    return try value(.reshape(shape), [scaled], name: name + " view back")
  }

  /// ‖v_i‖² per sample i of v [N, …], as [N, 1].
  func squaredNormPerSample(_ v: Value, name: String) throws -> Value {
    let shape = self.shape(v)
    let n = shape[0]
    let d = shape.count / n
    let rows = try value(.reshape([n, d]), [v], name: name + " rows")
    let squares = try value(.activation(.square), [rows], name: name + " squares")
    return try value(
      .matmul(transposeA: false, transposeB: false, alpha: 1), [squares, constant(1, [d, 1], name: "ones")], name: name)
  }
}

/// The pieces of one objective in one D step, in the order the trainer builds them (the
/// real half's forward and backward first, so its activations are free before the fake
/// half runs): a term from D(x), a term from D(G(z)), then penalties that run D again.
struct DiscriminatorTerms {
  var real: Value
  var fake: Value
  var penalties: [Value] = []
  /// Mean D(x) and D(G(z)) as reported, and the objective's extra statistics by name.
  var dReal: Value
  var dFake: Value
  var extras: [String: Value] = [:]
  /// Effects to add after the optimiser step (clipping, k_t).
  var afterUpdate: [(ParameterStore, GraphBinder) throws -> Void] = []
}

extension Objective {
  /// The real-data term of D's loss, built right after D(x).
  func realTerm(_ c: DStepContext, x: Value, dReal: Value) throws -> Value {
    let g = c.graph
    switch self {
    case .nonSaturating, .minimax, .dragan:
      return try g.value(.bceLogits, [dReal, g.constant(1, g.shape(dReal), name: "label 1")], name: "BCE(D(x), 1)")
    case .wgan, .wganGP:
      return try g.mean(dReal, alpha: -1, name: "-E[D(x)]")
    case .lsgan:
      return try g.value(.mse, [dReal, g.constant(1, g.shape(dReal), name: "label 1")], name: "E[(D(x)-1)^2]")
    case .hinge:
      let margin = try g.affine(dReal, scale: -1, plus: 1, name: "1 - D(x)")
      return try g.mean(try g.value(.activation(.relu), [margin], name: "relu(1 - D(x))"), name: "E[relu(1 - D(x))]")
    case .began:
      return try g.value(.l1, [x, dReal], name: "L(x)")
    }
  }

  /// The fake-data term, built right after D(G(z)).
  func fakeTerm(_ c: DStepContext, fake: Value, dFake: Value) throws -> Value {
    let g = c.graph
    switch self {
    case .nonSaturating, .minimax, .dragan:
      return try g.value(.bceLogits, [dFake, g.constant(0, g.shape(dFake), name: "label 0")], name: "BCE(D(G(z)), 0)")
    case .wgan, .wganGP:
      return try g.mean(dFake, name: "E[D(G(z))]")
    case .lsgan:
      return try g.value(.mse, [dFake, g.constant(0, g.shape(dFake), name: "label 0")], name: "E[D(G(z))^2]")
    case .hinge:
      let margin = try g.affine(dFake, scale: 1, plus: 1, name: "1 + D(G(z))")
      return try g.mean(try g.value(.activation(.relu), [margin], name: "relu(1 + D(G(z)))"), name: "E[relu(1 + D(G(z)))]")
    case .began(_, _, let k0):
      let k = try c.binder.parameter(c.state, "k", [1], .constant(k0), trainable: false)
      let lossFake = try g.value(.l1, [fake, dFake], name: "L(G(z))")
      let weighted = try g.value(.mul, [k, lossFake], name: "k·L(G(z))")
      return try g.value(.scale(-1), [weighted], name: "-k·L(G(z))")
    }
  }

  /// The whole D side of the objective.
  func discriminatorTerms(_ c: DStepContext, x: Value, dReal: Value, fake: Value, dFake: Value, real: Value, fakeTerm: Value)
    throws -> DiscriminatorTerms
  {
    let g = c.graph
    var terms = DiscriminatorTerms(real: real, fake: fakeTerm, dReal: real, dFake: fakeTerm)
    if !discriminatorIsAutoencoder { (terms.dReal, terms.dFake) = try reportedMeans(c, dReal: dReal, dFake: dFake) }
    switch self {
    case .wgan(let clip):
      terms.afterUpdate.append { store, binder in
        for (name, p) in binder.parameters(of: store).sorted(by: { $0.key < $1.key })
        where store.trainable.contains(where: { $0.name == name }) {
          let clamped = try g.value(.clamp(min: -clip, max: clip), [p], name: "clip \(name)")
          try g.add(.assign, [p, clamped], name: "clip \(name) write")
        }
      }
    case .wganGP(let lambda):
      let alpha = try c.uniform([c.batch], "alpha", 0xA1)
      let diff = try g.plus(x, try g.value(.scale(-1), [fake], name: "-G(z)"), name: "x - G(z)")
      let xHat = try g.plus(fake, try g.scalePerSample(diff, by: alpha, name: "α(x - G(z))"), name: "x̂")
      let (penalty, norm) = try Self.gradientPenalty(c, at: xHat, lambda: lambda)
      terms.penalties.append(penalty)
      terms.extras["grad_norm"] = norm
    case .dragan(let lambda):
      let n = g.shape(x).count
      let mean = try g.mean(x, name: "mean(x)")
      let centred = try g.plus(x, try g.value(.scalarBroadcast(g.shape(x), alpha: -1), [mean], name: "-mean(x)"), name: "x - mean")
      let squares = try g.value(.activation(.square), [centred], name: "(x - mean)^2")
      let variance = try g.value(.reduceSum(alpha: 1 / Float(max(n - 1, 1))), [squares], name: "var(x)")
      let std = try g.value(.activation(.sqrt), [variance], name: "std(x)")
      let u = try c.uniform(g.shape(x), "u", 0xA2)
      let perturbation = try g.value(
        .mul, [u, try g.value(.scalarBroadcast(g.shape(x), alpha: 0.5), [std], name: "0.5·std")], name: "x_p - x")
      let alpha = try c.uniform([c.batch], "alpha", 0xA1)
      let xTilde = try g.plus(x, try g.scalePerSample(perturbation, by: alpha, name: "α(x_p - x)"), name: "x̃")
      let (penalty, norm) = try Self.gradientPenalty(c, at: xTilde, lambda: lambda)
      terms.penalties.append(penalty)
      terms.extras["grad_norm"] = norm
    case .began(let gamma, let lambdaK, let k0):
      let k = try c.binder.parameter(c.state, "k", [1], .constant(k0), trainable: false)
      // L(x) and L(G(z)) for the log's D(x), D(G(z)), the balance γ·L(x) − L(G(z)) and M
      // (nothing differentiates these: k's update is an effect after the optimiser step).
      let lossReal = real
      let lossFake = try g.value(.l1, [fake, dFake], name: "L(G(z)) for k")
      (terms.dReal, terms.dFake) = (lossReal, lossFake)
      let rankBalance = try g.plus(
        try g.value(.scale(gamma), [lossReal], name: "γ·L(x)"), try g.value(.scale(-1), [lossFake], name: "-L(G(z))"),
        name: "γ·L(x) - L(G(z))")
      // In a data-parallel job, the job's balance (the mean of the ranks' equal-sized
      // batches'), so every rank moves k_t alike.
      let balance = c.ranks > 1 ? try g.value(.allreduceMean, [rankBalance], name: "γ·L(x) - L(G(z)) over ranks") : rankBalance
      terms.extras["M"] = try g.plus(
        lossReal, try g.value(.l1, [balance, g.constant(0, [1], name: "0")], name: "|γ·L(x) - L(G(z))|"), name: "M")
      // A view of k: read by the statistics after the update below, it logs the new k_t.
      terms.extras["k"] = try g.value(.detach, [k], name: "k")
      terms.afterUpdate.append { _, _ in
        let step = try g.plus(k, try g.value(.scale(lambdaK), [balance], name: "λ_k·(γ·L(x) - L(G(z)))"), name: "k + Δk")
        try g.add(.assign, [k, try g.value(.clamp(min: 0, max: 1), [step], name: "clamp(k, 0, 1)")], name: "k update")
      }
    case .nonSaturating, .minimax, .lsgan, .hinge:
      break
    }
    return terms
  }

  /// λ·E[(‖∇D(v)‖₂ − 1)²] at v, and the mean gradient norm E‖∇D(v)‖₂ (for the log).
  static func gradientPenalty(_ c: DStepContext, at v: Value, lambda: Float) throws -> (Value, Value) {
    let g = c.graph
    let scores = try c.critic(v, "penalty")
    let total = try g.value(.reduceSum(alpha: 1), [scores], name: "ΣD(x̂)")
    guard let grad = try g.gradients(of: total, wrt: [v])[0] else {
      throw KallimaError.invalidArgument(op: "gradient penalty", message: "D's output does not depend on its input")
    }
    let norm = try g.value(.activation(.sqrt), [try g.squaredNormPerSample(grad, name: "‖∇D‖²")], name: "‖∇D‖")
    let gap = try g.affine(norm, scale: 1, plus: -1, name: "‖∇D‖ - 1")
    let penalty = try g.mean(try g.value(.activation(.square), [gap], name: "(‖∇D‖ - 1)^2"), alpha: lambda, name: "gradient penalty")
    return (penalty, try g.mean(norm, name: "E‖∇D‖"))
  }

  /// D(x) and D(G(z)) as the log reports them (scoring Ds; BEGAN reports L(x), L(G(z))).
  func reportedMeans(_ c: DStepContext, dReal: Value, dFake: Value) throws -> (Value, Value) {
    let g = c.graph
    if reportsProbabilities {
      return (
        try g.mean(try g.value(.activation(.sigmoid), [dReal], name: "D(x) sigmoid"), name: "D(x)"),
        try g.mean(try g.value(.activation(.sigmoid), [dFake], name: "D(G(z)) sigmoid"), name: "D(G(z))")
      )
    }
    return (try g.mean(dReal, name: "D(x)"), try g.mean(dFake, name: "D(G(z))"))
  }

  /// G's loss from the generated batch and D's output on it.
  func generatorLoss(_ g: Graph, fake: Value, dFake: Value) throws -> Value {
    switch self {
    case .nonSaturating, .dragan:
      return try g.value(.bceLogits, [dFake, g.constant(1, g.shape(dFake), name: "label 1")], name: "loss_G")
    case .minimax:
      let bce = try g.value(.bceLogits, [dFake, g.constant(0, g.shape(dFake), name: "label 0")], name: "BCE(D(G(z)), 0)")
      return try g.value(.scale(-1), [bce], name: "loss_G")
    case .wgan, .wganGP, .hinge:
      return try g.mean(dFake, alpha: -1, name: "loss_G")
    case .lsgan:
      return try g.value(.mse, [dFake, g.constant(1, g.shape(dFake), name: "label 1")], name: "loss_G")
    case .began:
      return try g.value(.l1, [fake, dFake], name: "loss_G")
    }
  }
}

extension Regularizer {
  /// The penalty term for D's loss (R1 differentiates the D(x) already built), and the value
  /// of its `statistic`.
  func penalty(_ c: DStepContext, x: Value, dReal: Value) throws -> (Value, Value?) {
    let g = c.graph
    switch self {
    case .drift(let epsilon):
      let squares = try g.value(.mul, [dReal, dReal], name: "D(x)²")
      return (try g.mean(squares, alpha: epsilon, name: "drift ε·E[D(x)²]"), nil)
    case .r1(let gamma, _):
      let total = try g.value(.reduceSum(alpha: 1), [dReal], name: "ΣD(x)")
      guard let grad = try g.gradients(of: total, wrt: [x])[0] else {
        throw KallimaError.invalidArgument(op: "R1", message: "D's output does not depend on its input")
      }
      let squares = try g.squaredNormPerSample(grad, name: "‖∇D(x)‖²")
      let penalty = try g.mean(squares, alpha: gamma / 2, name: "R1 penalty")
      let norm = try g.mean(try g.value(.activation(.sqrt), [squares], name: "‖∇D(x)‖"), name: "E‖∇D(x)‖")
      return (penalty, norm)
    }
  }
}
