import ArgumentParser
import Foundation
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaTrain

/// A generator restored from a checkpoint, ready to sample (eval-mode batch norm): the EMA
/// of G's weights when the run kept one (`generator_ema.*`), else G's own.
struct CheckpointGenerator {
  let checkpoint: Checkpoint
  let backend: Backend
  let network: any Layer
  let latentShape: Shape
  let store: ParameterStore
  /// The sizes (nz, channels, image side) the networks were made from.
  var config: DCGANConfig { checkpoint.config }

  init(path: String, device: String?) throws {
    checkpoint = try Checkpoint.read(path)
    backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device))
    let architecture = try Architecture.named(checkpoint.recipe.arch)
    network = try architecture.generator(checkpoint.config)
    latentShape = architecture.latentShape(checkpoint.config)
    store = ParameterStore(backend: backend, seed: 0)
  }

  /// Which weights sampling uses: "generator_ema" when the checkpoint has them.
  var weights: String {
    checkpoint.tensors.contains { $0.name.hasPrefix("generator_ema.") } ? "generator_ema" : "generator"
  }

  /// A sampler for `count` images with the checkpoint's generator weights.
  func sampler(count: Int, path: String) throws -> Sampler {
    let sampler = try Sampler(backend: backend, network: network, latentShape: latentShape, generator: store, count: count)
    try checkpoint.restore(store, network: weights, path: path)
    return sampler
  }

  func writeGrid(_ images: [Float], count: Int, columns: Int, to out: String) throws {
    let c = config
    let grid = try ImageGrid.png(images: images, count: count, channels: c.channels, size: c.imageSize, columns: columns)
    try ImageIO.writePNG(grid, to: out)
  }
}

/// `kallima sample`: a grid of images from a checkpoint's generator.
struct Sample: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Write a grid of generated images from a checkpoint.")
  @Option(help: "Checkpoint (.safetensors) written by kallima train.") var checkpoint: String
  @Option(help: "Number of images.") var n = 64
  @Option(help: "Seed of the latent vectors.") var seed: UInt64 = 0
  @Option(help: "Output PNG.") var out = "grid.png"
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE.") var device: String?

  func validate() throws { guard n >= 1 else { throw ValidationError("--n must be at least 1") } }

  func run() throws {
    let g = try CheckpointGenerator(path: checkpoint, device: device)
    let sampler = try g.sampler(count: n, path: checkpoint)
    let images = try sampler.images(z: Sampler.latents(count: n, nz: g.latentShape.count, seed: seed))
    try g.writeGrid(images, count: n, columns: Int(Double(n).squareRoot().rounded(.up)), to: out)
    print(out)
  }
}

/// `kallima interpolate`: rows of images morphing from one latent vector to another.
struct Interpolate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Interpolate in latent space between two seeds (lerp or slerp), one strip per row.")
  @Option(help: "Checkpoint (.safetensors) written by kallima train.") var checkpoint: String
  @Option(help: "Seed of the first latent vector (row r uses FROM + r).") var from: UInt64 = 0
  @Option(help: "Seed of the last latent vector (row r uses TO + r).") var to: UInt64 = 1
  @Option(help: "Images per row, ends included.") var steps = 10
  @Option(help: "Rows.") var rows = 1
  @Option(help: "lerp (straight line) or slerp (great circle; White 2016).") var mode = "slerp"
  @Option(help: "Output PNG.") var out = "strip.png"
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE.") var device: String?

  func validate() throws {
    guard steps >= 2 else { throw ValidationError("--steps must be at least 2") }
    guard rows >= 1 else { throw ValidationError("--rows must be at least 1") }
    guard mode == "lerp" || mode == "slerp" else { throw ValidationError("--mode is lerp or slerp") }
  }

  func run() throws {
    let g = try CheckpointGenerator(path: checkpoint, device: device)
    let nz = g.latentShape.count
    var z: [Float] = []
    for r in 0..<rows {
      let a = Sampler.latents(count: 1, nz: nz, seed: from &+ UInt64(r))
      let b = Sampler.latents(count: 1, nz: nz, seed: to &+ UInt64(r))
      for k in 0..<steps {
        let t = Float(k) / Float(steps - 1)
        z += mode == "lerp" ? LatentPath.lerp(a, b, t) : LatentPath.slerp(a, b, t)
      }
    }
    let sampler = try g.sampler(count: rows * steps, path: checkpoint)
    try g.writeGrid(try sampler.images(z: z), count: rows * steps, columns: steps, to: out)
    print(out)
  }
}
