import Foundation
import KallimaCPU
import KallimaCore
import KallimaEval
import KallimaOpenCL
import Testing

// MARK: Metric fixtures (shared by the IS, KID and precision/recall tests)

// Reference values from NumPy: Fixtures/metrics.json, written by Scripts/make_metric_fixtures.py
// (run by hand; the build and tests never need Python). Inputs are float32 values (written as
// the shortest decimal that reads back as the same Float); expected outputs were computed in
// float64 from those exact inputs, so tolerances cover only Kallima's own rounding.

struct MetricMatrix: Decodable {
  let shape: [Int]
  let data: [Double]
  /// The values as float32, exactly what the script drew.
  var floats: [Float] { data.map(Float.init) }
  var rows: Int { shape[0] }
  var columns: Int { shape[1] }

  func tensor(on backend: Backend) throws -> Tensor {
    try backend.makeTensor(Shape(shape), values: floats)
  }
}

struct MetricFixtures: Decodable {
  struct InceptionCase: Decodable {
    let logits: MetricMatrix
    let splits: Int
    let mean: Double
    let std: Double
    let splitScores: [Double]
  }
  struct MMDCase: Decodable {
    let x: MetricMatrix
    let y: MetricMatrix
    let mmd2: Double
    /// The largest mean |k| of K_XX, K_XY, K_YY: the size of the terms MMD² is a difference of.
    let kernelScale: Double
  }
  struct PrecisionRecallCase: Decodable {
    let real: MetricMatrix
    let fake: MetricMatrix
    let k: Int
    let precision: Double
    let recall: Double
    let realRadii: MetricMatrix
    let fakeRadii: MetricMatrix
    /// The smallest relative gap |d − r|/r between any distance and a radius it is compared with.
    let margin: Double
  }
  let inceptionScore: [String: InceptionCase]
  let mmd: [String: MMDCase]
  let precisionRecall: [String: PrecisionRecallCase]

  static let loaded = Result { () throws -> MetricFixtures in
    guard let url = Bundle.module.url(forResource: "metrics", withExtension: "json", subdirectory: "Fixtures") else {
      throw KallimaError.io(path: "Fixtures/metrics.json", message: "not found in the test bundle")
    }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try decoder.decode(MetricFixtures.self, from: Data(contentsOf: url))
  }

  static func inception(_ name: String) throws -> InceptionCase {
    guard let c = try loaded.get().inceptionScore[name] else { throw fixtureMissing(name) }
    return c
  }
  static func mmd(_ name: String) throws -> MMDCase {
    guard let c = try loaded.get().mmd[name] else { throw fixtureMissing(name) }
    return c
  }
  static func precisionRecall(_ name: String) throws -> PrecisionRecallCase {
    guard let c = try loaded.get().precisionRecall[name] else { throw fixtureMissing(name) }
    return c
  }
  static func fixtureMissing(_ name: String) -> Error {
    KallimaError.io(path: "Fixtures/metrics.json", message: "case '\(name)' missing; rerun Scripts/make_metric_fixtures.py")
  }
}

/// Whether `body` throws a KallimaError whose message contains every one of `fragments`.
func expectMetricError(
  containing fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
  do {
    try body()
    Issue.record("expected an error containing \(fragments)", sourceLocation: sourceLocation)
  } catch {
    let message = "\(error)"
    for fragment in fragments {
      #expect(message.contains(fragment), "error \"\(message)\" should mention \"\(fragment)\"", sourceLocation: sourceLocation)
    }
  }
}

// MARK: Inception Score

// Tolerance: 1e-12 relative on every path. The inputs are float32 values that every path
// reads exactly (a tensor read of float32 data is lossless on both backends), and both sides
// compute in Double; they differ only in summation order and in the last bits of exp and log.

@Suite("Inception Score")
struct InceptionScoreTests {
  @Test("matches NumPy on host logits (splits of i·N/10, N divisible and not)", arguments: ["logits_100x10", "logits_37x5"])
  func fixtureOnHost(name: String) throws {
    let c = try MetricFixtures.inception(name)
    let score = try InceptionScore.compute(logits: c.logits.floats, classes: c.logits.columns, splits: c.splits)
    expectClose(score.mean, c.mean, rtol: 1e-12, "\(name) mean")
    expectClose(score.standardDeviation, c.std, rtol: 1e-12, "\(name) std")
    #expect(score.splitScores.count == c.splitScores.count)
    for (i, (got, want)) in zip(score.splitScores, c.splitScores).enumerated() {
      expectClose(got, want, rtol: 1e-12, "\(name) split \(i)")
    }
    #expect(score.count == c.logits.rows && score.classes == c.logits.columns)
  }

