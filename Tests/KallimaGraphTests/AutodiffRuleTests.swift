import KallimaCPU
import KallimaCore
import KallimaGraph
import Testing

/// One graph node whose shipped derivative rule is checked: the op, its inputs, and the
/// inputs the rule deliberately gives no gradient for (with the reason).
struct RuleCase: CustomStringConvertible {
  enum Fill {
    case normal(Float)
    case uniform(Float, Float)
  }
  struct Input {
    let name: String
    let shape: Shape
    let fill: Fill
    init(_ name: String, _ shape: Shape, _ fill: Fill = .normal(1)) {
      self.name = name
      self.shape = shape
      self.fill = fill
    }
  }

  let op: GraphOp
  let inputs: [Input]
  /// Input index → why `Graph.gradients` gives it none although the op depends on it.
  /// Every other input is checked, a nil gradient counting as zero (so rules that return
  /// nil for a derivative that is zero almost everywhere, e.g. max_pool2d_bwd in x, are
  /// checked too).
  var noGradient: [Int: String] = [:]
  var label: String? = nil

  var description: String { label ?? "\(op)" }
}

/// Every op of the graph IR (`GraphOp.Kind.allCases`): a one-node graph, L = Σₖ Σ rₖ ⊙ yₖ
/// over its outputs with fixed random rₖ, and ∂L/∂input from `Graph.gradients` (the shipped
/// rule) against the fourth-order central difference of L on the CPU reference in Double
/// (`FiniteDifferences`, h = 1e-4). Inputs are random: an element within 2h of a kink (ReLU
/// at 0, a max-pool tie, a clamp bound, l1 at x = t) would show as a large error, and none
/// does with these seeds.
///
/// Tolerance: relative error (with a floor of 1e-3 of the tensor's largest gradient, see
/// `FiniteDifferences.compare`) ≤ 1e-7, the double-backprop checks' bound. Measured on the 74
/// cases: worst 5.9e-9 (batchnorm_eval; the linear ops' ~1e-9 is the difference's Double
/// rounding, ~1e-11 absolute, judged against the floor): 17x margin. A wrong rule shows as
/// 1e-3 or more (a flipped sign of mse's target gradient, slice's offset off by one and
/// mul_channel's gradient without its x factor gave 2.0, 1.5 and 1.8). Counts the rules
/// divide by (batch norm's m, instance norm's H·W, the losses' N) are powers of two: the
/// rules carry 1/m and 1/N as Float op parameters, whose float32 rounding would otherwise
/// add up to a few 2⁻²⁴ (measured 2.4e-7 on batchnorm_bwd with m = 12).
@Suite("Autodiff rules: every GraphOp's Graph.gradients against finite differences (CPU, Double)")
struct AutodiffRuleTests {
  static let tolerance = 1e-7

  /// Ops with nothing to differentiate, and why. Together with `cases` they must be the
  /// whole op set: a new op fails `everyOpHasACheck` until it is listed in one of them.
  static let notDifferentiable: [GraphOp.Kind: String] = [
    .input: "a leaf: no inputs", .parameter: "a leaf: no inputs", .constant: "a leaf: no inputs",
    .randomNormal: "a random leaf: no inputs", .randomUniform: "a random leaf: no inputs",
    .dropoutMask: "a random leaf: no inputs",
    .assign: "an effect with no outputs", .accumulate: "an effect with no outputs",
    .adamUpdate: "an optimiser step: an effect with no outputs", .sgdUpdate: "an optimiser step: an effect with no outputs",
    .rmspropUpdate: "an optimiser step: an effect with no outputs", .emaUpdate: "an effect with no outputs",
  ]

  static let cases = makeCases()

  @Test("every op of GraphOp has a rule check or is listed as not differentiable, never both")
  func everyOpHasACheck() {
    let checked = Set(Self.cases.map(\.op.kind))
    let listed = Set(Self.notDifferentiable.keys)
    let missing = Set(GraphOp.Kind.allCases).subtracting(checked).subtracting(listed)
    #expect(missing.isEmpty, "ops without a gradient check: \(missing.map(\.rawValue).sorted())")
    #expect(checked.isDisjoint(with: listed), "both checked and listed: \(checked.intersection(listed))")
  }

