import Foundation
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGAN
import KallimaOpenCL
import Testing

// FIDPipeline end to end on OpenCL (PoCL in CI) with a random-weight InceptionV3 (the
// fixture generator of InceptionTests.swift, seed 7): its features are not Inception's, so
// the values mean nothing as FIDs, but every step of the pipeline — decoding, chunking,
// resizing, features, statistics, .npz, Fréchet distance — runs as with the real weights.
// If the OpenCL backend cannot be created the tests FAIL (the error is thrown).
//
// Two folders of 6 PNGs, 32×32 (B's in a subfolder): A holds smooth colour gradients, B
// random noise plus one 48×48 image (resized and centre-cropped, which the statistics' notes
// must say). With N = 6 < 2048 every FID carries the too-few-samples warning; the tests
// check it is there. Each image costs ~3 s of Inception on 2 PoCL cores, hence so few.

/// Shared state: one backend, one network, the two folders and their statistics.
private final class FIDFixture: @unchecked Sendable {
  let backend: Backend
  let inception: InceptionV3
  let root: String
  let folderA: String
  let folderB: String
  let a: FIDPipeline.Statistics
  let b: FIDPipeline.Statistics

  init() throws {
    backend = try OpenCLBackend()
    inception = try InceptionV3(
      backend: backend, weights: try InceptionGenerator.weights(InceptionV3.parameterSpecs, seed: 7, on: backend))
    root = (NSTemporaryDirectory() as NSString).appendingPathComponent("kallima-fid-\(ProcessInfo.processInfo.processIdentifier)")
    folderA = (root as NSString).appendingPathComponent("a")
    folderB = (root as NSString).appendingPathComponent("b/nested")
    try FileManager.default.createDirectory(atPath: folderA, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: folderB, withIntermediateDirectories: true)
    var rng = SplitMix(seed: 3)
    for i in 0..<imagesPerSet {
      // A: gradients whose direction and colours change with i.
      var smooth: [UInt8] = []
      for y in 0..<32 {
        for x in 0..<32 {
          smooth += [UInt8((x * 8 + i * 10) % 256), UInt8((y * 8 + i * 20) % 256), UInt8(((x + y) * 4 + i * 30) % 256)]
        }
      }
      try ImageIO.writePNG(
        try RGBImage(width: 32, height: 32, pixels: smooth), to: (folderA as NSString).appendingPathComponent("img\(i).png"))
      // B: uniform noise; the last one 48×48.
      let side = i == imagesPerSet - 1 ? 48 : 32
      let noise = (0..<(side * side * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next() >> 56) }
      try ImageIO.writePNG(
        try RGBImage(width: side, height: side, pixels: noise), to: (folderB as NSString).appendingPathComponent("img\(i).png"))
    }
    let dir = (root as NSString).appendingPathComponent("b")
    let start = Date()
    a = try FIDPipeline.statistics(ofImagesAt: folderA, inception: inception, batch: inceptionBatch)
    b = try FIDPipeline.statistics(ofImagesAt: dir, inception: inception, batch: inceptionBatch)
    print("FID fixture: 2 × \(imagesPerSet) images through Inception in \(Date().timeIntervalSince(start)) s")
  }

  deinit { try? FileManager.default.removeItem(atPath: root) }
}

private struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    return InceptionGenerator.mix(state)
  }
}

/// Images per folder: small, because each costs ~3 s of Inception at 299×299 on 2 PoCL cores.
private let imagesPerSet = 6
/// Inception batch: divides every image count here, so no batch is padded (padding costs as
/// much as images) and one compiled network serves every test.
private let inceptionBatch = 3

private let fidFixture = Result { try FIDFixture() }

private func message(_ body: () throws -> Void) -> String? {
  do {
    try body()
    return nil
  } catch {
    return "\(error)"
  }
}

