import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import Testing

/// Builds `layer` on an input of `shape` in a fresh graph and returns what a test needs.
private func bind(
  _ layer: any Layer, input shape: Shape, mode: BindOptions.Mode = .train, spectralNorm: Bool = false,
  conditions: (Graph, GraphBinder) throws -> [String: Value] = { _, _ in [:] }, backend: Backend
) throws -> (plan: Plan, x: Tensor, y: Value, store: ParameterStore, binder: GraphBinder, inputs: [String: Value]) {
  let g = Graph()
  let b = GraphBinder(graph: g)
  let store = ParameterStore(backend: backend, seed: 3)
  let xv = g.input(shape, name: "x")
  let x = try backend.zeros(shape)
  b.bind(xv, x)
  let inputs = try conditions(g, b)
  let scope = Scope(
    binder: b, store: store, tag: "T", options: BindOptions(mode: mode, spectralNorm: spectralNorm), conditions: inputs)
  let y = try layer(xv, in: scope)
  try b.finish()
  return (try Plan(graph: g, backend: backend, bindings: b.bindings, keep: [y]), x, y, store, b, inputs)
}

private func uniform(_ n: Int, seed: UInt64) -> [Float] {
  (0..<n).map { Philox.uniform(stream: RandomStream(seed: seed), index: $0, low: -1, high: 1) }
}

@Suite("Layers")
struct LayerTests {
  @Test("Dropout: a fresh Philox mask each run in train mode (zeros or 1/(1-p), CPU = OpenCL bits), identity in eval")
  func dropout() throws {
    var masks: [[Float]] = []
    for backend: Backend in [CPUBackend(), try ganOpenCL.get()] {
      let (plan, x, y, _, _, _) = try bind(Dropout(0.25), input: [4, 8, 8, 8], backend: backend)
      try backend.fill(x, value: 1)
      try plan.run()
      let first = try backend.read(plan.tensor(y))
      try plan.run()
      let second = try backend.read(plan.tensor(y))
      #expect(first != second, "each run draws a new mask")
      #expect(first.allSatisfy { $0 == 0 || $0 == Float(1 / 0.75) })
      let zeros = Double(first.filter { $0 == 0 }.count) / Double(first.count)
      #expect(abs(zeros - 0.25) < 0.04, "\(zeros) of 2048 dropped, expected 0.25 (4σ = 0.038)")
      masks.append(first)
    }
    #expect(masks[0].map(\.bitPattern) == masks[1].map(\.bitPattern))
    let eval = try bind(Dropout(0.25), input: [2, 3], mode: .eval, backend: CPUBackend())
    #expect(eval.y == Value(node: 0, output: 0), "eval mode adds no node")
  }

  @Test("ConditionalBatchNorm2d = BN(x)·gain[class] + bias[class] with StudioGAN's names")
  func conditionalBatchNorm() throws {
    let cpu = CPUBackend()
    let classes = [2, 0, 1, 2]
    let (n, c, hw) = (4, 3, 4)
    let onehotValues = classes.flatMap { k in (0..<3).map { $0 == k ? Float(1) : 0 } }
    let onehot = try cpu.makeTensor([n, 3], values: onehotValues)
    let layer = ConditionalBatchNorm2d(c, classes: 3)
    let (plan, x, y, store, _, _) = try bind(
      layer, input: [n, c, 2, 2],
      conditions: { g, b in
        let labels = g.input([n, 3], name: "labels")
        b.bind(labels, onehot)
        return ["y": labels]
      }, backend: cpu)
    #expect(store.entries.map(\.name).sorted() == ["bias.weight", "bn.running_mean", "bn.running_var", "gain.weight"])
    let gain = uniform(9, seed: 1).map { 1 + $0 / 2 }
    let bias = uniform(9, seed: 2)
    try cpu.write(gain, to: store["gain.weight"]!)
    try cpu.write(bias, to: store["bias.weight"]!)
    let xs = uniform(n * c * hw, seed: 3)
    try cpu.write(xs, to: x)
    try plan.run()
    let out = try cpu.read(plan.tensor(y))
    var worst = 0.0
    for ch in 0..<c {
      let values = (0..<n).flatMap { s in (0..<hw).map { Double(xs[(s * c + ch) * hw + $0]) } }
      let mean = values.reduce(0, +) / Double(values.count)
      let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
      for s in 0..<n {
        for p in 0..<hw {
          let xhat = (Double(xs[(s * c + ch) * hw + p]) - mean) / (variance + 1e-5).squareRoot()
          let expected = xhat * Double(gain[classes[s] * c + ch]) + Double(bias[classes[s] * c + ch])
          worst = max(worst, abs(Double(out[(s * c + ch) * hw + p]) - expected))
        }
      }
    }
    #expect(worst < 1e-5, "worst |error| \(worst)")
  }