  @Test("Graph.gradients of one node equals central differences", arguments: 0..<cases.count)
  func rule(index: Int) throws {
    let c = Self.cases[index]
    let g = Graph()
    let xs = c.inputs.map { g.input($0.shape, name: $0.name) }
    let outputs = try g.add(c.op, xs, name: "\(c)")
    var terms: [Value] = []
    for (k, y) in outputs.enumerated() {
      let r = g.input(g.shape(y), name: "r\(k)")
      terms.append(try g.value(.reduceSum(alpha: 1), [try g.value(.mul, [r, y])], name: "Σ r\(k)·y\(k)"))
    }
    var loss = terms[0]
    for t in terms.dropFirst() { loss = try g.value(.add, [loss, t], name: "L") }
    let grads = try g.gradients(of: loss, wrt: xs)
    for (i, reason) in c.noGradient {
      #expect(grads[i] == nil, "\(c): input \(c.inputs[i].name) is listed as '\(reason)' but the rule gives a gradient")
    }
    let checked = xs.indices.filter { c.noGradient[$0] == nil }
    var values: [Value: [Double]] = [:]
    for (i, spec) in c.inputs.enumerated() {
      let stream = RandomStream(seed: UInt64(100 + i))
      values[xs[i]] = (0..<spec.shape.count).map { j in
        switch spec.fill {
        case .normal(let std): return Double(Philox.normal(stream: stream, index: j, mean: 0, std: std))
        case .uniform(let lo, let hi): return Double(Philox.uniform(stream: stream, index: j, low: lo, high: hi))
        }
      }
    }
    let cpu = CPUBackend()
    let bindings = try FiniteDifferences.bindExternals(g, on: cpu, values: values)
    let plan = try Plan(graph: g, backend: cpu, bindings: bindings, keep: [loss] + grads.compactMap { $0 })
    let worst = try FiniteDifferences.compare(
      g, plan, cpu, output: loss, targets: checked.map { xs[$0] }, grads: checked.map { grads[$0] },
      bindings: bindings, tolerance: Self.tolerance, samples: 24, label: "\(c)")
    // A check that compares zeros with zeros proves nothing: some checked gradient must move.
    let moved = try checked.contains { i in try grads[i].map { try cpu.readDouble(plan.tensor($0)).contains { $0 != 0 } } ?? false }
    #expect(moved || checked.isEmpty, "\(c): every checked gradient is zero")
    print("rule \(c): worst relative error \(worst)")
  }
}

