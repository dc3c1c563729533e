import Foundation
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGAN
import KallimaOpenCL
import Testing

/// The embedded dataset's metrics (issue 5, item 5b) on real Fashion-MNIST, which
/// Scripts/setup.sh installs (dataset-fashion-mnist); without it these tests fail, naming it.
@Suite("Mode coverage on Fashion-MNIST")
struct ModeCoverageTests {
  static let folder = "/usr/share/datasets/fashion-mnist"

  static func load(_ file: String, limit: Int) throws -> ImageDataset {
    let path = "\(folder)/\(file)"
    guard FileManager.default.fileExists(atPath: path) else {
      throw KallimaError.io(path: path, message: "missing; run Scripts/setup.sh (it installs dataset-fashion-mnist)")
    }
    return try ImageDataset.load(path: path, size: 32, channels: 1, limit: limit)
  }

  @Test("mode coverage, KL and confidence: exact values on a hand-made histogram")
  func coverageArithmetic() throws {
    // 4 classes, real balance 1:1:1:1; 10 samples: 6 of class 0, 4 of class 2.
    var p = [Float]()
    for k in [0, 0, 0, 0, 0, 0, 2, 2, 2, 2] {
      var row = [Float](repeating: 0.1, count: 4)
      row[k] = 0.7
      p += row
    }
    let c = try ModeCoverage(probabilities: p, classes: 4, realCounts: [5, 5, 5, 5])
    #expect(c.histogram == [6, 0, 4, 0])
    #expect(c.modesHit == 2)
    #expect(abs(c.kl - (0.6 * log(0.6 / 0.25) + 0.4 * log(0.4 / 0.25))) < 1e-12)
    #expect(abs(c.confidence - 0.7) < 1e-6)
    #expect(throws: KallimaError.self) { try ModeCoverage(probabilities: p, classes: 3, realCounts: [1, 1, 1]) }
  }

  @Test("a classifier trained by Kallima separates a trained generator from an untrained one")
  func separatesTrainedFromUntrained() throws {
    let cl = try OpenCLBackend()
    let train = try Self.load("train-images-idx3-ubyte.gz", limit: 6000)
    let test = try Self.load("t10k-images-idx3-ubyte.gz", limit: 1000)
    let labels = try #require(train.labels)
    let images = try cl.makeTensor([train.count, 1, 32, 32], values: train.pixels)
    let start = Date()
    let classifier = try ModeClassifier.train(backend: cl, images: images, labels: labels, classes: 10, steps: 300, batch: 64)
    let accuracy = try classifier.accuracy(images: test.pixels, labels: try #require(test.labels))
    print("classifier: 300 steps in \(Date().timeIntervalSince(start)) s, held-out accuracy \(accuracy)")
    #expect(accuracy > 0.75, "held-out accuracy \(accuracy)")
    let realCounts = (0..<10).map { k in labels.filter { $0 == k }.count }
    let real = try ModeCoverage(
      probabilities: try classifier.probabilities(images: test.pixels, count: test.count), classes: 10, realCounts: realCounts)
    #expect(real.modesHit == 10 && real.kl < 0.05, "real test images: \(real)")

    let config = DCGANConfig(nz: 32, ngf: 16, ndf: 16, channels: 1, imageSize: 32)
    let trainer = try GANTrainer(backend: cl, config: config, batch: 64, seed: 5, data: .dataset(images, seed: 5, flip: true))
    let sampler = try Sampler(backend: cl, model: DCGAN(config), generator: trainer.generatorParameters, count: 500)
    let z = Sampler.latents(count: 500, nz: config.nz, seed: 77)
    func coverage() throws -> ModeCoverage {
      let p = try classifier.probabilities(images: try sampler.images(z: z), count: 500)
      return try ModeCoverage(probabilities: p, classes: 10, realCounts: realCounts)
    }
    let untrained = try coverage()
    let ganStart = Date()
    for _ in 0..<400 { try trainer.step() }
    let trained = try coverage()
    print("GAN: 400 steps in \(Date().timeIntervalSince(ganStart)) s\nuntrained: \(untrained)\ntrained: \(trained)")
    #expect(trained.modesHit > untrained.modesHit, "trained \(trained) vs untrained \(untrained)")
    #expect(trained.kl < untrained.kl - 0.3, "trained \(trained) vs untrained \(untrained)")
  }
}
