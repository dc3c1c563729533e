import Foundation
import KallimaCPU
import KallimaCore
import KallimaGraph
import KallimaNN
import KallimaOpenCL
import Testing

/// A penalty on the critic's input gradient g = ∇ₓ f: P = Σ r ⊙ g with a fixed random r
/// (linear in g: checks the second derivative alone), or P = ‖g‖² (WGAN-GP, R1 shape).
enum InputGradientPenalty: CaseIterable {
  case weighted, squaredNorm
}

/// Double backprop checked by central finite differences on the CPU reference (Double):
/// a critic f(x; θ) is built as a graph, P(θ, x) from ∇ₓ f by `gradients(of:wrt:seed:)`,
/// and dP/dθ (and dP/dx) by a second `gradients` call, compared with the fourth-order
/// central difference (8·(P(v+h) − P(v−h)) − (P(v+2h) − P(v−2h)))/12h, h = 1e-4
/// (truncation ~h⁴·P⁽⁵⁾ ≈ 1e-16 and rounding ~1e-16·P/h ≈ 1e-12 relative). Error of element i: |fd − autodiff| / max(|fd|, |autodiff|,
/// 1e-3·max|autodiff| over the tensor) — relative, with a floor so components that cancel
/// to ~0 are judged against the tensor's scale. Inputs are random, off kinks (LeakyReLU at
/// 0, max-pool ties, l1 at x = t are hit with probability ~0 by a 1e-5 step).
struct DoubleBackpropChecker {
  let graph: Graph
  /// Values to bind instead of N(0, 1) (inputs) / N(0, 0.5²) (parameters).
  var values: [Value: [Double]] = [:]

  init(_ graph: Graph) { self.graph = graph }

  /// Checks dP/dv for every v in `wrt` and returns the worst relative error seen.
  @discardableResult
  func check(
    critic f: Value, x: Value, wrt targets: [Value], penalty kind: InputGradientPenalty, tolerance: Double,
    samples: Int = 12, label: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> Double {
    let g = graph
    let gx = try #require(try g.gradients(of: f, wrt: [x])[0], sourceLocation: sourceLocation)
    let penalty: Value
    switch kind {
    case .weighted:
      let r = g.input(g.shape(gx), name: "r")
      penalty = try g.value(.reduceSum(alpha: 1), [try g.value(.mul, [r, gx])], name: "Σ r·∇ₓf")
    case .squaredNorm:
      penalty = try g.value(.reduceSum(alpha: 1), [try g.value(.activation(.square), [gx])], name: "‖∇ₓf‖²")
    }
    let grads = try g.gradients(of: penalty, wrt: targets)
    let cpu = CPUBackend()
    let bindings = try FiniteDifferences.bindExternals(g, on: cpu, values: values)
    let plan = try Plan(graph: g, backend: cpu, bindings: bindings, keep: [penalty] + grads.compactMap { $0 })
    let worst = try FiniteDifferences.compare(
      g, plan, cpu, output: penalty, targets: targets, grads: grads, bindings: bindings, tolerance: tolerance,
      samples: samples, label: "\(label) \(kind)", sourceLocation: sourceLocation)
    try plan.run()
    #expect(try cpu.readDouble(plan.tensor(penalty))[0].isFinite, sourceLocation: sourceLocation)
    print("double backprop \(label) \(kind): worst relative error \(worst)")
    return worst
  }
}

/// Graph-building shorthand for the test critics.
extension Graph {
  func conv(_ x: Value, _ w: Value, bias b: Value? = nil, stride: Int = 1, padding: Int = 1, name: String) throws -> Value {
    try value(.conv2d(Conv2dParams(stride: stride, padding: padding)), [x, w] + (b.map { [$0] } ?? []), name: name)
  }
  func act(_ a: Activation, _ x: Value) throws -> Value { try value(.activation(a), [x], name: "\(a)") }
  /// Σ y² : a nonlinear scalar head, so ∇ₓ f depends on every layer.
  func sumOfSquares(_ y: Value) throws -> Value {
    try value(.reduceSum(alpha: 0.5), [try act(.square, y)], name: "f")
  }
}

@Suite("Double backprop: d/dθ of a penalty on ∇ₓD through every critic op (CPU, Double, finite differences)")
struct DoubleBackpropTests {
  // Each check prints its worst relative error ("double backprop … worst relative error").
  // Measured on this CPU (sampled elements of every θ and x): 7e-11 (conv) to 5.6e-9 (l1,
  // ‖∇‖²), 5.2e-9 group norm, 8e-10 batch norm train, 8.3e-9 batch norm with gradients
  // into all its outputs, 2.5e-9 batch norm eval, 3.9e-9 max pool. A wrong rule shows as
  // 1e-3 or more; 1e-7 leaves 12x margin on the worst (8.3e-9).
  static let tolerance = 1e-7

