import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import Testing

// pix2pix/CycleGAN's and StarGAN's networks against PyTorch re-statements of the reference
// code: Fixtures/translation_networks.json, written by
// Scripts/make_translation_network_fixtures.py. For each narrow variant: the state-dict keys
// in order with shapes (and which are trainable), the trainable parameter count, and in
// float64 the output for weights and input from a sin formula both sides compute (plus, in
// train mode, batch norm's running statistics after the forward, and for five variants the
// input gradient of Σ r·output). Compared on the CPU
// reference (Double) with |a − e| <= atol + rtol·|e|, atol 1e-9·max|e|, rtol 1e-9; the worst
// ratio to that allowance is printed per variant (measured: at most 1.8e-5 of it, on
// resnet_6blocks with instance norm: errors below 2e-14 relative, rounding level).

/// A state-dict key: [name, shape, trainable].
private struct FixtureKey: Decodable, Equatable {
  let name: String
  let shape: [Int]
  let trainable: Bool
  init(name: String, shape: [Int], trainable: Bool) { (self.name, self.shape, self.trainable) = (name, shape, trainable) }
  init(from decoder: Decoder) throws {
    var c = try decoder.unkeyedContainer()
    name = try c.decode(String.self)
    shape = try c.decode([Int].self)
    trainable = try c.decode(Bool.self)
  }
}

private struct TranslationVariant: Decodable {
  let name: String
  let mode: String
  let input_shape: [Int]
  let keys: [FixtureKey]
  let parameter_count: Int
  let outputs: [StepTensor]
  let condition: [[Double]]?
  let running: [String: StepTensor]?
  let dx: StepTensor?
}

private struct TranslationFixture: Decodable { let variants: [TranslationVariant] }

private let translationFixture = Result { () throws -> TranslationFixture in
  guard let url = Bundle.module.url(forResource: "translation_networks", withExtension: "json", subdirectory: "Fixtures")
  else { throw StepError("Fixtures/translation_networks.json not found in the test bundle") }
  return try JSONDecoder().decode(TranslationFixture.self, from: Data(contentsOf: url))
}

/// The script's deterministic parameter values: parameter k (index among the trainable
/// ones), element i.
func formulaValues(name: String, shape: [Int], k: Int) -> [Double] {
  let n = shape.reduce(1, *)
  let s = (0..<n).map { sin(0.731 * Double($0) + 0.5 * Double(k) + 0.1) }
  if name.hasSuffix("bias") { return s.map { 0.2 * $0 } }
  if shape.count >= 2 {
    let scale = 1.5 / (Double(n) / Double(shape[0])).squareRoot()
    return s.map { $0 * scale }
  }
  return s.map { 1 + 0.2 * $0 }
}

/// The script's deterministic input.
func formulaInput(_ count: Int) -> [Double] { (0..<count).map { 0.9 * sin(0.377 * Double($0) + 0.2) } }

/// Kallima's network for each fixture variant (built through the factory where it applies).
private func build(_ name: String, _ x: Value, in scope: Scope) throws -> [Value] {
  let net: any Layer
  switch name {
  case "unet_32 batch": net = try TranslationNetworks.generator("unet_32", ngf: 4, norm: .batch, height: 32, width: 32)
  case "unet_32 instance":
    net = try TranslationNetworks.generator("unet_32", ngf: 4, norm: .instance, height: 32, width: 32)
  case "unet_64 batch dropout eval": net = try UNetGenerator(outputChannels: 2, downs: 6, ngf: 2, norm: .batch, dropout: true)
  case "resnet_6blocks instance":
    net = try TranslationNetworks.generator("resnet_6blocks", ngf: 4, norm: .instance, height: 16, width: 16)
  case "resnet_6blocks batch dropout eval": net = try ResnetGenerator(ngf: 4, norm: .batch, dropout: true, blocks: 6)
  case "basic batch": net = try TranslationNetworks.discriminator("basic", inputChannels: 6, ndf: 4, height: 32, width: 32)
  case "basic none":
    net = try TranslationNetworks.discriminator("basic", inputChannels: 6, ndf: 4, norm: .none, height: 32, width: 32)
  case "n_layers 1 instance":
    net = try TranslationNetworks.discriminator(
      "n_layers", inputChannels: 6, ndf: 4, layers: 1, norm: .instance, height: 16, width: 16)
  case "pixel batch": net = try TranslationNetworks.discriminator("pixel", inputChannels: 6, ndf: 4, height: 8, width: 8)
  case "stargan G": net = try StarGANGenerator(convDim: 4, domains: 3, repeatNum: 2)
  case "stargan D":
    let d = try StarGANDiscriminator(imageSize: 32, convDim: 4, domains: 3)
    let out = try d(x, in: scope)
    return [out.source, out.classes]
  default:
    throw StepError("no Kallima network for fixture variant '\(name)'")
  }
  let y = try net(x, in: scope)
  return [y]
}

