import KallimaCPU
import KallimaCore
import KallimaGraph
import KallimaOpenCL
import Testing

/// Graph ops for GAN objectives, optimisers and layers beyond DCGAN: random leaves, detach,
/// assign, clamp, device scalars, optimiser nodes and the plan's optimiser clock, EMA,
/// reflection padding and nearest upsampling.
extension GraphTests {
  static let openCL: Result<OpenCLBackend, Error> = Result { try OpenCLBackend() }

  static func plan(_ g: Graph, on be: Backend, _ externals: [(Value, [Float])], keep: [Value]) throws -> Plan {
    var bindings: [Value: Tensor] = [:]
    for (v, x) in externals { bindings[v] = try be.makeTensor(g.shape(v), values: x) }
    return try Plan(graph: g, backend: be, bindings: bindings, keep: keep)
  }

  @Test("randomUniform and dropoutMask leaves draw the next block each run, bit-identical on CPU and OpenCL")
  func randomLeaves() throws {
    let g = Graph()
    let u = g.randomUniform([2, 37], seed: 7, low: -2, high: 3, name: "u")
    let m = try g.dropoutMask([2, 37], seed: 8, p: 0.25, name: "mask")
    var runs: [[[Float]]] = []
    for be: Backend in [CPUBackend(), try Self.openCL.get()] {
      let plan = try Self.plan(g, on: be, [], keep: [u, m])
      var perRun: [[Float]] = []
      for _ in 0..<2 {
        try plan.run()
        perRun.append(try be.read(plan.tensor(u)) + be.read(plan.tensor(m)))
      }
      runs.append(perRun)
    }
    for r in 0..<2 { #expect(runs[0][r].map(\.bitPattern) == runs[1][r].map(\.bitPattern), "run \(r)") }
    #expect(runs[0][0] != runs[0][1], "each run draws new values")
    // Run 1 is the stream's second block of ceil(74/4) = 19 blocks.
    let cpu = CPUBackend()
    let expected = try cpu.makeTensor([2, 37])
    try cpu.random_uniform(expected, stream: RandomStream(seed: 7, counter: 19), low: -2, high: 3)
    #expect(try cpu.read(expected) == Array(runs[0][1].prefix(74)))
    let mask = runs[0].flatMap { $0.suffix(74) }
    #expect(mask.allSatisfy { $0 == 0 || $0 == Float(1) / 0.75 })
    let kept = Double(mask.filter { $0 != 0 }.count) / Double(mask.count)
    #expect(abs(kept - 0.75) < 0.15, "kept fraction \(kept)")
    #expect(throws: KallimaError.self) { _ = try g.dropoutMask([3], seed: 1, p: 1.5, name: "bad") }
  }

  @Test("detach: a view that stops gradients, also of a parameter")
  func detach() throws {
    let g = Graph()
    let w = g.parameter([2, 3], name: "w")
    let d = try g.value(.detach, [w], name: "w.detach")
    let loss = try g.value(.reduceSum(alpha: 1), [try g.value(.mul, [w, d])], name: "Σ w·sg(w)")
    let grad = try #require(try g.gradients(of: loss, wrt: [w])[0])
    #expect(try g.gradients(of: d, wrt: [w], seed: g.constant(1, [2, 3]))[0] == nil)
    let values = Self.values([2, 3], seed: 3, std: 1)
    let cpu = CPUBackend()
    let plan = try Self.plan(g, on: cpu, [(w, values)], keep: [loss, grad, d])
    try plan.run()
    #expect(try cpu.read(plan.tensor(grad)) == values, "d/dw Σ w·sg(w) = sg(w), not 2w")
    #expect(plan.tensor(d).buffer === plan.tensor(w).buffer, "detach is a view")
  }

  @Test("assign copies its value into an external tensor where the plan reaches it; the value outlives reuse")
  func assign() throws {
    let g = Graph()
    let u = g.parameter([4, 5], name: "u")
    let x = g.input([4, 5], name: "x")
    let value = try g.value(.scale(2), [x], name: "2x")
    // Intermediates after the value would take its buffer if liveness ended it early.
    var h = try g.value(.activation(.tanh), [x])
    for _ in 0..<4 { h = try g.value(.add, [h, try g.value(.scale(0.5), [h])]) }
    let before = try g.value(.add, [u, h], name: "u + h (old u)")
    try g.add(.assign, [u, value], name: "u ← 2x")
    let after = try g.value(.add, [u, x], name: "u + x (new u)")
    #expect(throws: KallimaError.self) { try g.add(.assign, [h, value]) }  // target must be external
    let (xv, uv) = (Self.values([4, 5], seed: 1, std: 1), Self.values([4, 5], seed: 2, std: 1))
    for be: Backend in [CPUBackend(), try Self.openCL.get()] {
      let plan = try Self.plan(g, on: be, [(u, uv), (x, xv)], keep: [before, after, h])
      try plan.run()
      let (newU, got, old) = (try be.read(plan.tensor(u)), try be.read(plan.tensor(after)), try be.read(plan.tensor(before)))
      let hv = try be.read(plan.tensor(h))
      for i in xv.indices {
        #expect(newU[i] == 2 * xv[i], "\(be.name) u[\(i)]")
        #expect(abs(got[i] - 3 * xv[i]) <= 1e-6 * (1 + abs(xv[i])), "\(be.name) after[\(i)]")
        #expect(abs(old[i] - (uv[i] + hv[i])) <= 1e-5 * (1 + abs(old[i])), "\(be.name) before[\(i)] read the old u")
      }
    }
  }

  @Test("clamp, device scalars, reflection padding and nearest upsampling: gradients match finite differences")
  func newOpGradients() throws {
    let g = Graph()
    let x = g.input([2, 2, 4, 5], name: "x")
    let w = g.parameter([3, 2, 3, 3], name: "conv.weight")
    let s = g.parameter([1], name: "s")
    let padded = try g.value(.reflectionPad2d(Padding2d(top: 2, bottom: 1, left: 1, right: 3)), [x], name: "pad")
    let h = try g.value(.conv2d(Conv2dParams(stride: 1, padding: 0)), [padded, w], name: "conv")
    let up = try g.value(.upsampleNearest(scale: 2), [h], name: "up")
    let c = try g.value(.clamp(min: -0.5, max: 0.6), [up], name: "clamp")
    let m = try g.value(.mulScalar, [c, s], name: "·s")
    let q = try g.value(.divScalar, [try g.value(.activation(.square), [m]), try g.value(.add, [s, g.constant(2, [1])])], name: "/(s+2)")
    let loss = try g.value(.reduceSum(alpha: 0.5), [q], name: "loss")
    try expectFiniteDifferences(g, output: loss, parameters: [w, s], inputs: [x])
  }

  @Test("double backprop through reflection padding, nearest upsampling and device scalars")
  func newOpSecondDerivatives() throws {
    let g = Graph()
    let x = g.input([2, 1, 4, 4], name: "x")
    let w = g.parameter([2, 1, 3, 3], name: "conv.weight")
    let s = g.parameter([1, 1], name: "s")
    let up = try g.value(.upsampleNearest(scale: 2), [x], name: "up")
    let padded = try g.value(.reflectionPad2d(Padding2d(1)), [up], name: "pad")
    let h = try g.value(.conv2d(Conv2dParams(stride: 2, padding: 0)), [padded, w], name: "conv")
    let scaled = try g.value(.divScalar, [try g.value(.mulScalar, [h, s]), try g.value(.add, [s, g.constant(3, [1, 1])])])
    let total = try g.value(.reduceSum(alpha: 1), [try g.value(.activation(.square), [scaled])], name: "Σ D(x)")
    let gx = try #require(try g.gradients(of: total, wrt: [x])[0])
    let penalty = try g.value(.reduceSum(alpha: 1), [try g.value(.activation(.square), [gx])], name: "‖∇ₓ‖²")
    try expectFiniteDifferences(g, output: penalty, parameters: [w, s], inputs: [x])
  }

  @Test("sgdUpdate and rmspropUpdate nodes equal the backend steps; the plan scales every learning rate")
  func optimiserNodes() throws {
    let shape: Shape = [3, 11]
    let rms = RMSpropParams(lr: 1e-2, weightDecay: 0.1, momentum: 0.9, centered: true)
    let sgd = SGDParams(lr: 0.1, momentum: 0.9, weightDecay: 0.01)
    let adam = AdamParams(lr: 1e-3)
    let g = Graph()
    let p = (0..<3).map { g.parameter(shape, name: "p\($0)") }
    let grad = g.input(shape, name: "grad")
    let state = (0..<5).map { g.parameter(shape, name: "state\($0)") }
    try g.add(.sgdUpdate(sgd), [p[0], grad, state[0]])
    try g.add(.rmspropUpdate(rms), [p[1], grad, state[1], state[2], state[3]])
    try g.add(.adamUpdate(adam), [p[2], grad, state[4], g.parameter(shape, name: "adam.v")])
    #expect(throws: KallimaError.self) { try g.add(.sgdUpdate(sgd), [p[0], grad]) }  // momentum needs a buffer
    let values = Self.values(shape, seed: 5, std: 1)
    let gv = Self.values(shape, seed: 6, std: 1)
    let cpu = CPUBackend()
    var bindings: [Value: Tensor] = [grad: try cpu.makeTensor(shape, values: gv)]
    for v in p { bindings[v] = try cpu.makeTensor(shape, values: values) }
    for (i, node) in g.nodes.enumerated() where node.name.hasPrefix("state") || node.name == "adam.v" {
      bindings[Value(node: i, output: 0)] = try cpu.zeros(shape)
    }
    let plan = try Plan(graph: g, backend: cpu, bindings: bindings)
    plan.learningRateScale = 0.5
    plan.optimizerStep = 7
    try plan.run()
    try plan.run()  // both runs use step 7 (Adam's bias correction) and half the learning rate
    // The same two steps by hand.
    let ref = try (0..<3).map { _ in try cpu.makeTensor(shape, values: values) }
    let st = try (0..<6).map { _ in try cpu.zeros(shape) }
    let gt = try cpu.makeTensor(shape, values: gv)
    var (halfSGD, halfRMS, halfAdam) = (sgd, rms, adam)
    halfSGD.lr = Float(Double(sgd.lr) * 0.5)
    halfRMS.lr *= 0.5
    halfAdam.lr *= 0.5
    for _ in 0..<2 {
      try cpu.sgd_step(param: ref[0], grad: gt, momentumBuffer: st[0], params: halfSGD)
      try cpu.rmsprop_step(param: ref[1], grad: gt, squareAvg: st[1], momentumBuffer: st[2], gradAvg: st[3], params: halfRMS)
      try cpu.adam_step(param: ref[2], grad: gt, m: st[4], v: st[5], step: 7, params: halfAdam)
    }
    for i in 0..<3 {
      #expect(try cpu.readDouble(plan.tensor(p[i])) == cpu.readDouble(ref[i]), "parameter \(i)")
    }
    #expect(try cpu.readDouble(plan.tensor(p[0])) != values.map(Double.init))
  }

  @Test("Adam without an optimiser clock uses runs + 1; emaUpdate copies until its start step, then averages")
  func optimiserClockAndEMA() throws {
    let shape: Shape = [9]
    let g = Graph()
    let p = g.parameter(shape, name: "p")
    let (m, v) = (g.parameter(shape, name: "m"), g.parameter(shape, name: "v"))
    let ema = g.parameter(shape, name: "ema")
    let grad = g.input(shape, name: "grad")
    try g.add(.adamUpdate(AdamParams(lr: 0.1)), [p, grad, m, v])
    try g.add(.emaUpdate(beta: 0.9, startStep: 2), [ema, p])
    let (pv, gv) = (Self.values(shape, seed: 1, std: 1), Self.values(shape, seed: 2, std: 1))
    for be: Backend in [CPUBackend(), try Self.openCL.get()] {
      let plan = try Self.plan(
        g, on: be,
        [(p, pv), (grad, gv), (m, [Float](repeating: 0, count: 9)), (v, [Float](repeating: 0, count: 9)),
         (ema, [Float](repeating: .nan, count: 9))],
        keep: [])
      let refP = try be.makeTensor(shape, values: pv)
      let (rm, rv) = (try be.zeros(shape), try be.zeros(shape))
      let refEMA = try be.makeTensor(shape, values: [Float](repeating: 0, count: 9))
      let gt = try be.makeTensor(shape, values: gv)
      for step in 1...4 {
        try plan.run()
        try be.adam_step(param: refP, grad: gt, m: rm, v: rv, step: step, params: AdamParams(lr: 0.1))
        try be.ema_update(ema: refEMA, param: refP, beta: step <= 2 ? 0 : 0.9)
        #expect(try be.read(plan.tensor(p)) == be.read(refP), "\(be.name) step \(step)")
        #expect(try be.read(plan.tensor(ema)) == be.read(refEMA), "\(be.name) ema after step \(step)")
      }
      // An explicit clock overrides runs + 1 (here: back in the copying phase).
      plan.optimizerStep = 1
      try plan.run()
      #expect(try be.read(plan.tensor(ema)) == be.read(plan.tensor(p)), "\(be.name) ema copies at step 1")
    }
  }

  @Test("clamp follows torch.clamp: NaN propagates, the bounds pass the gradient, min > max gives max (CPU and OpenCL)")
  func clampEdges() throws {
    let xs: [Float] = [.nan, -.infinity, .infinity, -2, -1, 0.5, 1.5, 3]
    for be: Backend in [CPUBackend(), try Self.openCL.get()] {
      let x = try be.makeTensor([8], values: xs)
      let (y, dx) = (try be.makeTensor([8]), try be.makeTensor([8]))
      // NaN first: an element the kernels leave unwritten cannot pass as the expected 0.
      for t in [y, dx] { try be.fill(t, value: .nan) }
      try be.clamp_fwd(x, y: y, min: -1, max: 1.5)
      try be.clamp_bwd(x: x, dy: be.makeTensor([8], values: [Float](repeating: 2, count: 8)), dx: dx, min: -1, max: 1.5)
      let (yv, dv) = (try be.read(y), try be.read(dx))
      #expect(yv[0].isNaN, "\(be.name)")
      #expect(Array(yv[1...]) == [-1, 1.5, -1, -1, 0.5, 1.5, 1.5], "\(be.name)")
      #expect(dv == [0, 0, 0, 0, 2, 2, 2, 0], "\(be.name)")
      try be.clamp_fwd(x, y: x, min: 2, max: 1)  // in place; min > max
      #expect(Array(try be.read(x)[1...]) == [Float](repeating: 1, count: 7), "\(be.name)")
    }
  }
}

extension GraphTests {
  @Test("mismatchRows through a plan equals the backend call (CPU and OpenCL, bit for bit) and passes no gradient")
  func mismatchRows() throws {
    let g = Graph()
    let c = g.input([7, 3], name: "conditions")
    let w = g.parameter([7, 3], name: "w")
    let scaled = try g.value(.mul, [c, w], name: "c·w")
    let wrong = try g.value(.mismatchRows, [scaled], name: "mismatched")
    let loss = try g.value(.reduceSum(alpha: 1), [try g.value(.mul, [wrong, w])], name: "Σ w·mismatch(c·w)")
    // Only the direct use of w carries a gradient: d/dw = mismatch(c·w), nothing through the op.
    let grads = try g.gradients(of: loss, wrt: [c, w])
    #expect(grads[0] == nil, "the conditions get no gradient through mismatch_rows")
    let gw = try #require(grads[1])
    #expect(try g.gradients(of: wrong, wrt: [scaled], seed: g.constant(1, [7, 3]))[0] == nil)
    // One-hot classes 0 0 1 1 1 2 0 (shifts 2 1 3 2 1 1 3), weights 1 so c·w = c.
    var cv = [Float](repeating: 0, count: 21)
    for (r, k) in [0, 0, 1, 1, 1, 2, 0].enumerated() { cv[r * 3 + k] = 1 }
    let wv = [Float](repeating: 1, count: 21)
    var results: [[Float]] = []
    for be: Backend in [CPUBackend(), try Self.openCL.get()] {
      let plan = try Self.plan(g, on: be, [(c, cv), (w, wv)], keep: [wrong, gw])
      try plan.run()
      let direct = try be.makeTensor([7, 3])
      try be.fill(direct, value: .nan)  // an unwritten element would show
      try be.mismatch_rows(x: try be.makeTensor([7, 3], values: cv), y: direct)
      let y = try be.read(plan.tensor(wrong))
      #expect(y == (try be.read(direct)), "\(be.name): the plan's node and the backend call differ")
      #expect(try be.read(plan.tensor(gw)) == y, "\(be.name): d/dw = the mismatched rows")
      results.append(y)
    }
    #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern), "CPU and OpenCL differ")
    var expected = [Float](repeating: 0, count: 21)
    for (r, k) in [1, 1, 2, 2, 2, 0, 1].enumerated() { expected[r * 3 + k] = 1 }
    #expect(results[0] == expected)
    do {
      _ = try g.value(.mismatchRows, [g.input([2, 3, 1, 1], name: "images")], name: "bad")
      Issue.record("a rank-4 input was accepted")
    } catch let KallimaError.shapeMismatch(_, message) {
      #expect(message.contains("x must be [N, D]"), "\(message)")
    }
  }
}