  @Test("batch norm, train mode: conv → BN(batch stats) → tanh → conv → Σ(·)²; d/d(w1, γ, β, w2, x)")
  func batchnormTrain() throws {
    for kind in InputGradientPenalty.allCases {
      let g = Graph()
      let x = g.input([4, 2, 4, 4], name: "x")  // m = N·H·W = 64 per channel
      let w1 = g.parameter([3, 2, 3, 3], name: "w1")
      let gamma = g.parameter([3], name: "bn.weight")
      let beta = g.parameter([3], name: "bn.bias")
      let rm = g.parameter([3], name: "bn.running_mean")
      let rv = g.parameter([3], name: "bn.running_var")
      let w2 = g.parameter([2, 3, 3, 3], name: "w2")
      let h = try g.conv(x, w1, name: "conv1")
      let bn = try g.add(.batchnormTrain(momentum: 0.1, eps: 1e-5), [h, gamma, beta, rm, rv], name: "bn")[0]
      let f = try g.sumOfSquares(try g.conv(try g.act(.tanh, bn), w2, name: "conv2"))
      var checker = DoubleBackpropChecker(g)
      checker.values[gamma] = [1.2, 0.7, -0.9]
      checker.values[rv] = [1, 1, 1]
      try checker.check(critic: f, x: x, wrt: [w1, gamma, beta, w2, x], penalty: kind, tolerance: Self.tolerance, label: "batchnorm train")
    }
  }

  @Test("batch norm's second derivative when the penalty reaches dγ, dβ and the statistics too (P on ∇ over x and γ)")
  func batchnormTrainAllOutputs() throws {
    // P = Σ r·∇ₓf + Σ q·∇_γ f + Σ p·∇_β f: gradients arrive at all three outputs of
    // batchnorm_bwd, and through its μ, s inputs at batchnorm_train's secondary outputs.
    let g = Graph()
    let x = g.input([2, 3, 4, 2], name: "x")  // m = 16
    let gamma = g.parameter([3], name: "bn.weight")
    let beta = g.parameter([3], name: "bn.bias")
    let rm = g.parameter([3], name: "bn.running_mean")
    let rv = g.parameter([3], name: "bn.running_var")
    let y = try g.add(.batchnormTrain(momentum: 0.1, eps: 1e-5), [x, gamma, beta, rm, rv], name: "bn")[0]
    let f = try g.sumOfSquares(try g.act(.sigmoid, y))
    let grads = try g.gradients(of: f, wrt: [x, gamma, beta]).map { $0! }
    let rs = grads.enumerated().map { g.input(g.shape($0.element), name: "r\($0.offset)") }
    var terms: [Value] = []
    for (r, d) in zip(rs, grads) { terms.append(try g.value(.reduceSum(alpha: 1), [try g.value(.mul, [r, d])])) }
    let p = try g.value(.add, [try g.value(.add, [terms[0], terms[1]]), terms[2]], name: "P")
    // Reuse the checker's FD loop on P directly: treat P as the "critic" of a trivial input.
    let targets = [x, gamma, beta]
    let dp = try g.gradients(of: p, wrt: targets)
    let cpu = CPUBackend()
    let bindings = try FiniteDifferences.bindExternals(g, on: cpu, values: [rv: [1, 1, 1]], seedOffset: 7, parameterStd: 1)
    let plan = try Plan(graph: g, backend: cpu, bindings: bindings, keep: [p] + dp.compactMap { $0 })
    #expect(!dp.contains { $0 == nil })
    let worst = try FiniteDifferences.compare(
      g, plan, cpu, output: p, targets: targets, grads: dp, bindings: bindings, tolerance: Self.tolerance,
      samples: .max, label: "batchnorm all outputs")
    print("double backprop batchnorm all outputs: worst relative error \(worst)")
  }

