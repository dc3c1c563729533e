import ArgumentParser
import Foundation
import KallimaCore
import KallimaEval
import KallimaTrain

/// `kallima sweep`: recipes × seeds on one data set, evaluated alike, as a table of
/// mean ± std (results.json and table.md in the output folder).
struct SweepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract: "Train a grid of recipes × seeds and tabulate mode coverage and the Fréchet SqueezeNet distance.",
    discussion: """
      Each recipe is a loss (ns, mm, wgan, wgan-gp, lsgan, hinge, dragan, began) with optional \
      modifiers: +sn (spectral norm), +ema (EMA 0.999), +r1 (R1 γ 10). With no --data, Fashion-MNIST \
      at 32x32, width 32. Mode coverage needs labelled data (idx); --real DIR adds the Fréchet \
      SqueezeNet distance of 1000 samples (needs Scripts/setup_squeezenet.py's weights).
      """)

  @Option(help: "Comma-separated recipes.") var recipes = "ns,mm,wgan,wgan-gp,lsgan,hinge,dragan,began"
  @Option(help: "Number of seeds (0, 1, …).") var seeds = 2
  @Option(help: "Steps per run.") var steps = 2000
  @Option(help: "Image folder or idx file; default: Fashion-MNIST.") var data: String?
  @Option(help: "Image side.") var size: Int?
  @Option(help: "G and D width.") var width: Int?
  @Option(help: "Batch size.") var batch = 64
  @Option(help: "Use at most this many training images.") var limit: Int?
  @Option(help: "Real images (folder or .npz) for the Fréchet SqueezeNet distance.") var real: String?
  @Option(help: "Generated images per mode-coverage evaluation.") var evalSamples = 2000
  @Option(help: "Generated images for the Fréchet SqueezeNet distance.") var fsdSamples = 1000
  @Option(help: "SqueezeNet weights (Scripts/setup_squeezenet.py).") var squeezenetWeights: String?
  @Option(help: "Output folder.") var out = "runs/sweep"
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE.") var device: String?

  func run() throws {
    let embedded = data == nil
    var base = TrainingOptions()
    base.data = data
    base.size = size ?? (embedded ? 32 : 64)
    (base.ngf, base.ndf) = (width ?? (embedded ? 32 : 64), width ?? (embedded ? 32 : 64))
    base.batch = batch
    base.steps = steps
    base.limit = limit
    base.out = out
    base.evalSamples = evalSamples
    (base.logEvery, base.sampleEvery, base.checkpointEvery) = (max(steps / 10, 1), steps, steps)
    let backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device))
    let sweep = try Sweep(
      recipes: recipes.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) },
      seeds: (0..<UInt64(max(seeds, 1))).map { $0 }, base: base, backend: backend)
    sweep.real = real
    sweep.fsdSamples = fsdSamples
    if let squeezenetWeights { sweep.squeezenetWeights = squeezenetWeights }
    print("kallima sweep on \(backend.name): \(sweep.recipes.count) recipes × \(sweep.seeds.count) seeds, \(steps) steps each")
    let results = try sweep.run { print($0) }
    print(Sweep.table(results), terminator: "")
    print("written: \(out)/table.md, \(out)/results.json")
  }
}
