import Foundation
import KallimaCPU
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGraph
import KallimaOpenCL
import Testing

// InceptionV3 (pytorch-fid's FID Inception) against PyTorch, without the real weights.
//
// Fixtures/inception_blocks.json and Fixtures/inception_network.json are written by
// Scripts/make_inception_fixtures.py (run by hand; the build and tests never need Python).
// Every weight and input comes from a counter-based generator implemented identically
// there and here (`InceptionGenerator`), so the fixtures hold only the seed, shapes and
// the expected outputs, computed by pytorch-fid's own modules in float64.
//
// Backends: the CPU reference backend (Double throughout) and an OpenCL backend on the
// first device (PoCL in CI). If the OpenCL backend cannot be created, the OpenCL tests
// FAIL (the error is thrown); they never skip. The whole network runs on OpenCL with both
// images and on the CPU reference with the first one (5.7 GMAC in Double: ~40 s in a
// debug build on 2 cores).
//
// Tolerances, |actual − expected| <= atol + rtol·|expected|:
//   • CPU: atol 1e-6, rtol 1e-6. It computes in Double like the reference; only the final
//     read rounds to float32 (relative 6e-8).
//   • OpenCL (float32): the golden-test rule for one reduction of length L — atol
//     1e-5·√L, rtol 1e-4 — composed along the network: atol is the largest sum of
//     1e-5·√L over the convolutions (and the fc) on any path from input to output, and
//     rtol is 1e-4 times the most such layers on a path (`Float32Budget`).
//     Measured on PoCL: the largest error is ~2e-3 of that budget everywhere; a BN eps of
//     1e-5 instead of 0.001 (the subtlest plausible bug) exceeds it 2–5× in every case,
//     and the CPU cases by >1000×.
//   Means over channels or positions get the same tolerance at the mean: every output
//   channel is either ≥ 0 (ReLU) or an exact max-pool copy of the input, so
//   |mean error| <= mean |error| <= atol + rtol·mean.

// MARK: Generator

/// The fixture script's generator: splitmix64 over (tensor name, element index).
///   key = mix(fnv1a64(name) ^ seed); u(i) = (mix(key + (i + 1)·γ) >> 11)·2⁻⁵³;
///   value = Float(low + (high − low)·u) with the arithmetic in Double.
enum InceptionGenerator {
  static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

  static func fnv1a64(_ s: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in s.utf8 {
      h ^= UInt64(b)
      h = h &* 0x100_0000_01B3
    }
    return h
  }

  static func mix(_ x: UInt64) -> UInt64 {
    var z = x
    z ^= z >> 30
    z = z &* 0xBF58_476D_1CE4_E5B9
    z ^= z >> 27
    z = z &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  static func uniform(_ name: String, count: Int, low: Double, high: Double, seed: UInt64) -> [Float] {
    let key = mix(fnv1a64(name) ^ seed)
    return (0..<count).map { i in
      let u = Double(mix(key &+ UInt64(i + 1) &* golden) >> 11) * 0x1p-53
      return Float(low + (high - low) * u)
    }
  }

  /// The range of each weight, as `ranges` in the script.
  static func range(_ spec: ParameterSpec) -> (Double, Double) {
    let name = spec.name
    if name.hasSuffix(".conv.weight") {
      let a = (6.0 / Double(spec.shape[1] * spec.shape[2] * spec.shape[3])).squareRoot()
      return (-a, a)
    }
    if name.hasSuffix(".bn.weight") || name.hasSuffix(".bn.running_var") { return (0.5, 1.5) }
    if name.hasSuffix(".bn.bias") || name.hasSuffix(".bn.running_mean") || name == "fc.bias" { return (-0.1, 0.1) }
    if name == "fc.weight" {
      let a = (3.0 / Double(spec.shape[1])).squareRoot()
      return (-a, a)
    }
    fatalError("no generator range for \(name)")
  }

  static func weights(_ specs: [ParameterSpec], seed: UInt64, on backend: Backend) throws -> NetworkWeights {
    var tensors: [String: Tensor] = [:]
    for spec in specs {
      let (low, high) = range(spec)
      tensors[spec.name] = try backend.makeTensor(
        spec.shape, values: uniform(spec.name, count: spec.shape.count, low: low, high: high, seed: seed))
    }
    return NetworkWeights(backend: backend, tensors: tensors)
  }
}

// MARK: Fixtures

private struct InceptionBlockStats: Decodable {
  let shape: [Int]
  let channel_mean: [Double]
  let position_mean: [Double]
  let sample_index: [Int]
  let sample_value: [Double]
}

private struct InceptionBlockCase: Decodable {
  let block: String
  let input_shape: [Int]
  let output: InceptionBlockStats
}

private struct InceptionBlocksFile: Decodable {
  let seed: UInt64
  let cases: [String: InceptionBlockCase]
}

private struct InceptionGoldenTensor: Decodable {
  let shape: [Int]
  let data: [Double]
}

private struct InceptionTap: Decodable {
  let shape: [Int]
  let position_mean: [Double]
  let sample_index: [Int]
  let sample_value: [Double]
}

private struct InceptionGeneratorCheck: Decodable {
  let name: String
  let low: Double
  let high: Double
  let values: [Double]
}

private struct InceptionNetworkFile: Decodable {
  let seed: UInt64
  let input_shape: [Int]
  let features: InceptionGoldenTensor
  let logits: InceptionGoldenTensor
  let taps: [String: InceptionTap]
  let generator_check: [InceptionGeneratorCheck]
  let state_dict: [StateDictEntry]