  @Test("batch norm, eval mode (running statistics): conv → BN(eval) → tanh → conv → Σ(·)²")
  func batchnormEval() throws {
    for kind in InputGradientPenalty.allCases {
      let g = Graph()
      let x = g.input([2, 2, 4, 4], name: "x")
      let w1 = g.parameter([3, 2, 3, 3], name: "w1")
      let gamma = g.parameter([3], name: "bn.weight")
      let beta = g.parameter([3], name: "bn.bias")
      let rm = g.parameter([3], name: "bn.running_mean")
      let rv = g.parameter([3], name: "bn.running_var")
      let w2 = g.parameter([2, 3, 3, 3], name: "w2")
      let bn = try g.value(.batchnormEval(eps: 1e-5), [try g.conv(x, w1, name: "conv1"), gamma, beta, rm, rv], name: "bn")
      let f = try g.sumOfSquares(try g.conv(try g.act(.tanh, bn), w2, name: "conv2"))
      var checker = DoubleBackpropChecker(g)
      checker.values[rv] = [0.5, 2, 1.3]
      try checker.check(critic: f, x: x, wrt: [w1, gamma, beta, w2, x], penalty: kind, tolerance: Self.tolerance, label: "batchnorm eval")
    }
  }

  @Test("max pooling (overlapping 3x3 windows, stride 2, padding 1): conv → max pool → tanh → conv → Σ(·)²")
  func maxPooling() throws {
    for kind in InputGradientPenalty.allCases {
      let g = Graph()
      let x = g.input([2, 2, 8, 8], name: "x")
      let w1 = g.parameter([3, 2, 3, 3], name: "w1")
      let w2 = g.parameter([2, 3, 3, 3], name: "w2")
      let pooled = try g.value(.maxPool2d(Pool2dParams(kernel: 3, stride: 2, padding: 1)), [try g.conv(x, w1, name: "conv1")], name: "max pool")
      let f = try g.sumOfSquares(try g.conv(try g.act(.tanh, pooled), w2, name: "conv2"))
      try DoubleBackpropChecker(g).check(critic: f, x: x, wrt: [w1, w2, x], penalty: kind, tolerance: Self.tolerance, label: "max pool")
    }
  }

  @Test(
    "every activation's backward: conv(+bias) → act → conv → Σ",
    arguments: ["relu", "leaky_relu", "tanh", "sigmoid", "square", "sqrt"])
  func activation(_ which: String) throws {
    for kind in InputGradientPenalty.allCases {
      let g = Graph()
      let x = g.input([2, 2, 5, 5], name: "x")
      let w1 = g.parameter([3, 2, 3, 3], name: "w1")
      let b1 = g.parameter([3], name: "b1")
      let w2 = g.parameter([2, 3, 3, 3], name: "w2")
      let h = try g.conv(x, w1, bias: b1, name: "conv1")
      let a: Value
      switch which {
      case "relu": a = try g.act(.relu, h)
      case "leaky_relu": a = try g.act(.leakyRelu(slope: 0.2), h)
      case "tanh": a = try g.act(.tanh, h)
      case "sigmoid": a = try g.act(.sigmoid, h)
      case "square": a = try g.act(.square, h)
      default:  // √(h² + 0.5): positive argument, and square's rule on the way
        a = try g.act(.sqrt, try g.value(.add, [try g.act(.square, h), g.constant(0.5, g.shape(h))]))
      }
      let y = try g.conv(a, w2, name: "conv2")
      let f = try g.value(.reduceSum(alpha: 1), [y], name: "f")
      try DoubleBackpropChecker(g).check(critic: f, x: x, wrt: [w1, b1, w2, x], penalty: kind, tolerance: Self.tolerance, label: which)
    }
  }

  /// D: conv(2→3, k3 s2 p1) → tanh → flatten → linear(12 → k); f = loss(D(x), t).
  func lossCritic(_ loss: GraphOp, outputs k: Int) throws -> (Graph, x: Value, t: Value, f: Value, params: [Value]) {
    let g = Graph()
    let x = g.input([4, 2, 4, 4], name: "x")
    let t = g.input([4, k], name: "t")
    let w1 = g.parameter([3, 2, 3, 3], name: "w1")
    let w2 = g.parameter([k, 12], name: "w2")
    let h = try g.act(.tanh, try g.conv(x, w1, stride: 2, name: "conv1"))
    let logits = try g.value(
      .matmul(transposeA: false, transposeB: true, alpha: 1), [try g.value(.reshape([4, 12]), [h]), w2], name: "fc")
    let f = try g.value(loss, [logits, t], name: "loss")
    return (g, x, t, f, [w1, w2])
  }