extension AutodiffRuleTests {
  static func makeCases() -> [RuleCase] {
    typealias I = RuleCase.Input
    var cases: [RuleCase] = []
    func add(_ op: GraphOp, _ inputs: [I], noGradient: [Int: String] = [:], label: String? = nil) {
      cases.append(RuleCase(op: op, inputs: inputs, noGradient: noGradient, label: label))
    }

    // Convolutions: k3 s2 p1 on 5x5 (3x3 out), and the transpose k4 s2 p1 (3x3 -> 6x6).
    let conv = Conv2dParams(stride: 2, padding: 1)
    let (cx, cw, cy): (Shape, Shape, Shape) = ([2, 2, 5, 5], [3, 2, 3, 3], [2, 3, 3, 3])
    add(.conv2d(conv), [I("x", cx), I("w", cw, .normal(0.5)), I("b", [3])], label: "conv2d with bias")
    add(.conv2d(conv), [I("x", cx), I("w", cw, .normal(0.5))], label: "conv2d without bias")
    add(.conv2dBwdData(conv, input: cx), [I("dy", cy), I("w", cw)])
    add(.conv2dBwdWeight(conv, weight: cw), [I("x", cx), I("dy", cy)])
    let convT = ConvTranspose2dParams(stride: 2, padding: 1)
    let (tx, tw, ty): (Shape, Shape, Shape) = ([2, 3, 3, 3], [3, 2, 4, 4], [2, 2, 6, 6])
    add(.convTranspose2d(convT), [I("x", tx), I("w", tw, .normal(0.5)), I("b", [2])], label: "conv_transpose2d with bias")
    add(.convTranspose2d(convT), [I("x", tx), I("w", tw, .normal(0.5))], label: "conv_transpose2d without bias")
    add(.convTranspose2dBwdData(convT, input: tx), [I("dy", ty), I("w", tw)])
    add(.convTranspose2dBwdWeight(convT, weight: tw), [I("x", tx), I("dy", ty)])

    // Normalisation. Running statistics are state: eval mode reads them but gives them no
    // gradient; train mode only writes them (its outputs do not depend on them: checked, zero).
    let bx: Shape = [2, 2, 2, 2]  // m = 8 per channel
    let stats = "running statistics are state, not trained: the rule gives them no gradient"
    add(
      .batchnormTrain(momentum: 0.1, eps: 1e-5),
      [I("x", bx, .uniform(-2, 2)), I("gamma", [2]), I("beta", [2]), I("rm", [2]), I("rv", [2], .uniform(0.5, 2))])
    add(
      .batchnormBwd,
      [I("dy", bx), I("x", bx, .uniform(-2, 2)), I("gamma", [2]), I("mean", [2], .uniform(-0.5, 0.5)),
       I("invstd", [2], .uniform(0.5, 1.5))])
    add(
      .batchnormEval(eps: 1e-5),
      [I("x", bx), I("gamma", [2]), I("beta", [2]), I("rm", [2]), I("rv", [2], .uniform(0.5, 2))],
      noGradient: [3: stats, 4: stats])
    add(
      .batchnormEvalBwd(eps: 1e-5),
      [I("dy", bx), I("x", bx), I("gamma", [2]), I("rm", [2]), I("rv", [2], .uniform(0.5, 2))],
      noGradient: [3: stats, 4: stats])
    add(.instanceNorm(eps: 1e-5), [I("x", [2, 3, 2, 2], .uniform(-2, 2))])
    add(
      .instanceNormBwd,
      [I("dy", [2, 3, 2, 2]), I("x", [2, 3, 2, 2], .uniform(-2, 2)), I("mean", [6], .uniform(-0.5, 0.5)),
       I("invstd", [6], .uniform(0.5, 1.5))])

    // Data: the dataset is not a trained value.
    add(
      .gatherImages(DataOrder(seed: 3, count: 4), batch: 3, flip: true), [I("source", [4, 1, 2, 3])],
      noGradient: [0: "the dataset is data, not a trained value: the rule gives it no gradient"])
    add(
      .mismatchRows, [I("conditions", [5, 3])],
      noGradient: [0: "conditions are data, not trained values: the rule gives them no gradient"])
    add(
      .randomCrop(seed: 5, height: 2, width: 3), [I("images", [2, 3, 4, 5])],
      noGradient: [0: "a crop of the training data is data: the rule gives it no gradient"])
    add(
      .imagePool(seed: 5), [I("pool", [3, 2, 2, 2]), I("fakes", [2, 2, 2, 2])],
      noGradient: [
        0: "the pool holds past fakes as data", 1: "D is shown the fakes as data (the reference detaches them)",
      ])

    // Pooling and resizing.
    let pool = Pool2dParams(kernel: 3, stride: 2, padding: 1)
    let (px, py): (Shape, Shape) = ([2, 2, 5, 5], [2, 2, 3, 3])
    add(.maxPool2d(pool), [I("x", px)])
    add(.maxPool2dBwd(pool), [I("x", px), I("dy", py)])
    add(.maxPool2dGather(pool), [I("x", px), I("g", px)])
    for include in [false, true] {
      add(.avgPool2d(pool, countIncludePad: include), [I("x", px)], label: "avg_pool2d countIncludePad \(include)")
      add(.avgPool2dBwd(pool, countIncludePad: include, input: px), [I("dy", py)], label: "avg_pool2d_bwd countIncludePad \(include)")
    }
    add(.upsampleBilinear(height: 5, width: 7), [I("x", [1, 2, 3, 4])])
    add(.upsampleBilinearBwd(input: [1, 2, 3, 4]), [I("dy", [1, 2, 5, 7])])
    let pad = Padding2d(top: 2, bottom: 1, left: 1, right: 2)
    add(.reflectionPad2d(pad), [I("x", [1, 2, 4, 5])])
    add(.reflectionPad2dBwd(pad), [I("dy", [1, 2, 7, 8])])
    add(.upsampleNearest(scale: 2), [I("x", [1, 2, 2, 3])])
    add(.upsampleNearestBwd(scale: 2), [I("dy", [1, 2, 4, 6])])

    // Pointwise.
    let activations: [Activation] = [.relu, .leakyRelu(slope: 0.2), .tanh, .sigmoid, .sqrt, .square, .rsqrt, .exp]
    for a in activations {
      let positive = a == .sqrt || a == .rsqrt
      add(.activation(a), [I("x", [2, 7], positive ? .uniform(0.2, 2) : .normal(1.5))])
      add(
        .activationBwd(a),
        [I("x", [2, 7], positive ? .uniform(0.2, 2) : .normal(1.5)), I("y", [2, 7], positive ? .uniform(0.5, 2) : .uniform(-0.9, 0.9)),
         I("dy", [2, 7])])
    }
    let s: Shape = [2, 3, 4]
    add(.add, [I("a", s), I("b", s)])
    add(.mul, [I("a", s), I("b", s)])
    add(.scale(-1.7), [I("x", s)])
    add(.addChannel, [I("x", s), I("v", [3])])
    add(.mulChannel, [I("x", s), I("v", [3])])
    add(.channelSum, [I("x", s)])
    add(.channelBroadcast(s), [I("g", [3])])
    add(.clamp(min: -0.5, max: 0.7), [I("x", [24])])
    add(.clampBwd(min: -0.5, max: 0.7), [I("x", [24]), I("dy", [24])])
    add(.mulScalar, [I("x", [2, 5]), I("s", [1])])
    add(.divScalar, [I("x", [2, 5]), I("s", [1], .uniform(0.5, 2))])
    add(.transpose01, [I("x", [3, 2, 2])])
    add(.allreduceMean, [I("x", [3, 5])])  // one rank: the identity
    add(.detach, [I("x", [5])], noGradient: [0: "stop-gradient by definition (torch's .detach())"])
    add(.reshape([3, 4]), [I("x", [2, 6])])

    // Matrix and reductions.
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
      let a: Shape = ta ? [4, 3] : [3, 4]
      let b: Shape = tb ? [5, 4] : [4, 5]
      add(.matmul(transposeA: ta, transposeB: tb, alpha: 0.75), [I("a", a), I("b", b)], label: "matmul ta \(ta) tb \(tb)")
    }
    add(.reduceSum(alpha: 0.5), [I("x", [2, 5])])
    add(.scalarBroadcast([2, 3], alpha: -1.5), [I("g", [1])])