  struct StateDictEntry: Decodable {
    let name: String
    let shape: [Int]
    init(from decoder: Decoder) throws {
      var c = try decoder.unkeyedContainer()
      name = try c.decode(String.self)
      shape = try c.decode([Int].self)
    }
  }
}

private struct InceptionFixtureError: Error, CustomStringConvertible {
  let description: String
}

private func inceptionFixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
  guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
    throw InceptionFixtureError(
      description: "Fixtures/\(name).json is not in the test bundle; run Scripts/make_inception_fixtures.py")
  }
  return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

private let blocksFixture = Result { try inceptionFixture("inception_blocks", as: InceptionBlocksFile.self) }
private let networkFixture = Result { try inceptionFixture("inception_network", as: InceptionNetworkFile.self) }

/// One OpenCL backend for these tests (programs are built once per process).
private let inceptionOpenCL = Result { try OpenCLBackend() }

private func inceptionBackend(_ kind: String) throws -> Backend {
  kind == "cpu" ? CPUBackend() : try inceptionOpenCL.get()
}

// MARK: Tolerance

/// Float32 error budget of a graph's output: along every path, each convolution or
/// matmul with reduction length L adds 1e-5·√L to atol and 1e-4 to rtol (the golden
/// tests' rule for a single op); a node takes the worst of its inputs.
struct Float32Budget: CustomStringConvertible {
  var atol: Double
  var rtol: Double

  static let cpu = Float32Budget(atol: 1e-6, rtol: 1e-6)

  init(atol: Double, rtol: Double) { (self.atol, self.rtol) = (atol, rtol) }

  init(graph: Graph, output: Value) {
    var budget: [Int: (Double, Double)] = [:]
    for i in 0...output.node {
      let node = graph.nodes[i]
      var (a, r) = node.inputs.reduce((0.0, 0.0)) { acc, v in
        let b = budget[v.node] ?? (0, 0)
        return (max(acc.0, b.0), max(acc.1, b.1))
      }
      switch node.op {
      case .conv2d:
        let w = graph.shape(node.inputs[1])
        a += 1e-5 * Double(w[1] * w[2] * w[3]).squareRoot()
        r += 1e-4
      case .matmul(let ta, _, _):
        let s = graph.shape(node.inputs[0])
        a += 1e-5 * Double(ta ? s[0] : s[1]).squareRoot()
        r += 1e-4
      default: break
      }
      budget[i] = (a, r)
    }
    (atol, rtol) = budget[output.node]!
  }

  func allows(_ actual: Double, _ expected: Double) -> Bool {
    abs(actual - expected) <= atol + rtol * abs(expected)
  }

  var description: String { String(format: "atol %.3g, rtol %.3g", atol, rtol) }
}