  @Test("loss backwards: bce_logits, mse, l1 and softmax cross-entropy at the end of the critic; d/d(θ, x, targets)",
    arguments: ["bce_logits", "mse", "l1", "softmax_cross_entropy"])
  func lossBackward(_ which: String) throws {
    for kind in InputGradientPenalty.allCases {
      let op: GraphOp
      let k: Int
      switch which {
      case "bce_logits": (op, k) = (.bceLogits, 1)
      case "mse": (op, k) = (.mse, 1)
      case "l1": (op, k) = (.l1, 1)
      default: (op, k) = (.softmaxCrossEntropy, 3)
      }
      let (g, x, t, f, params) = try lossCritic(op, outputs: k)
      var checker = DoubleBackpropChecker(g)
      // Soft targets: probabilities for BCE, unnormalised non-negative rows for cross-entropy.
      checker.values[t] = (0..<(4 * k)).map { i in
        let u = Double(Philox.uniform(stream: RandomStream(seed: 5), index: i, low: 0.05, high: 0.95))
        return which == "mse" || which == "l1" ? 4 * u - 2 : u
      }
      try checker.check(critic: f, x: x, wrt: params + [x, t], penalty: kind, tolerance: Self.tolerance, label: which)
    }
  }

  @Test("linear layers (matmul with every transpose flag): x·W1ᵀ + b → tanh → ½·W2ᵀ·hᵀ → Σ(·)²")
  func linear() throws {
    for kind in InputGradientPenalty.allCases {
      let g = Graph()
      let x = g.input([3, 5], name: "x")
      let w1 = g.parameter([4, 5], name: "w1")
      let b1 = g.parameter([4], name: "b1")
      let w2 = g.parameter([4, 2], name: "w2")
      let h = try g.value(.matmul(transposeA: false, transposeB: true, alpha: 1), [x, w1], name: "fc1")
      let a = try g.act(.tanh, try g.value(.addChannel, [h, b1], name: "fc1.bias"))
      let y = try g.value(.matmul(transposeA: true, transposeB: true, alpha: 0.5), [w2, a], name: "fc2")  // [2, 3]
      let f = try g.sumOfSquares(y)
      try DoubleBackpropChecker(g).check(critic: f, x: x, wrt: [w1, b1, w2, x], penalty: kind, tolerance: Self.tolerance, label: "linear")
    }
  }

  @Test("conv_transpose2d and strided conv2d with biases: convT(k4 s2 p1) → tanh → conv(k3 s2 p1) → Σ(·)²")
  func convolutions() throws {
    for kind in InputGradientPenalty.allCases {
      let g = Graph()
      let x = g.input([2, 3, 3, 3], name: "x")
      let wt = g.parameter([3, 2, 4, 4], name: "convT.weight")
      let bt = g.parameter([2], name: "convT.bias")
      let w2 = g.parameter([2, 2, 3, 3], name: "conv.weight")
      let b2 = g.parameter([2], name: "conv.bias")
      let up = try g.value(.convTranspose2d(ConvTranspose2dParams(stride: 2, padding: 1)), [x, wt, bt], name: "convT")
      let f = try g.sumOfSquares(try g.conv(try g.act(.tanh, up), w2, bias: b2, stride: 2, name: "conv"))
      try DoubleBackpropChecker(g).check(critic: f, x: x, wrt: [wt, bt, w2, b2, x], penalty: kind, tolerance: Self.tolerance, label: "conv")
    }
  }