private func checkVariant(_ name: String) throws {
  let fixture = try translationFixture.get()
  let v = try #require(fixture.variants.first { $0.name == name }, "variant \(name) missing from the fixture")
  let cpu = CPUBackend()
  let g = Graph()
  let b = GraphBinder(graph: g)
  let store = ParameterStore(backend: cpu, seed: 1)
  let xv = g.input(Shape(v.input_shape), name: "x")
  let x = try cpu.makeTensor(Shape(v.input_shape))
  try cpu.writeDouble(formulaInput(x.count), to: x)
  b.bind(xv, x)
  var conditions: [String: Value] = [:]
  if let c = v.condition {
    let cv = g.input([c.count, c[0].count], name: "c")
    let ct = try cpu.makeTensor([c.count, c[0].count])
    try cpu.writeDouble(c.flatMap { $0 }, to: ct)
    b.bind(cv, ct)
    conditions[conditionKey] = cv
  }
  let scope = Scope(
    binder: b, store: store, tag: "T", options: BindOptions(mode: v.mode == "train" ? .train : .eval),
    conditions: conditions)
  let outputs = try build(name, xv, in: scope)
  var dx: Value?
  if v.dx != nil {
    let rShape = g.shape(outputs[0])
    let rv = g.input(rShape, name: "r")
    let rt = try cpu.makeTensor(rShape)
    try cpu.writeDouble((0..<rShape.count).map { cos(0.917 * Double($0)) }, to: rt)
    b.bind(rv, rt)
    dx = try g.gradients(of: outputs[0], wrt: [xv], seed: rv)[0]
  }
  try b.finish()

  let keys = store.entries.map { FixtureKey(name: $0.name, shape: $0.tensor.shape.dims, trainable: $0.trainable) }
  #expect(keys == v.keys, "\(name): state dict differs from PyTorch's (names, order, shapes or trainability)")
  #expect(store.parameterCount == v.parameter_count, "\(name): \(store.parameterCount) parameters, PyTorch has \(v.parameter_count)")
  for (k, e) in store.trainable.enumerated() {
    try cpu.writeDouble(formulaValues(name: e.name, shape: e.tensor.shape.dims, k: k), to: e.tensor)
  }
  let plan = try Plan(graph: g, backend: cpu, bindings: b.bindings, keep: outputs + (dx.map { [$0] } ?? []))
  try plan.run()

  var report: [String] = []
  func compare(_ actual: [Double], _ t: StepTensor, _ label: String) throws {
    let expected = try stepDecode(t, label)
    let atol = 1e-9 * (expected.map(abs).max() ?? 0)
    var worst = 0.0
    for (a, e) in zip(actual, expected) { worst = max(worst, abs(a - e) / (atol + 1e-9 * abs(e))) }
    #expect(actual.count == expected.count && worst <= 1, "\(name) \(label): off by \(worst)× the tolerance")
    report.append("\(label) \(String(format: "%.2g", worst))")
  }
  #expect(outputs.count == v.outputs.count)
  for (i, (out, t)) in zip(outputs, v.outputs).enumerated() {
    #expect(g.shape(out).dims == t.shape, "\(name): output \(i) is \(g.shape(out)), PyTorch's \(t.shape)")
    try compare(try cpu.readDouble(plan.tensor(out)), t, "output \(i)")
  }
  if let dx, let expected = v.dx { try compare(try cpu.readDouble(plan.tensor(dx)), expected, "dx") }
  for (key, t) in (v.running ?? [:]).sorted(by: { $0.key < $1.key }) {
    try compare(try cpu.readDouble(try #require(store[key])), t, key)
  }
  print("\(name) vs PyTorch: worst |error|/allowed: \(report.joined(separator: ", "))")
}

@Suite("Translation networks against PyTorch (pix2pix/CycleGAN, StarGAN)")
struct TranslationNetworkTests {
  @Test(
    "state dict, parameter count and float64 forward match the reference",
    arguments: [
      "unet_32 batch", "unet_32 instance", "unet_64 batch dropout eval", "resnet_6blocks instance",
      "resnet_6blocks batch dropout eval", "basic batch", "basic none", "n_layers 1 instance", "pixel batch", "stargan G", "stargan D",
    ])
  func variant(_ name: String) throws { try checkVariant(name) }

  @Test("full-size trainable parameter counts equal PyTorch's (Fixtures/translation_parameter_counts.json)")
  func fullSizeCounts() throws {
    guard let url = Bundle.module.url(forResource: "translation_parameter_counts", withExtension: "json", subdirectory: "Fixtures")
    else { throw StepError("Fixtures/translation_parameter_counts.json not found") }
    let counts = try JSONDecoder().decode([String: Int].self, from: Data(contentsOf: url))
    // Built on the OpenCL device: parameters are allocated and drawn there, quickly; the
    // CPU reference would draw 54M Doubles in Swift. Nothing runs.
    let backend = try ganOpenCL.get()
    func count(_ input: Shape, condition: Int? = nil, _ body: (Value, Scope) throws -> Void) throws -> Int {
      let g = Graph()
      let b = GraphBinder(graph: g)
      let store = ParameterStore(backend: backend, seed: 1)
      var conditions: [String: Value] = [:]
      if let condition { conditions[conditionKey] = g.input([input[0], condition], name: "c") }
      try body(g.input(input, name: "x"), Scope(binder: b, store: store, tag: "T", conditions: conditions))
      return store.parameterCount
    }
    var checked: [String] = []
    func expectCount(_ key: String, _ actual: Int) throws {
      let expected = try #require(counts[key], "\(key) missing from the fixture")
      #expect(actual == expected, "\(key): \(actual) parameters, PyTorch's \(expected)")
      checked.append("\(key) \(actual)")
    }
    for norm in [TranslationNorm.batch, .instance] {
      let side = ["unet_256": 256, "unet_128": 128, "resnet_9blocks": 64, "resnet_6blocks": 64]
      for name in ["unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks"] {
        let s = side[name]!
        let net: any Layer = try TranslationNetworks.generator(
          name, norm: norm, dropout: name.hasPrefix("unet"), height: s, width: s)
        try expectCount("\(name) \(norm)", try count([1, 3, s, s]) { x, scope in _ = try net(x, in: scope) })
      }
      for channels in [6, 3] {
        let d: any Layer = try TranslationNetworks.discriminator(
          "basic", inputChannels: channels, norm: norm, height: 64, width: 64)
        try expectCount("basic \(channels)ch \(norm)", try count([1, channels, 64, 64]) { x, scope in _ = try d(x, in: scope) })
      }
      let p: any Layer = try TranslationNetworks.discriminator("pixel", inputChannels: 6, norm: norm, height: 8, width: 8)
      try expectCount("pixel 6ch \(norm)", try count([1, 6, 8, 8]) { x, scope in _ = try p(x, in: scope) })
    }
    let sg = try StarGANGenerator(convDim: 64, domains: 5, repeatNum: 6)
    try expectCount("stargan G c5", try count([1, 3, 128, 128], condition: 5) { x, scope in _ = try sg(x, in: scope) })
    let sd = try StarGANDiscriminator(imageSize: 128, convDim: 64, domains: 5)
    #expect(sd.repeatNum == 6, "StarGAN's D at 128x128 has repeat_num 6")
    try expectCount("stargan D 128 c5", try count([1, 3, 128, 128]) { x, scope in _ = try sd(x, in: scope) })
    #expect(checked.count == counts.count, "every stored count is checked")
    print("full-size parameter counts: \(checked.joined(separator: ", "))")
  }

  @Test("PatchGAN (n_layers 3): a one-pixel change moves exactly the outputs whose 70x70 field holds it")
  func receptiveField() throws {
    // Eval binding: batch norm with running statistics is per-pixel, so only the receptive
    // field carries the change (batch statistics would spread it everywhere).
    let cpu = CPUBackend()
    let d = try NLayerDiscriminator(inputChannels: 2, ndf: 2, layers: 3, norm: .batch)
    let side = 96
    let g = Graph()
    let b = GraphBinder(graph: g)
    let store = ParameterStore(backend: cpu, seed: 5)
    let xv = g.input([1, 2, side, side], name: "x")
    let x = try cpu.makeTensor([1, 2, side, side])
    b.bind(xv, x)
    let y = try d(xv, in: Scope(binder: b, store: store, tag: "D", options: BindOptions(mode: .eval)))
    let out = d.outputSide(side)
    #expect(g.shape(y).dims == [1, 1, out, out])
    let plan = try Plan(graph: g, backend: cpu, bindings: b.bindings, keep: [y])
    let base = formulaInput(x.count)
    try cpu.writeDouble(base, to: x)
    try plan.run()
    let before = try cpu.readDouble(plan.tensor(y))
    // Output (i, j) sees input rows 8i − 23 ... 8i + 46 (70 rows), and the same columns.
    func sees(_ o: Int, _ p: Int) -> Bool { 8 * o - 23 <= p && p <= 8 * o + 46 }
    for (row, column, channel) in [(40, 17, 0), (0, 95, 1), (95, 50, 0), (60, 60, 1)] {
      var changed = base
      changed[(channel * side + row) * side + column] += 0.5
      try cpu.writeDouble(changed, to: x)
      try plan.run()
      let after = try cpu.readDouble(plan.tensor(y))
      var moved: [[Int]] = [], expected: [[Int]] = []
      for i in 0..<out {
        for j in 0..<out {
          if after[i * out + j] != before[i * out + j] { moved.append([i, j]) }
          if sees(i, row) && sees(j, column) { expected.append([i, j]) }
        }
      }
      #expect(!expected.isEmpty && expected.count < out * out, "the pixel (\(row), \(column)) splits the outputs")
      #expect(moved == expected, "pixel (\(row), \(column)): moved \(moved), expected \(expected)")
    }
  }

  @Test("init_weights('normal', 0.02): conv weights N(0, 0.02), biases 0, batch-norm scales N(1, 0.02)")
  func initialisation() throws {
    let cpu = CPUBackend()
    for norm in [TranslationNorm.batch, .instance] {
      let g = Graph()
      let b = GraphBinder(graph: g)
      let store = ParameterStore(backend: cpu, seed: 9)
      let net = try UNetGenerator(downs: 5, ngf: 8, norm: norm)
      _ = try net(g.input([1, 3, 32, 32], name: "x"), in: Scope(binder: b, store: store, tag: "G"))
      // The innermost down conv: 64·64·4·4 = 65536 weights; the sample std's standard
      // error is 0.28%, so ±1.5% is over 5σ.
      let inner = try cpu.readDouble(try #require(store["model.model.1.model.3.model.3.model.3.model.1.weight"]))
      let mean = inner.reduce(0, +) / Double(inner.count)
      let std = (inner.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(inner.count)).squareRoot()
      // The mean's standard error is 7.8e-5 (the bound 0.0005 is over 6σ).
      #expect(abs(mean) < 0.0005 && abs(std - 0.02) < 0.0003, "\(norm): conv weights mean \(mean), std \(std)")
      for e in store.entries where e.name.hasSuffix(".bias") {
        #expect(try cpu.readDouble(e.tensor).allSatisfy { $0 == 0 }, "\(e.name) starts at 0")
      }
      let biases = store.entries.filter { $0.name.hasSuffix(".bias") }.map(\.name)
      let scales = store.entries.filter { $0.name.hasSuffix(".weight") && $0.tensor.shape.rank == 1 }
      // A conv's bias sits next to a weight of rank 4; a norm's shift next to one of rank 1.
      let convBiases = biases.filter { store[String($0.dropLast(4)) + "weight"]!.shape.rank == 4 }
      if norm == .batch {
        #expect(convBiases == ["model.model.3.bias"], "only the outermost up conv has a bias: \(convBiases)")
        // 232 scales: their mean's standard error is 0.0013 (the bound 0.01 is over 7σ); each
        // within 0.12 = 6σ of 1.
        let values = try scales.flatMap { try cpu.readDouble($0.tensor) }
        let m = values.reduce(0, +) / Double(values.count)
        #expect(abs(m - 1) < 0.01 && values.allSatisfy { abs($0 - 1) < 0.12 }, "batch-norm scales near N(1, 0.02): mean \(m)")
      } else {
        #expect(convBiases.count == 10 && scales.isEmpty, "instance norm: all 10 convs have biases, norms no parameters")
      }
    }
  }

  @Test("unet_256 with dropout: Dropout(0.5) in exactly the three levels nearest the bottleneck, only when training")
  func dropoutPlacement() throws {
    let net = try UNetGenerator(downs: 8, ngf: 1, dropout: true)
    for mode in [BindOptions.Mode.train, .eval] {
      let g = Graph()
      let scope = Scope(
        binder: GraphBinder(graph: g), store: ParameterStore(backend: CPUBackend(), seed: 1), tag: "G",
        options: BindOptions(mode: mode))
      _ = try net(g.input([1, 3, 256, 256], name: "x"), in: scope)
      let masks = g.nodes.map(\.name).filter { $0.hasSuffix("dropout mask") }
      // Levels 1…7 below the outermost: model.1 is the first, each deeper one is .model.3;
      // dropout is layer 7 of levels 4, 5 and 6 (level 7 is the innermost).
      let level = { (depth: Int) in "model.model.1" + String(repeating: ".model.3", count: depth - 1) + ".model.7" }
      let expected = mode == .train ? [4, 5, 6].map { "G \(level($0)) dropout mask" } : []
      #expect(masks.sorted() == expected.sorted(), "\(mode): \(masks)")
    }
  }

  @Test("sizes a network cannot take, and unknown names, are rejected with the allowed sizes")
  func rejectsSizes() throws {
    func message(_ body: () throws -> Any) -> String {
      do {
        _ = try body()
        return ""
      } catch { return "\(error)" }
    }
    let unet = message { try TranslationNetworks.generator("unet_32", height: 48, width: 32) }
    #expect(unet.contains("48x32") && unet.contains("multiples of 32"), "\(unet)")
    let small = message { try TranslationNetworks.generator("unet_256", height: 128, width: 128) }
    #expect(small.contains("at least 256"), "\(small)")
    #expect((try? TranslationNetworks.generator("unet_128", height: 384, width: 256)) != nil, "multiples of 2^downs work")
    let resnet = message { try TranslationNetworks.generator("resnet_9blocks", height: 30, width: 32) }
    #expect(resnet.contains("multiples of 4"), "\(resnet)")
    let basic = message { try TranslationNetworks.discriminator("basic", inputChannels: 6, height: 16, width: 64) }
    #expect(basic.contains("at least 24"), "\(basic)")
    let unknown = message { try TranslationNetworks.generator("unet_512", height: 512, width: 512) }
    #expect(unknown.contains("unet_256") && unknown.contains("resnet_6blocks"), "\(unknown)")
    let unknownD = message { try TranslationNetworks.discriminator("patch", inputChannels: 6, height: 64, width: 64) }
    #expect(unknownD.contains("basic, n_layers, pixel"), "\(unknownD)")
    let star = message { try StarGANDiscriminator(imageSize: 48, repeatNum: 6) }
    #expect(star.contains("multiple of 64"), "\(star)")
    #expect(try StarGANDiscriminator(imageSize: 32).repeatNum == 4)
    // Building on a wrong-sized input fails the same way.
    let g = Graph()
    let scope = Scope(binder: GraphBinder(graph: g), store: ParameterStore(backend: CPUBackend(), seed: 1), tag: "G")
    let built = message { try UNetGenerator(downs: 5, ngf: 2)(g.input([1, 3, 40, 40], name: "x"), in: scope) }
    #expect(built.contains("40x40") && built.contains("multiples of 32"), "\(built)")
    let noLabels = message { try StarGANGenerator(convDim: 2, domains: 3, repeatNum: 1)(g.input([1, 3, 8, 8], name: "x"), in: scope) }
    #expect(noLabels.contains("'c'"), "\(noLabels)")
  }
}