  @Test("spectral norm: PyTorch's names; train-mode power iterations converge to σ_max (W/σ has norm 1); eval keeps u")
  func spectralNorm() throws {
    let cpu = CPUBackend()
    let layer = Linear(6, 5, bias: false)
    let (plan, x, y, store, _, _) = try bind(layer, input: [6, 6], spectralNorm: true, backend: cpu)
    #expect(store.entries.map(\.name) == ["weight_orig", "weight_u", "weight_v"])
    #expect(store["weight_u"]!.shape == [5] && store["weight_v"]!.shape == [6])
    // Identity rows in: the output rows are the columns of W/σ.
    try cpu.write((0..<36).map { $0 % 7 == 0 ? 1 : 0 }, to: x)
    let w = (0..<30).map { Double(uniform(30, seed: 9)[$0]) }
    try cpu.write(w.map { Float($0) }, to: store["weight_orig"]!)
    for _ in 0..<40 { try plan.run() }
    #expect(try cpu.read(plan.tensor(y)).allSatisfy(\.isFinite))
    // σ_max of W by power iteration on WᵀW in Double.
    var v = [Double](repeating: 1, count: 6)
    var sigma = 0.0
    for _ in 0..<500 {
      let wv = (0..<5).map { r in (0..<6).reduce(0) { $0 + w[r * 6 + $1] * v[$1] } }
      let wtwv = (0..<6).map { col in (0..<5).reduce(0) { $0 + w[$1 * 6 + col] * wv[$1] } }
      let norm = wtwv.map { $0 * $0 }.reduce(0, +).squareRoot()
      v = wtwv.map { $0 / norm }
      sigma = norm.squareRoot()
    }
    let u = try cpu.read(store["weight_u"]!).map(Double.init)
    #expect(abs(u.map { $0 * $0 }.reduce(0, +) - 1) < 1e-6, "u is stored normalised")
    // The layer's effective weight is W/σ: compare one entry with W/σ_max.
    let (evalPlan, evalX, evalY, evalStore, _, _) = try bind(layer, input: [6, 6], mode: .eval, spectralNorm: true, backend: cpu)
    for name in ["weight_orig", "weight_u", "weight_v"] { try cpu.write(try cpu.read(store[name]!), to: evalStore[name]!) }
    try cpu.write((0..<36).map { $0 % 7 == 0 ? 1 : 0 }, to: evalX)
    let uBefore = try cpu.read(evalStore["weight_u"]!)
    try evalPlan.run()
    #expect(try cpu.read(evalStore["weight_u"]!) == uBefore, "eval mode does not advance u")
    let normalised = try cpu.read(evalPlan.tensor(evalY)).map(Double.init)  // [6, 5] = (W/σ)ᵀ
    var worst = 0.0
    for r in 0..<5 { for col in 0..<6 { worst = max(worst, abs(normalised[col * 5 + r] - w[r * 6 + col] / sigma)) } }
    #expect(worst < 1e-5, "W/σ differs from W/σ_max by \(worst) after 40 power iterations (σ_max \(sigma))")
  }