@Suite("FID pipeline: folders, .npz and generators through a random-weight Inception on OpenCL", .serialized)
struct FIDPipelineTests {
  @Test("logits for the Inception Score come with the same features, equal to the network's own path (SqueezeNet's refusal: SqueezeNetTests)")
  func logitsForInceptionScore() throws {
    let f = try fidFixture.get()
    let withLogits = try FIDPipeline.statistics(ofImagesAt: f.folderA, inception: f.inception, batch: inceptionBatch, logits: true)
    #expect(withLogits.features == f.a.features)
    let logits = try #require(withLogits.logits)
    #expect(logits.count == imagesPerSet * InceptionV3.classCount)
    // The same logits as the network's own path on the decoded images (path order).
    let files = try FileManager.default.contentsOfDirectory(atPath: f.folderA).sorted()
    var planes: [Float] = []
    for file in files {
      let image = try ImageIO.read((f.folderA as NSString).appendingPathComponent(file))
      for ch in 0..<3 {
        for y in 0..<image.height {
          for x in 0..<image.width { planes.append(Float(image[x, y, ch]) / 255) }
        }
      }
    }
    let images = try f.backend.makeTensor([files.count, 3, 32, 32], values: planes)
    let direct = try f.backend.read(try #require(try f.inception.features(images, batch: inceptionBatch, logits: true).logits))
    #expect(direct == logits)
  }

  @Test("FID(A, A) ≈ 0, FID(A, B) > 0, with counts, notes and the too-few-samples warning")
  func foldersEndToEnd() throws {
    let f = try fidFixture.get()
    #expect(f.a.count == imagesPerSet && f.b.count == imagesPerSet)
    #expect(f.a.statistics.dimension == InceptionV3.featureCount)
    // The features themselves come along (KID and precision/recall need them) and give
    // the same statistics.
    let features = try #require(f.a.features)
    #expect(features.count == imagesPerSet * InceptionV3.featureCount)
    let again = try FeatureStatistics(features: features, count: imagesPerSet, dimension: InceptionV3.featureCount)
    #expect(again == f.a.statistics)
    #expect(f.a.notes.isEmpty, "\(f.a.notes)")
    #expect(f.b.notes.count == 1 && f.b.notes[0].contains("1 of \(imagesPerSet) images"), "\(f.b.notes)")
    let start = Date()
    let same = try FIDPipeline.compare(f.a, f.a)
    let different = try FIDPipeline.compare(f.a, f.b)
    print("two host Fréchet distances in \(Date().timeIntervalSince(start)) s")
    print("FID(A, A) = \(same.value), FID(A, B) = \(different.value)")
    #expect(different.value > 0 && different.value.isFinite)
    #expect(abs(same.value) <= 1e-6 * different.value, "FID(A, A) \(same.value) vs FID(A, B) \(different.value)")
    #expect(different.distance.path == .host)
    #expect(different.distance.warnings.contains { $0.contains("N = \(imagesPerSet) samples of d = 2048") }, "\(different.distance.warnings)")
    #expect(FIDPipeline.preprocessing(f.inception).contains("bilinear resize to 299"))
  }

  @Test("statistics saved as .npz give the same FID as the folders")
  func npzRoundTrip() throws {
    let f = try fidFixture.get()
    let pa = (f.root as NSString).appendingPathComponent("a.npz")
    let pb = (f.root as NSString).appendingPathComponent("b.npz")
    try f.a.statistics.writeNPZ(to: pa)
    try f.b.statistics.writeNPZ(to: pb)
    let na = try FIDPipeline.statistics(ofImagesAt: pa, inception: f.inception)
    let nb = try FIDPipeline.statistics(ofImagesAt: pb, inception: f.inception)
    #expect(na.count == nil && na.statistics.mean == f.a.statistics.mean)
    let folders = try FIDPipeline.compare(f.a, f.b).value
    let files = try FIDPipeline.compare(na, nb).value
    #expect(abs(files - folders) <= 1e-9 * folders, "npz \(files) vs folders \(folders)")
  }

  @Test("generator samples: quantised to uint8, gray copied to RGB, independent of the sampler's batch")
  func generatorStatistics() throws {
    let f = try fidFixture.get()
    #expect(FIDPipeline.quantise(-1) == 0 && FIDPipeline.quantise(1) == 1 && FIDPipeline.quantise(3) == 1)
    #expect(FIDPipeline.quantise(0) == Float(128) / 255)  // (0 + 1)/2·255 = 127.5 rounds away from zero
    let model = try DCGAN(DCGANConfig(nz: 8, ngf: 8, ndf: 8, channels: 1, imageSize: 32))
    let store = ParameterStore(backend: f.backend, seed: 11)
    let sampler = try Sampler(backend: f.backend, model: model, generator: store, count: 2)
    let s = try FIDPipeline.statistics(ofGenerator: sampler, count: 3, seed: 4, inception: f.inception, batch: inceptionBatch)
    #expect(s.count == 3)

    // The same images by hand: all 5 latents at once, quantised, gray → RGB.
    let whole = try Sampler(backend: f.backend, model: model, generator: store, count: 3)
    let raw = try whole.images(z: Sampler.latents(count: 3, nz: 8, seed: 4))
    var rgb: [Float] = []
    for i in 0..<3 {
      let plane = raw[(i * 1024)..<((i + 1) * 1024)].map(FIDPipeline.quantise)
      rgb += plane + plane + plane
    }
    let net = try f.inception.extractor(batch: inceptionBatch, height: 32, width: 32)
    let images = try f.backend.makeTensor([3, 3, 32, 32], values: rgb)
    let features = try f.backend.read(net.map(images, outputs: [InceptionV3.pool3])[InceptionV3.pool3]!)
    let expected = try FeatureStatistics(features: features, count: 3, dimension: InceptionV3.featureCount)
    let scale = expected.mean.map(abs).max()!
    let worst = zip(s.statistics.mean, expected.mean).map { abs($0 - $1) }.max()!
    #expect(scale > 0 && worst <= 1e-5 * scale, "mean differs by \(worst) (scale \(scale))")
  }

  @Test("missing folder, empty folder, a single image, a non-.npz file and missing weights are clear errors")
  func errors() throws {
    let f = try fidFixture.get()
    let missing = message { _ = try FIDPipeline.statistics(ofImagesAt: "/nonexistent/fid", inception: f.inception) }
    #expect(missing?.contains("no such folder") == true, "\(missing ?? "no error")")
    let empty = (f.root as NSString).appendingPathComponent("empty")
    try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
    try Data("not an image".utf8).write(to: URL(fileURLWithPath: (empty as NSString).appendingPathComponent("notes.txt")))
    let none = message { _ = try FIDPipeline.statistics(ofImagesAt: empty, inception: f.inception) }
    #expect(none?.contains("contains no .png, .jpg or .jpeg files") == true, "\(none ?? "no error")")
    let one = message { _ = try FIDPipeline.statistics(ofImagesAt: f.folderA, inception: f.inception, limit: 1) }
    #expect(one?.contains("at least 2 images") == true, "\(one ?? "no error")")
    let file = (empty as NSString).appendingPathComponent("notes.txt")
    let notNPZ = message { _ = try FIDPipeline.statistics(ofImagesAt: file, inception: f.inception) }
    #expect(notNPZ?.contains("not an .npz") == true, "\(notNPZ ?? "no error")")
    let weights = message { _ = try FIDPipeline.inception(backend: f.backend, weightsFile: "/nonexistent/inception.safetensors") }
    #expect(
      weights?.contains("pt_inception-2015-12-05-6726825d.pth") == true
        && weights?.contains("Scripts/convert_inception_weights.py") == true,
      "\(weights ?? "no error")")
  }

  @Test("default weights path: KALLIMA_INCEPTION_WEIGHTS, else ~/.cache/kallima")
  func weightsPath() {
    #expect(FIDPipeline.defaultWeightsPath(environment: ["KALLIMA_INCEPTION_WEIGHTS": "/w.safetensors", "HOME": "/h"]) == "/w.safetensors")
    #expect(
      FIDPipeline.defaultWeightsPath(environment: ["HOME": "/h"]) == "/h/.cache/kallima/pt_inception-2015-12-05.safetensors")
  }
}