  @Test("instance, group and layer norm (no batch statistics): conv → norm → γ, β per channel → tanh → conv → Σ(·)²",
    arguments: ["instance", "group", "layer"])
  func sampleNorms(_ which: String) throws {
    for kind in InputGradientPenalty.allCases {
      let g = Graph()
      let x = g.input([2, 4, 4, 4], name: "x")
      let w1 = g.parameter([4, 4, 3, 3], name: "w1")
      let gamma = g.parameter([4], name: "norm.weight")
      let beta = g.parameter([4], name: "norm.bias")
      let w2 = g.parameter([2, 4, 3, 3], name: "w2")
      let h = try g.conv(x, w1, name: "conv1")
      let n: Value
      switch which {
      case "instance": n = try g.instanceNorm(h)
      case "group": n = try g.groupNorm(h, groups: 2)
      default: n = try g.layerNorm(h)
      }
      let affine = try g.value(.addChannel, [try g.value(.mulChannel, [n, gamma]), beta])
      let f = try g.sumOfSquares(try g.conv(try g.act(.tanh, affine), w2, name: "conv2"))
      var checker = DoubleBackpropChecker(g)
      checker.values[gamma] = [1.1, -0.8, 0.6, 1.4]
      try checker.check(
        critic: f, x: x, wrt: [w1, gamma, beta, w2, x], penalty: kind, tolerance: Self.tolerance, label: "\(which) norm")
    }
  }
}

@Suite("Sample normalisations and double backprop on OpenCL")
struct SampleNormAndOpenCLTests {
  static func normal(_ count: Int, seed: UInt64, std: Float = 1) -> [Double] {
    (0..<count).map { Double(Philox.normal(stream: RandomStream(seed: seed), index: $0, mean: 0, std: std)) }
  }

  @Test("groupNorm / layerNorm / instanceNorm equal PyTorch's definition: biased variance, eps inside the square root")
  func matchesPyTorchDefinition() throws {
    let (n, c, h, w) = (2, 6, 3, 2)
    let eps: Float = 0.01  // large, so a misplaced eps or an unbiased variance would show
    for groups in [1, 2, 3, 6] {
      let g = Graph()
      let x = g.input([n, c, h, w], name: "x")
      let y =
        groups == 1 ? try g.layerNorm(x, eps: eps) : groups == c ? try g.instanceNorm(x, eps: eps) : try g.groupNorm(x, groups: groups, eps: eps)
      let cpu = CPUBackend()
      let xs = Self.normal(n * c * h * w, seed: 3, std: 2).map { $0 + 0.5 }
      let xt = try cpu.makeTensor([n, c, h, w])
      try cpu.writeDouble(xs, to: xt)
      let plan = try Plan(graph: g, backend: cpu, bindings: [x: xt], keep: [y])
      try plan.run()
      let got = try cpu.readDouble(plan.tensor(y))
      // torch.nn.GroupNorm(groups, C, eps, affine=False): per sample and group, over
      // (C/groups)·H·W values, (x − mean) / sqrt(mean((x − mean)²) + eps).
      let size = c / groups * h * w
      for block in 0..<(n * groups) {
        let values = xs[(block * size)..<((block + 1) * size)]
        let mean = values.reduce(0, +) / Double(size)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(size)
        for i in values.indices {
          let expected = (xs[i] - mean) / (variance + Double(eps)).squareRoot()
          #expect(abs(got[i] - expected) <= 1e-12, "groups \(groups) [\(i)]: \(got[i]) vs \(expected)")
        }
      }
    }
  }

  @Test("group norm rejects channels not divisible by the groups, naming the node")
  func groupNormShapeError() throws {
    let g = Graph()
    let x = g.input([2, 6, 4, 4], name: "x")
    #expect { _ = try g.groupNorm(x, groups: 4, name: "D.norm1") } throws: { "\($0)".contains("D.norm1") }
  }