/// Compares values with the budget; records the count and first failures, and returns
/// the largest |diff| / allowed ratio (to report the margin).
@discardableResult
private func expectWithin(
  _ actual: [Double], _ expected: [Double], _ tol: Float32Budget, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) -> Double {
  guard actual.count == expected.count else {
    Issue.record("\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    return .infinity
  }
  var bad: [String] = []
  var badCount = 0
  var worst = 0.0
  for i in actual.indices {
    let (a, e) = (actual[i], expected[i])
    let allowed = tol.atol + tol.rtol * abs(e)
    let ratio = abs(a - e) / allowed
    worst = max(worst, ratio.isNaN ? .infinity : ratio)
    if !tol.allows(a, e) {
      badCount += 1
      if bad.count < 6 { bad.append("[\(i)] expected \(e), got \(a) (|diff| \(abs(a - e)), allowed \(allowed))") }
    }
  }
  if badCount > 0 {
    Issue.record(
      Comment(rawValue: "\(what): \(badCount) of \(actual.count) outside \(tol): " + bad.joined(separator: "; ")),
      sourceLocation: sourceLocation)
  }
  return worst
}

// MARK: Tests

@Suite("InceptionV3 (pytorch-fid) against PyTorch")
struct InceptionTests {
  @Test("the Swift generator reproduces the fixture script's values bit for bit")
  func generatorMatchesPython() throws {
    let fixture = try networkFixture.get()
    for check in fixture.generator_check {
      let values = InceptionGenerator.uniform(
        check.name, count: check.values.count, low: check.low, high: check.high, seed: fixture.seed)
      #expect(values.map(Double.init) == check.values, "\(check.name)")
    }
  }

  @Test("weight names and shapes equal fid_inception_v3().state_dict(), in order")
  func stateDictNames() throws {
    let fixture = try networkFixture.get()
    let ours = InceptionV3.parameterSpecs.map { "\($0.name) \($0.shape.dims)" }
    let theirs = fixture.state_dict.map { "\($0.name) \($0.shape)" }
    #expect(ours.count == theirs.count, "Kallima has \(ours.count) weights, PyTorch \(theirs.count)")
    #expect(Set(ours).subtracting(theirs).sorted() == [], "only in Kallima")
    #expect(Set(theirs).subtracting(ours).sorted() == [], "only in PyTorch")
    #expect(ours == theirs, "same set, different order")
  }

  @Test(
    "each block type matches PyTorch in float64",
    arguments: ["cpu", "opencl"], ["stem", "Mixed_5b", "Mixed_6a", "Mixed_6b", "Mixed_7a", "Mixed_7b", "Mixed_7c"])
  func block(backendKind: String, caseName: String) throws {
    let fixture = try blocksFixture.get()
    guard let c = fixture.cases[caseName], let block = InceptionV3.Block(rawValue: c.block) else {
      throw InceptionFixtureError(description: "case \(caseName) missing from Fixtures/inception_blocks.json")
    }
    let backend = try inceptionBackend(backendKind)
    let started = Date()
    let inputShape = Shape(c.input_shape)
    // Trace the block once for the weights it reads, generate them, then compile.
    let tracer = NetworkBuilder()
    _ = try block(tracer, tracer.graph.input(inputShape, name: "x"))
    let weights = try InceptionGenerator.weights(tracer.parameters, seed: fixture.seed, on: backend)
    var output: Value?
    let net = try FeatureNetwork(backend: backend, weights: weights, inputShape: inputShape) { b, x in
      let y = try block(b, x)
      output = y
      return ["y": y]
    }
    let tol = backendKind == "cpu" ? Float32Budget.cpu : Float32Budget(graph: net.plan.graph, output: output!)
    try backend.write(
      InceptionGenerator.uniform("input:\(caseName)", count: inputShape.count, low: -0.5, high: 1.0, seed: fixture.seed),
      to: net.input)
    try net.run()
    let y = try net.output("y")
    #expect(y.shape.dims == c.output.shape, "\(caseName) output \(y.shape), PyTorch \(c.output.shape)")
    let values = try backend.read(y).map(Double.init)
    let (n, ch, h, w) = (y.shape[0], y.shape[1], y.shape[2], y.shape[3])
    var channelMean = [Double](repeating: 0, count: ch)
    var positionMean = [Double](repeating: 0, count: n * h * w)
    for i in 0..<n {
      for k in 0..<ch {
        for p in 0..<(h * w) {
          let v = values[(i * ch + k) * h * w + p]
          channelMean[k] += v / Double(n * h * w)
          positionMean[i * h * w + p] += v / Double(ch)
        }
      }
    }
    let label = "\(backend.name) \(caseName)"
    let worst = [
      expectWithin(c.output.sample_index.map { values[$0] }, c.output.sample_value, tol, "\(label) sampled elements"),
      expectWithin(channelMean, c.output.channel_mean, tol, "\(label) channel means"),
      expectWithin(positionMean, c.output.position_mean, tol, "\(label) position means"),
    ].max()!
    print(
      "Inception \(label): worst |diff|/allowed \(String(format: "%.3g", worst)) (\(tol)); "
        + String(format: "%.1f s", Date().timeIntervalSince(started)))
  }

  @Test("whole network: pool3 features, logits and 3 full-size block maps of 2 images (16×16 → 299) match pytorch-fid, on OpenCL")
  func wholeNetwork() throws {
    let fixture = try networkFixture.get()
    let backend = try inceptionOpenCL.get()
    let start = Date()
    let weights = try InceptionGenerator.weights(InceptionV3.parameterSpecs, seed: fixture.seed, on: backend)
    let inception = try InceptionV3(backend: backend, weights: weights)
    let generated = Date()
    let shape = Shape(fixture.input_shape)
    let golden = try checkGoldenNetwork(inception, fixture, images: shape[0], cpu: false)
    let checked = Date()

    // The batched API: images 0, 1 and 0 again in batches of 2, so the second batch is a
    // padded partial one. Same kernels, so every row must equal the single batch's bitwise.
    let images = InceptionGenerator.uniform("images", count: shape.count, low: 0, high: 1, seed: fixture.seed)
    let perImage = shape.count / shape[0]
    let three = try backend.makeTensor([3, shape[1], shape[2], shape[3]], values: images + images.prefix(perImage))
    let (features, logits) = try inception.features(three, batch: 2, logits: true)
    #expect(features.shape == [3, InceptionV3.featureCount])
    #expect(logits!.shape == [3, InceptionV3.classCount])
    let f3 = try backend.read(features).map(Double.init)
    let l3 = try backend.read(logits!).map(Double.init)
    let (f, l) = (golden.features, golden.logits)
    let (d, k) = (InceptionV3.featureCount, InceptionV3.classCount)
    expectBitIdentical(Array(f3[0..<(2 * d)]), f, "features() rows 0, 1 vs one batch")
    expectBitIdentical(Array(f3[(2 * d)...]), Array(f[0..<d]), "features() row 2 (image 0 in a padded batch)")
    expectBitIdentical(Array(l3[0..<(2 * k)]), l, "features() logits rows 0, 1 vs one batch")
    expectBitIdentical(Array(l3[(2 * k)...]), Array(l[0..<k]), "features() logits row 2 (image 0 in a padded batch)")
    let done = Date()
    func seconds(_ a: Date, _ b: Date) -> String { String(format: "%.1f s", b.timeIntervalSince(a)) }
    print(
      "Inception whole network on \(backend.name): worst |diff|/allowed: \(golden.report); "
        + "weights generated in \(seconds(start, generated)), golden run (plan + 1 batch of 2) \(seconds(generated, checked)), "
        + "features() (plan + 2 batches of 2) \(seconds(checked, done))")
  }

  @Test("whole network on the CPU reference (Double): image 0's pool3, logits and block maps match pytorch-fid to 1e-6")
  func wholeNetworkCPU() throws {
    let fixture = try networkFixture.get()
    let backend = CPUBackend()
    let start = Date()
    let weights = try InceptionGenerator.weights(InceptionV3.parameterSpecs, seed: fixture.seed, on: backend)
    let golden = try checkGoldenNetwork(try InceptionV3(backend: backend, weights: weights), fixture, images: 1, cpu: true)
    print(
      "Inception whole network on cpu (1 image): worst |diff|/allowed: \(golden.report); "
        + String(format: "%.1f s", Date().timeIntervalSince(start)))
  }

  @Test("a weights file with missing, misshapen or foreign tensors is refused with what to run")
  func badWeightsFile() throws {
    let path = FileManager.default.temporaryDirectory
      .appendingPathComponent("kallima-inception-bad-\(ProcessInfo.processInfo.processIdentifier).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try SafetensorsFile.write(
      [
        SafetensorsTensor(name: "fc.bias", shape: [1000], values: [Float](repeating: 0, count: 1000)),
        SafetensorsTensor(name: "AuxLogits.conv0.conv.weight", shape: [1], values: [0]),
        SafetensorsTensor(name: "Conv2d_1a_3x3.bn.num_batches_tracked", shape: [1], values: [0]),
      ], to: path)
    do {
      _ = try InceptionV3(backend: CPUBackend(), weightsFile: path)
      Issue.record("a file holding 1 of 472 weights was accepted")
    } catch {
      let message = "\(error)"
      #expect(message.contains("471 missing: Conv2d_1a_3x3.conv.weight [32, 3, 3, 3]"), "\(message)")
      #expect(message.contains("fc.bias is [1000], expected [1008]"), "\(message)")
      #expect(message.contains("1 unexpected: AuxLogits.conv0.conv.weight"), "\(message)")
      #expect(!message.contains("num_batches_tracked"), "\(message)")
      #expect(message.contains("Scripts/convert_inception_weights.py"), "\(message)")
    }
    do {
      _ = try InceptionV3(backend: CPUBackend(), weightsFile: path + ".absent")
      Issue.record("a missing file was accepted")
    } catch {
      #expect("\(error)".contains("Scripts/convert_inception_weights.py"), "\(error)")
    }
  }
}

/// Runs the first `images` fixture images through one batch of the network, keeping the
/// maps of the stem (35×35), Mixed_6e (17×17) and Mixed_7c (8×8), whose position means
/// localise errors the global pool hides; compares pool3, logits and those maps with
/// pytorch-fid's. Returns the features and logits read back, and the worst ratios.
private func checkGoldenNetwork(
  _ inception: InceptionV3, _ fixture: InceptionNetworkFile, images count: Int, cpu: Bool,
  sourceLocation: SourceLocation = #_sourceLocation
) throws -> (features: [Double], logits: [Double], report: String) {
  let backend = inception.backend
  let shape = Shape(fixture.input_shape)
  let perImage = shape.count / shape[0]
  let images = InceptionGenerator.uniform("images", count: shape.count, low: 0, high: 1, seed: fixture.seed)
  let net = try inception.extractor(batch: count, height: shape[2], width: shape[3], blockOutputs: [.stem, .mixed6e, .mixed7c])
  try backend.write(Array(images.prefix(count * perImage)), to: net.input)
  try net.run()
  let graph = net.plan.graph
  func budget(_ name: String) throws -> Float32Budget {
    if cpu { return .cpu }
    guard let i = graph.nodes.indices.last(where: { graph.nodes[$0].name == name }) else {
      throw InceptionFixtureError(description: "no node named \(name) in the Inception graph")
    }
    return Float32Budget(graph: graph, output: Value(node: i, output: 0))
  }
  let label = backend.name
  let (d, k) = (InceptionV3.featureCount, InceptionV3.classCount)
  let f = try backend.read(net.output(InceptionV3.pool3)).map(Double.init)
  let l = try backend.read(net.output(InceptionV3.logits)).map(Double.init)
  var report: [String] = []
  func record(_ name: String, _ worst: Double, _ tol: Float32Budget) {
    report.append("\(name) \(String(format: "%.3g", worst)) (\(tol))")
  }
  let featureTol = try budget("pool3")
  let logitTol = try budget("fc bias")
  record(
    "pool3", expectWithin(f, Array(fixture.features.data.prefix(count * d)), featureTol, "\(label) pool3 features",
      sourceLocation: sourceLocation), featureTol)
  record(
    "logits", expectWithin(l, Array(fixture.logits.data.prefix(count * k)), logitTol, "\(label) logits",
      sourceLocation: sourceLocation), logitTol)
  for (name, tap) in fixture.taps.sorted(by: { $0.key < $1.key }) {
    let y = try net.output(name)
    #expect(Array(y.shape.dims.dropFirst()) == Array(tap.shape.dropFirst()), "\(name) is \(y.shape), PyTorch \(tap.shape)")
    let values = try backend.read(y).map(Double.init)
    let (ch, hw) = (y.shape[1], y.shape[2] * y.shape[3])
    var positionMean = [Double](repeating: 0, count: count * hw)
    for i in 0..<count {
      for c in 0..<ch {
        for p in 0..<hw { positionMean[i * hw + p] += values[(i * ch + c) * hw + p] / Double(ch) }
      }
    }
    let tol = try budget(name == "stem" ? "maxpool2" : name)
    let w1 = expectWithin(
      positionMean, Array(tap.position_mean.prefix(count * hw)), tol, "\(label) \(name) position means",
      sourceLocation: sourceLocation)
    let samples = tap.sample_index.indices.filter { tap.sample_index[$0] < values.count }
    let w2 = expectWithin(
      samples.map { values[tap.sample_index[$0]] }, samples.map { tap.sample_value[$0] }, tol,
      "\(label) \(name) sampled elements", sourceLocation: sourceLocation)
    record(name, max(w1, w2), tol)
  }
  return (f, l, report.joined(separator: ", "))
}

/// Bitwise equality, reporting the first differing indices.
private func expectBitIdentical(
  _ actual: [Double], _ expected: [Double], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  let diffs = actual.indices.filter { actual[$0].bitPattern != expected[$0].bitPattern }
  if actual.count != expected.count || !diffs.isEmpty {
    let first = diffs.prefix(5).map { "[\($0)] expected \(expected[$0]), got \(actual[$0])" }
    Issue.record(
      Comment(rawValue: "\(what): \(diffs.count) values differ; first: " + first.joined(separator: "; ")),
      sourceLocation: sourceLocation)
  }
}
