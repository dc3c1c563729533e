import ArgumentParser
import Foundation
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGAN
import KallimaTrain

/// `kallima nearest`: each sample beside its nearest training images (mirrors included).
struct Nearest: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Memorisation check: samples beside their nearest training images, with the distance distribution.",
    discussion: """
      Distances are root-mean-square pixel differences (pixels in [-1, 1]) against every \
      training image and its mirror image. Each grid row is a sample followed by its nearest \
      neighbours (mirrored ones shown mirrored). For scale, the same distance is printed \
      between training images and their nearest other training image: samples much closer \
      to the training set than that are copies.
      """)
  @Option(help: "Checkpoint (.safetensors) written by kallima train.") var checkpoint: String
  @Option(help: "Training data (default: the data the checkpoint was trained on).") var data: String?
  @Option(help: "Samples.") var n = 16
  @Option(help: "Neighbours per sample.") var k = 3
  @Option(help: "Seed of the latent vectors.") var seed: UInt64 = 0
  @Option(help: "Use at most this many training images.") var limit: Int?
  @Option(help: "Output PNG.") var out = "nearest.png"
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE.") var device: String?

  func validate() throws {
    guard n >= 1, k >= 1 else { throw ValidationError("--n and --k must be at least 1") }
  }

  func run() throws {
    let g = try CheckpointGenerator(path: checkpoint, device: device)
    let config = g.config
    guard let path = data ?? g.trainingData else { throw ValidationError("give --data: this checkpoint does not record its data") }
    let dataset = try ImageDataset.load(path: path, size: config.imageSize, channels: config.channels, limit: limit)
    let image = config.channels * config.imageSize * config.imageSize
    let pixels = dataset.pixels
    let training = try g.backend.makeTensor(
      [dataset.count, config.channels, config.imageSize, config.imageSize], values: pixels)
    let samples = try g.sampler(count: n, path: checkpoint).images(z: Sampler.latents(count: n, nz: g.latentShape.count, seed: seed))
    let matches = try Memorisation.nearest(
      samples: samples, count: n, training: training, width: config.imageSize, k: k, on: g.backend)

    // Reference: training images against the rest of the training set.
    let probes = min(n, dataset.count - 1)
    var reference: [Float] = []
    if probes >= 1 {
      let stride = max(dataset.count / probes, 1)
      let picks = (0..<probes).map { $0 * stride }
      let queries = picks.flatMap { Array(pixels[($0 * image)..<(($0 + 1) * image)]) }
      let self_ = try Memorisation.nearest(
        samples: queries, count: probes, training: training, width: config.imageSize, k: 2, on: g.backend)
      for (pick, row) in zip(picks, self_) {
        if let other = row.first(where: { !($0.index == pick && !$0.mirrored) }) { reference.append(other.distance) }
      }
    }

    // Grid: sample, then its neighbours.
    var cells: [Float] = []
    for (i, row) in matches.enumerated() {
      cells += samples[(i * image)..<((i + 1) * image)]
      for match in row {
        let picture = Array(pixels[(match.index * image)..<((match.index + 1) * image)])
        cells += match.mirrored ? Memorisation.mirror(picture, width: config.imageSize) : picture
      }
    }
    try g.writeGrid(cells, count: n * (k + 1), columns: k + 1, to: out)

    let nearest = matches.map { $0[0].distance }
    let s = Memorisation.summary(nearest)
    print(String(format: "nearest training image, RMS pixel distance over %d samples: min %.4f  q1 %.4f  median %.4f  q3 %.4f  max %.4f", n, s.min, s.q1, s.median, s.q3, s.max))
    if !reference.isEmpty {
      let r = Memorisation.summary(reference)
      print(String(format: "between distinct training images (%d probes):              min %.4f  q1 %.4f  median %.4f  q3 %.4f  max %.4f", reference.count, r.min, r.q1, r.median, r.q3, r.max))
    }
    let mirroredCount = matches.filter { $0[0].mirrored }.count
    print("\(mirroredCount) of \(n) nearest matches are mirrored training images; grid: \(out)")
  }
}