    // Losses, softmax and their backwards (targets in (0, 1), dloss a one-element tensor).
    add(.bceLogits, [I("x", [8], .normal(2)), I("t", [8], .uniform(0, 1))])
    add(.bceLogitsBwd, [I("x", [8], .normal(2)), I("t", [8], .uniform(0, 1)), I("dloss", [1])])
    add(.mse, [I("x", [8]), I("t", [8])])
    add(.mseBwd, [I("x", [8]), I("t", [8]), I("dloss", [1])])
    add(.l1, [I("x", [8]), I("t", [8])])
    add(.l1Bwd, [I("x", [8]), I("t", [8]), I("dloss", [1])])
    add(.softmax, [I("x", [4, 3])])
    let noLog = "∂/∂t = −log_softmax(x)/N needs a log, which the op set lacks: the rule gives targets none"
    add(.softmaxCrossEntropy, [I("x", [4, 3]), I("t", [4, 3], .uniform(0, 1))], noGradient: [1: noLog])
    add(.softmaxCrossEntropyBwd, [I("x", [4, 3]), I("t", [4, 3], .uniform(0, 1)), I("dloss", [1])])

    // Channel views.
    add(.concat, [I("a", [2, 2, 3]), I("b", [2, 3, 3])], label: "concat of 2")
    add(.concat, [I("a", [2, 1, 3]), I("b", [2, 3, 3]), I("c", [2, 2, 3])], label: "concat of 3")
    add(.slice(start: 1, count: 2), [I("x", [2, 4, 3])])
    add(.channelPad(start: 1, [2, 5, 3]), [I("g", [2, 2, 3])])
    return cases
  }
}