  /// conv → batch norm (train) → LeakyReLU → max pool → group norm → tanh → linear → BCE;
  /// P = ‖∇ₓ f‖² and dP/dθ, the new second-order nodes all in one graph.
  @Test("a double-backprop graph through batch norm, max pool, group norm and BCE gives the CPU's values on OpenCL")
  func openCLParity() throws {
    let g = Graph()
    let x = g.input([2, 3, 8, 8], name: "x")
    let t = g.input([2, 1], name: "t")
    let w1 = g.parameter([4, 3, 3, 3], name: "conv.weight")
    let gamma = g.parameter([4], name: "bn.weight")
    let beta = g.parameter([4], name: "bn.bias")
    let rm = g.parameter([4], name: "bn.running_mean")
    let rv = g.parameter([4], name: "bn.running_var")
    let w2 = g.parameter([1, 64], name: "fc.weight")
    let h = try g.value(.conv2d(Conv2dParams(stride: 1, padding: 1)), [x, w1], name: "conv")
    let bn = try g.add(.batchnormTrain(momentum: 0.1, eps: 1e-5), [h, gamma, beta, rm, rv], name: "bn")[0]
    let a = try g.value(.activation(.leakyRelu(slope: 0.2)), [bn], name: "lrelu")
    let pooled = try g.value(.maxPool2d(Pool2dParams(kernel: 3, stride: 2, padding: 1)), [a], name: "max pool")
    let normed = try g.value(.activation(.tanh), [try g.groupNorm(pooled, groups: 2)], name: "tanh")
    let logits = try g.value(
      .matmul(transposeA: false, transposeB: true, alpha: 1), [try g.value(.reshape([2, 64]), [normed]), w2], name: "fc")
    let f = try g.value(.bceLogits, [logits, t], name: "bce")
    let gx = try #require(try g.gradients(of: f, wrt: [x])[0])
    let penalty = try g.value(.reduceSum(alpha: 1), [try g.value(.activation(.square), [gx])], name: "‖∇ₓf‖²")
    let params = [w1, gamma, beta, w2]
    let grads = try g.gradients(of: penalty, wrt: params).map { try #require($0) }
    var externals: [Value: [Float]] = [:]
    for (i, node) in g.nodes.enumerated() where node.op.description == "input" || node.op.description == "parameter" {
      let v = Value(node: i, output: 0)
      externals[v] = Self.normal(node.outputShapes[0].count, seed: UInt64(100 + i), std: 0.5).map { Float($0) }
    }
    externals[rv] = [1, 1, 1, 1]
    externals[t] = [0.8, 0.3]
    let cl = try OpenCLBackend()  // no device: the test fails here, it does not skip
    let divergence = try PlanValidation.firstDivergence(
      graph: g, reference: CPUBackend(), candidate: cl, externals: externals, atol: 1e-4, rtol: 1e-3)
    #expect(divergence == nil, "\(divergence.map { "\($0)" } ?? "")")
    // And the end results, run as whole plans.
    var results: [[Float]] = []
    for be: Backend in [CPUBackend(), cl] {
      var bindings: [Value: Tensor] = [:]
      for (v, values) in externals { bindings[v] = try be.makeTensor(g.shape(v), values: values) }
      let plan = try Plan(graph: g, backend: be, bindings: bindings, keep: [penalty] + grads)
      try plan.run()
      results.append(try ([penalty] + grads).flatMap { try be.read(plan.tensor($0)) })
    }
    #expect(results[0].contains { abs($0) > 1e-3 })
    for (a, e) in zip(results[1], results[0]) {
      #expect(abs(a - e) <= 1e-4 + 1e-3 * abs(e), "OpenCL \(a) vs CPU \(e)")
    }
  }
}


/// Central finite differences on the CPU reference (Double) against autodiff gradients,
/// shared by the double-backprop checks and the per-op rule checks (AutodiffRuleTests).
enum FiniteDifferences {
  /// Every input and parameter node of `g` bound to a CPU tensor holding `values[v]`, else
  /// N(0, 1) (inputs) or N(0, parameterStd²) (parameters) from Philox seeded node index + seedOffset.
  static func bindExternals(
    _ g: Graph, on cpu: CPUBackend, values: [Value: [Double]] = [:], seedOffset: Int = 1, parameterStd: Float = 0.5
  ) throws -> [Value: Tensor] {
    var bindings: [Value: Tensor] = [:]
    for (i, node) in g.nodes.enumerated() where node.op.kind == .input || node.op.kind == .parameter {
      let v = Value(node: i, output: 0)
      let shape = node.outputShapes[0]
      let std: Float = node.op.kind == .input ? 1 : parameterStd
      let stream = RandomStream(seed: UInt64(i + seedOffset))
      let fill = values[v] ?? (0..<shape.count).map { Double(Philox.normal(stream: stream, index: $0, mean: 0, std: std)) }
      let t = try cpu.makeTensor(shape)
      try cpu.writeDouble(fill, to: t)
      bindings[v] = t
    }
    return bindings
  }

