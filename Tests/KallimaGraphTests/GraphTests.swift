import KallimaCPU
import KallimaCore
import KallimaGraph
import KallimaOpenCL
import Testing

/// A small discriminator: conv(3→4, k4 s2 p1) → LeakyReLU(0.2) → linear(64 → 1).
struct TinyCritic {
  let graph = Graph()
  let x: Value
  let w1: Value, b1: Value, w2: Value, b2: Value
  let logits: Value

  init(batch n: Int) throws {
    x = graph.input([n, 3, 8, 8], name: "x")
    w1 = graph.parameter([4, 3, 4, 4], name: "conv.weight")
    b1 = graph.parameter([4], name: "conv.bias")
    w2 = graph.parameter([1, 64], name: "fc.weight")
    b2 = graph.parameter([1], name: "fc.bias")
    let h = try graph.value(.conv2d(Conv2dParams(stride: 2, padding: 1)), [x, w1, b1], name: "conv")
    let a = try graph.value(.activation(.leakyRelu(slope: 0.2)), [h], name: "lrelu")
    let flat = try graph.value(.reshape([n, 64]), [a], name: "flatten")
    let y = try graph.value(.matmul(transposeA: false, transposeB: true, alpha: 1), [flat, w2], name: "fc")
    logits = try graph.value(.addChannel, [y, b2], name: "fc.bias")
  }

  var parameters: [Value] { [w1, b1, w2, b2] }
}

/// λ·mean((‖∇ₓ Σ D(x)‖₂ − 1)²) as a graph (WGAN-GP's penalty, Gulrajani et al. 2017).
func gradientPenalty(_ d: TinyCritic, lambda: Float, batch n: Int) throws -> Value {
  let g = d.graph
  let total = try g.value(.reduceSum(alpha: 1), [d.logits], name: "sum D(x)")
  let gx = try g.gradients(of: total, wrt: [d.x])[0]!
  let sq = try g.value(.activation(.square), [gx], name: "grad²")
  let perSample = try g.value(.channelSum, [try g.value(.reshape([1, n, 192]), [sq])], name: "‖grad‖²")
  let norm = try g.value(.activation(.sqrt), [perSample], name: "‖grad‖")
  let shifted = try g.value(.add, [norm, g.constant(-1, [n])], name: "‖grad‖ − 1")
  let pen = try g.value(.activation(.square), [shifted], name: "(‖grad‖ − 1)²")
  return try g.value(.reduceSum(alpha: lambda / Float(n)), [pen], name: "penalty")
}

@Suite("Graph, autodiff and plans")
struct GraphTests {
  static func values(_ shape: Shape, seed: UInt64, std: Float) -> [Float] {
    (0..<shape.count).map { Philox.normal(stream: RandomStream(seed: seed), index: $0, mean: 0, std: std) }
  }

  @Test("gradient penalty: d/dθ of λ(‖∇ₓD(x)‖ − 1)² matches finite differences (double backprop)")
  func gradientPenaltyMatchesFiniteDifferences() throws {
    let n = 2
    let d = try TinyCritic(batch: n)
    let penalty = try gradientPenalty(d, lambda: 10, batch: n)
    let grads = try d.graph.gradients(of: penalty, wrt: d.parameters)
    let cpu = CPUBackend()
    var bindings: [Value: Tensor] = [:]
    for (i, v) in ([d.x] + d.parameters).enumerated() {
      let shape = d.graph.shape(v)
      bindings[v] = try cpu.makeTensor(shape, values: Self.values(shape, seed: UInt64(i + 1), std: i == 0 ? 1 : 0.3))
    }
    // The penalty depends on D only through ∇ₓD: the last bias drops out (nil = zero).
    #expect(grads[1] == nil && grads[3] == nil)  // conv bias only moves LeakyReLU's kinks
    let plan = try Plan(graph: d.graph, backend: cpu, bindings: bindings, keep: [penalty] + grads.compactMap { $0 })
    try plan.run()
    let p0 = try cpu.readDouble(plan.tensor(penalty))[0]
    #expect(p0 > 0.01, "penalty \(p0) should be away from zero for a meaningful check")
    let worst = try FiniteDifferences.compare(
      d.graph, plan, cpu, output: penalty, targets: d.parameters, grads: grads, bindings: bindings,
      tolerance: DoubleBackpropTests.tolerance, samples: 24, label: "gradient penalty")
    print("gradient penalty: worst relative error \(worst)")
  }