  /// InceptionScore.compute(logits: Tensor, on:) does no device arithmetic: it reads the
  /// logits back once and runs the host computation. This checks exactly that — the fixture's
  /// values, one blocking read of N·C floats, and bit-for-bit the host path's result.
  @Test(
    "from logits held on a backend (CPU, OpenCL): one read of N·C floats, then the host computation; matches NumPy",
    arguments: ["logits_100x10", "logits_37x5"])
  func fixtureFromTensors(name: String) throws {
    let c = try MetricFixtures.inception(name)
    let host = try InceptionScore.compute(logits: c.logits.floats, classes: c.logits.columns, splits: c.splits)
    // Its own OpenCL backend: tests running in parallel on the shared one would add to its counters.
    let backends: [Backend] = [CPUBackend(), try OpenCLBackend()]
    for backend in backends {
      let logits = try c.logits.tensor(on: backend)
      try backend.synchronize()
      let before = backend.traffic
      let score = try InceptionScore.compute(logits: logits, on: backend, splits: c.splits)
      let traffic = backend.traffic.since(before)
      #expect(traffic.blockingReads == 1 && traffic.synchronizations == 0, "\(backend.name): \(traffic)")
      #expect(traffic.bytesFromDevice == 4 * c.logits.rows * c.logits.columns, "\(backend.name): \(traffic)")
      #expect(score.splitScores == host.splitScores && score.mean == host.mean, "\(backend.name): \(score) vs host \(host)")
      expectClose(score.mean, c.mean, rtol: 1e-12, "\(name) mean on \(backend.name)")
      expectClose(score.standardDeviation, c.std, rtol: 1e-12, "\(name) std on \(backend.name)")
    }
  }

  @Test("uniform predictions score 1")
  func uniform() throws {
    // Every row has equal logits (a different constant per row): p(y|x) = p(y) = 1/C.
    let (n, c) = (50, 8)
    let logits = (0..<(n * c)).map { Double($0 / c) * 0.37 - 4 }
    let score = try InceptionScore.compute(logits: logits, classes: c)
    expectClose(score.mean, 1, rtol: 1e-12, "mean")
    #expect(score.standardDeviation <= 1e-12)
  }

  @Test("confident predictions spread evenly over C classes score C", arguments: [2, 7, 10])
  func confident(classes: Int) throws {
    // Row i predicts class i mod C with logit 60 over 0; every split holds whole cycles.
    let n = 10 * classes * 3
    var logits = [Double](repeating: 0, count: n * classes)
    for i in 0..<n { logits[i * classes + i % classes] = 60 }
    let score = try InceptionScore.compute(logits: logits, classes: classes)
    expectClose(score.mean, Double(classes), rtol: 1e-12, "mean")
    #expect(score.standardDeviation <= 1e-12 * Double(classes))
    // All images confidently the same class: 1.
    var same = [Double](repeating: 0, count: n * classes)
    for i in 0..<n { same[i * classes] = 60 }
    expectClose(try InceptionScore.compute(logits: same, classes: classes).mean, 1, rtol: 1e-12, "one class")
  }

  @Test("description for the command line")
  func description() throws {
    let score = InceptionScore(mean: 3.2149, standardDeviation: 0.0512, splitScores: .init(repeating: 3, count: 10), count: 5000, classes: 1000)
    #expect(score.description == "IS 3.21 ± 0.05 (10 splits, 5000 images)")
  }

  @Test("bad shapes and values give errors that name the metric and the shapes")
  func errors() throws {
    expectMetricError(containing: ["Inception Score", "37", "10 classes"]) {
      _ = try InceptionScore.compute(logits: [Float](repeating: 0, count: 37), classes: 10)
    }
    expectMetricError(containing: ["Inception Score", "[9, 4]", "10 non-empty splits"]) {
      _ = try InceptionScore.compute(logits: [Float](repeating: 0, count: 36), classes: 4)
    }
    expectMetricError(containing: ["Inception Score", "image 2", "nan"]) {
      var logits = [Float](repeating: 0, count: 40)
      logits[9] = .nan
      _ = try InceptionScore.compute(logits: logits, classes: 4, splits: 2)
    }
    let cpu = CPUBackend()
    expectMetricError(containing: ["Inception Score", "[2, 3, 4]"]) {
      _ = try InceptionScore.compute(logits: try cpu.zeros([2, 3, 4]), on: cpu)
    }
  }
}