  /// Compares each target's autodiff gradient (nil counts as zero) of the one-element
  /// `output` with `centralDifference` at up to `samples` evenly spread elements, and records
  /// an issue for each element whose error exceeds `tolerance`. Error of element i:
  /// |fd − autodiff| / max(|fd|, |autodiff|, 1e-3·max|autodiff| over the tensor, 1e-12) —
  /// relative, with a floor so components that cancel to ~0 are judged against the tensor's
  /// scale. Returns the worst error. The plan must keep `output` and every gradient.
  @discardableResult
  static func compare(
    _ g: Graph, _ plan: Plan, _ cpu: CPUBackend, output: Value, targets: [Value], grads: [Value?],
    bindings: [Value: Tensor], tolerance: Double, samples: Int = 12, label: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> Double {
    try plan.run()
    // Read every gradient before any perturbed run overwrites it.
    let analytics = try zip(targets, grads).map { target, grad in
      try grad.map { try cpu.readDouble(plan.tensor($0)) } ?? [Double](repeating: 0, count: g.shape(target).count)
    }
    var worst = 0.0
    for (target, analytic) in zip(targets, analytics) {
      let count = g.shape(target).count
      let scale = analytic.map(abs).max() ?? 0
      let t = try #require(bindings[target], "targets must be bound inputs or parameters", sourceLocation: sourceLocation)
      var base = try cpu.readDouble(t)
      for i in stride(from: 0, to: count, by: max(1, count / max(1, samples))) {
        let numeric = try centralDifference(cpu, plan, of: output, in: t, base: &base, at: i)
        let error = abs(numeric - analytic[i]) / max(abs(numeric), abs(analytic[i]), 1e-3 * scale, 1e-12)
        worst = max(worst, error)
        #expect(
          error <= tolerance,
          "\(label): d/d \(g.nodes[target.node].name)[\(i)]: finite difference \(numeric), autodiff \(analytic[i])",
          sourceLocation: sourceLocation)
      }
    }
    return worst
  }
}

/// The fourth-order central difference (h = 1e-4) of the one-element value `output` of `plan`
/// in element i of the bound tensor t, whose values are `base` (restored afterwards).
func centralDifference(
  _ cpu: CPUBackend, _ plan: Plan, of output: Value, in t: Tensor, base: inout [Double], at i: Int
) throws -> Double {
  let h = 1e-4
  let original = base[i]
  var sides: [Double] = []
  for offset in [2 * h, h, -h, -2 * h] {
    base[i] = original + offset
    try cpu.writeDouble(base, to: t)
    try plan.run()
    sides.append(try cpu.readDouble(plan.tensor(output))[0])
  }
  base[i] = original
  try cpu.writeDouble(base, to: t)
  return (8 * (sides[1] - sides[2]) - (sides[0] - sides[3])) / (12 * h)
}

extension DoubleBackpropTests {
  /// Progressive GAN's layers, built from differentiable ops (KallimaNN): pixel norm's
  /// 1x1 convolutions with constant ones and rsqrt, and minibatch stddev's products with
  /// rows of ones and sqrt. WGAN-GP differentiates D's input gradient through them.
  @Test("Progressive GAN's pixel norm and minibatch stddev: conv → LReLU → pixel norm → minibatch stddev → conv → Σ(·)²")
  func progressiveLayers() throws {
    for kind in InputGradientPenalty.allCases {
      let g = Graph()
      let b = GraphBinder(graph: g)
      let store = ParameterStore(backend: CPUBackend(), seed: 5)
      let scope = Scope(binder: b, store: store, tag: "D")
      let x = g.input([8, 2, 4, 4], name: "x")  // 2 groups of 4
      var h = try Conv2d.equalized(2, 3, kernelSize: 3, padding: 1)(x, in: scope.child("conv1"))
      h = try PixelNorm()(try LeakyReLU(0.2)(h, in: scope), in: scope)
      h = try MinibatchStdDev(groupSize: 4)(h, in: scope)
      let f = try g.sumOfSquares(try Conv2d.equalized(4, 2, kernelSize: 3, padding: 1)(h, in: scope.child("conv2")))
      let parameters = b.parameters(of: store).sorted { $0.key < $1.key }.map(\.value)
      try DoubleBackpropChecker(g).check(
        critic: f, x: x, wrt: parameters + [x], penalty: kind, tolerance: Self.tolerance, label: "progressive layers")
    }
  }
}