  @Test("the same gradient-penalty graph gives the same values on OpenCL")
  func gradientPenaltyOnOpenCL() throws {
    let n = 2
    let d = try TinyCritic(batch: n)
    let penalty = try gradientPenalty(d, lambda: 10, batch: n)
    let grads = try d.graph.gradients(of: penalty, wrt: d.parameters).compactMap { $0 }
    #expect(grads.count == 2)
    let cl = try OpenCLBackend()
    let cpu = CPUBackend()
    var results: [[Float]] = []
    for be: Backend in [cpu, cl] {
      var bindings: [Value: Tensor] = [:]
      for (i, v) in ([d.x] + d.parameters).enumerated() {
        let shape = d.graph.shape(v)
        bindings[v] = try be.makeTensor(shape, values: Self.values(shape, seed: UInt64(i + 1), std: i == 0 ? 1 : 0.3))
      }
      let plan = try Plan(graph: d.graph, backend: be, bindings: bindings, keep: [penalty] + grads)
      try plan.run()
      results.append(try ([penalty] + grads).flatMap { try be.read(plan.tensor($0)) })
    }
    for (a, e) in zip(results[1], results[0]) {
      #expect(abs(a - e) <= 1e-4 + 1e-3 * abs(e), "OpenCL \(a) vs CPU \(e)")
    }
  }

  /// Checks up to 24 spread elements of each parameter's autodiff gradient of the scalar
  /// `output` against fourth-order central differences on the CPU reference (Double),
  /// within DoubleBackpropTests.tolerance (relative; see FiniteDifferences.compare).
  func expectFiniteDifferences(
    _ g: Graph, output: Value, parameters: [Value], inputs: [Value], sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let grads = try g.gradients(of: output, wrt: parameters)
    #expect(!grads.contains { $0 == nil }, "every parameter reaches the output", sourceLocation: sourceLocation)
    let cpu = CPUBackend()
    var bindings: [Value: Tensor] = [:]
    for (i, v) in (inputs + parameters).enumerated() {
      let shape = g.shape(v)
      bindings[v] = try cpu.makeTensor(shape, values: Self.values(shape, seed: UInt64(i + 11), std: i < inputs.count ? 1 : 0.3))
    }
    let plan = try Plan(graph: g, backend: cpu, bindings: bindings, keep: [output] + grads.compactMap { $0 })
    let worst = try FiniteDifferences.compare(
      g, plan, cpu, output: output, targets: parameters, grads: grads, bindings: bindings,
      tolerance: DoubleBackpropTests.tolerance, samples: 24, label: "\(g.nodes[output.node].name)", sourceLocation: sourceLocation)
    print("graph gradients of \(g.nodes[output.node].name): worst relative error \(worst)")
  }

  @Test("pooling and resizing nodes: gradients through max/avg pooling and bilinear resize match finite differences")
  func poolingGradients() throws {
    let g = Graph()
    let x = g.input([2, 2, 10, 10], name: "x")  // ceil mode: 5x5 windows out, not 4x4
    let w = g.parameter([3, 2, 3, 3], name: "conv.weight")
    let h = try g.value(.conv2d(Conv2dParams(stride: 1, padding: 1)), [x, w], name: "conv")
    let m = try g.value(.maxPool2d(Pool2dParams(kernel: 3, stride: 2, ceilMode: true)), [h], name: "max pool")
    let a = try g.value(.avgPool2d(Pool2dParams(kernel: 3, stride: 1, padding: 1), countIncludePad: false), [m], name: "avg pool")
    let u = try g.value(.upsampleBilinear(height: 7, width: 11), [a], name: "resize")
    let sq = try g.value(.activation(.square), [u], name: "square")
    let loss = try g.value(.reduceSum(alpha: 0.5), [sq], name: "loss")
    #expect(g.shape(m) == [2, 3, 5, 5])
    try expectFiniteDifferences(g, output: loss, parameters: [w], inputs: [x])
  }