  @Test("Residual and ConcatSkip: PyTorch module names and shapes")
  func containers() throws {
    let cpu = CPUBackend()
    let net = Sequential {
      Residual { Conv2d(4, 4, kernelSize: 3, padding: 1); ReLU() }
      ConcatSkip { Conv2d(4, 2, kernelSize: 3, padding: 1) }
    }
    let g = Graph()
    let b = GraphBinder(graph: g)
    let store = ParameterStore(backend: cpu, seed: 1)
    let x = g.input([1, 4, 5, 5], name: "x")
    let scope = Scope(binder: b, store: store, tag: "T")
    let h = try net(x, in: scope, named: "model")
    #expect(g.shape(h) == [1, 6, 5, 5])
    #expect(store.entries.map(\.name) == ["model.0.conv_block.0.weight", "model.0.conv_block.0.bias", "model.1.model.0.weight", "model.1.model.0.bias"])
    // An embedding is a row lookup of its one-hot input.
    let onehot = g.input([2, 2], name: "onehot")
    let e = try Embedding(2, 3)(onehot, in: scope, named: "embed")
    b.bind(x, try cpu.zeros([1, 4, 5, 5]))
    b.bind(onehot, try cpu.makeTensor([2, 2], values: [0, 1, 1, 0]))
    let plan = try Plan(graph: g, backend: cpu, bindings: b.bindings, keep: [e])
    try plan.run()
    let table = try cpu.read(store["embed.weight"]!)
    #expect(try cpu.read(plan.tensor(e)) == Array(table[3..<6]) + Array(table[0..<3]))
  }
}

@Suite("Spectral norm of a transposed convolution")
struct SpectralNormTransposeTests {
  @Test("ConvTranspose2d: torch's dim 1 (u over output channels), u converges to W_mat's top left singular vector")
  func convTranspose() throws {
    let cpu = CPUBackend()
    let (inC, outC, k) = (3, 4, 2)
    let g = Graph()
    let b = GraphBinder(graph: g)
    let store = ParameterStore(backend: cpu, seed: 5)
    let x = g.input([1, inC, 2, 2], name: "x")
    b.bind(x, try cpu.makeTensor([1, inC, 2, 2], values: (0..<12).map { Float($0) / 12 }))
    let y = try ConvTranspose2d(inC, outC, kernelSize: k, bias: false)(
      x, in: Scope(binder: b, store: store, tag: "T", options: BindOptions(spectralNorm: true)))
    try b.finish()
    let plan = try Plan(graph: g, backend: cpu, bindings: b.bindings, keep: [y])
    #expect(store["weight_u"]!.shape == [outC] && store["weight_v"]!.shape == [inC * k * k])
    for _ in 0..<400 { try plan.run() }
    // W_mat[o, (i, q)] = W[i, o, q]; its top left singular vector by power iteration on W Wᵀ.
    let w = try cpu.readDouble(store["weight_orig"]!)
    let cols = inC * k * k
    func m(_ o: Int, _ c: Int) -> Double { w[((c / (k * k)) * outC + o) * k * k + c % (k * k)] }
    var u = [Double](repeating: 1, count: outC)
    for _ in 0..<500 {
      let wtu = (0..<cols).map { c in (0..<outC).reduce(0) { $0 + m($1, c) * u[$1] } }
      let next = (0..<outC).map { o in (0..<cols).reduce(0) { $0 + m(o, $1) * wtu[$1] } }
      let norm = next.map { $0 * $0 }.reduce(0, +).squareRoot()
      u = next.map { $0 / norm }
    }
    let stored = try cpu.readDouble(store["weight_u"]!)
    let cosine = abs(zip(stored, u).map(*).reduce(0, +))
    #expect(abs(cosine - 1) < 1e-6, "stored u · true u = \(cosine)")
    // Without torch's permute (the weight reshaped as it lies), u converges elsewhere.
    func wrong(_ o: Int, _ c: Int) -> Double { w[o * cols + c] }
    var v = [Double](repeating: 1, count: outC)
    for _ in 0..<500 {
      let wtv = (0..<cols).map { c in (0..<outC).reduce(0) { $0 + wrong($1, c) * v[$1] } }
      let next = (0..<outC).map { o in (0..<cols).reduce(0) { $0 + wrong(o, $1) * wtv[$1] } }
      let norm = next.map { $0 * $0 }.reduce(0, +).squareRoot()
      v = next.map { $0 / norm }
    }
    let unpermuted = abs(zip(stored, v).map(*).reduce(0, +))
    print("spectral norm dim 1: cosine with the permuted matrix's vector \(cosine), with the unpermuted one's \(unpermuted)")
    #expect(unpermuted < 0.9, "this weight must tell the two layouts apart")
  }
}