  @Test("double backprop through average pooling and bilinear resize (a gradient penalty over them)")
  func poolingSecondDerivatives() throws {
    let n = 2
    let g = Graph()
    let x = g.input([n, 1, 6, 6], name: "x")
    let w = g.parameter([2, 1, 3, 3], name: "conv.weight")
    let up = try g.value(.upsampleBilinear(height: 9, width: 9), [x], name: "resize")
    let h = try g.value(.conv2d(Conv2dParams(stride: 1, padding: 1)), [up, w], name: "conv")
    let act = try g.value(.activation(.leakyRelu(slope: 0.2)), [h], name: "lrelu")
    let pooled = try g.value(.avgPool2d(Pool2dParams(kernel: 3, stride: 2, padding: 1), countIncludePad: true), [act], name: "avg pool")
    let total = try g.value(.reduceSum(alpha: 1), [try g.value(.activation(.square), [pooled])], name: "sum D(x)")
    let gx = try #require(try g.gradients(of: total, wrt: [x])[0])
    let penalty = try g.value(.reduceSum(alpha: 1), [try g.value(.activation(.square), [gx])], name: "‖∇ₓ‖²")
    try expectFiniteDifferences(g, output: penalty, parameters: [w], inputs: [x])
  }

  @Test("shape errors name the node and the shapes")
  func shapeErrors() throws {
    let g = Graph()
    let x = g.input([2, 3, 8, 8], name: "images")
    let w = g.parameter([4, 5, 4, 4], name: "conv.weight")
    #expect {
      _ = try g.value(.conv2d(Conv2dParams(stride: 2, padding: 1)), [x, w], name: "D.conv1")
    } throws: { error in
      let text = "\(error)"
      return text.contains("D.conv1") && text.contains("[2, 3, 8, 8]") && text.contains("[4, 5, 4, 4]")
    }
  }

  @Test("memory planning reuses buffers: a conv stack's training peak is what liveness requires, not one buffer per value")
  func memoryPlanning() throws {
    let g = Graph()
    var h = g.input([4, 8, 32, 32], name: "x")
    var params: [Value] = []
    for i in 0..<6 {
      let w = g.parameter([8, 8, 3, 3], name: "w\(i)")
      params.append(w)
      h = try g.value(.conv2d(Conv2dParams(stride: 1, padding: 1)), [h, w], name: "conv\(i)")
      h = try g.value(.activation(.leakyRelu(slope: 0.2)), [h], name: "act\(i)")
    }
    let loss = try g.value(.reduceSum(alpha: 1), [h], name: "loss")
    let grads = try g.gradients(of: loss, wrt: params).map { $0! }
    let plan = MemoryPlan(graph: g, keep: Set(grads + [loss]))
    // Training must hold the 6 conv outputs (LeakyReLU's backward reads them) and the 5
    // activations that feed a conv (its weight gradient reads them); with reuse, backward
    // needs only a few more activation-sized buffers on top, not one per value.
    let activationBytes = 4 * 8 * 32 * 32 * 4
    let lowerBound = 11 * activationBytes
    // (+ 1 KiB for the scalar loss and its seed.)
    #expect(plan.peakBytes <= lowerBound + 3 * activationBytes + 1024, "peak \(plan.peakBytes), inherent \(lowerBound)")
    #expect(plan.peakBytes * 10 < plan.unsharedBytes * 6, "peak \(plan.peakBytes) vs unshared \(plan.unsharedBytes)")
    // And the planned execution still gives the unplanned answer.
    let cpu = CPUBackend()
    var bindings: [Value: Tensor] = [:]
    for (i, node) in g.nodes.enumerated() where node.op.description == "input" || node.op.description == "parameter" {
      let shape = node.outputShapes[0]
      bindings[Value(node: i, output: 0)] = try cpu.makeTensor(shape, values: Self.values(shape, seed: UInt64(i), std: 0.3))
    }
    let planned = try Plan(graph: g, backend: cpu, bindings: bindings, keep: grads)
    try planned.run()
    let everything = g.nodes.indices.flatMap { i in g.nodes[i].outputShapes.indices.map { Value(node: i, output: $0) } }
    let unplanned = try Plan(graph: g, backend: cpu, bindings: bindings, keep: everything)
    try unplanned.run()
    for v in grads {
      #expect(try cpu.read(planned.tensor(v)) == cpu.read(unplanned.tensor(v)))
    }
  }
}
