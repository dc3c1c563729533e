import ArgumentParser
import Foundation
import KallimaCore
import KallimaTrain

/// `kallima train progan` (also `kallima train --arch progan`): Progressive GAN, growing
/// from 4x4 to --size.
struct TrainProGAN: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "progan",
    abstract: "Train a Progressive GAN (Karras et al. 2018): from 4x4 to --size, a fade-in and a stable phase per side.",
    discussion: """
      The paper's recipe: WGAN-GP (λ 10) with the drift term 0.001·D(x)², Adam lr 1e-3, β (0, 0.99), \
      equalised learning rate, pixel norm, minibatch stddev, EMA of G (0.999), batch 16 (14, 6, 3 at \
      256, 512, 1024). Each phase shows D --phase-images real images (the paper: 600000). Samples: \
      samples/step_*.png every --sample-every steps and phase_*.png at the end of every phase. \
      Ctrl-C writes a checkpoint; --resume continues exactly, mid-phase included.
      """)

  @Option(help: "Image folder (PNG/JPEG) or idx file; default: Fashion-MNIST.") var data: String?
  @Option(help: "Final image side, a power of two from 8 (default 32).") var size = 32
  @Option(help: "Images per phase (fade-in or stable) D sees (default 600000, the paper's).") var phaseImages = 600_000
  @Option(help: "Batch (default 16; below 256x256).") var batch = 16
  @Option(help: "Total steps; default: every growth phase and one phase at the final size.") var steps: Int?
  @Option(help: "Latent size (default 512).") var nz = 512
  @Option(help: "Most feature maps of a block (the paper's 512; smaller trains faster).") var width = 512
  @Option(help: "Learning rate of both networks (default 1e-3).") var lr = 1e-3
  @Option(help: "β of G's EMA, which samples and checkpoints use (the paper's 0.999; phases shorter than ~1/(1 − β) steps want less).")
  var ema = 0.999
  @Option(help: "Random seed (weights, noise, data order).") var seed: UInt64 = 0
  @Flag(help: "Mirror training images left-right at random.") var flip = false
  @Option(help: "Use at most this many training images.") var limit: Int?
  @Option(name: .customLong("data-memory"), help: "Device memory the dataset may take, in MB.") var dataMemory: Int?
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).") var device: String?
  @Option(help: "Run folder (default runs/progan).") var out = "runs/progan"
  @Option(help: "Continue the run in this folder from its latest checkpoint.") var resume: String?
  @Option(help: "Steps between log lines.") var logEvery = 50
  @Option(help: "Steps between sample grids.") var sampleEvery = 500
  @Option(help: "Steps between checkpoints.") var checkpointEvery = 1000
  @Flag(help: "Events as JSON lines on standard output.") var json = false

  func validate() throws {
    guard batch >= 2, phaseImages >= 1, logEvery >= 1, sampleEvery >= 1, checkpointEvery >= 1 else {
      throw ValidationError("--batch must be at least 2; --phase-images and the intervals at least 1")
    }
    guard size >= 8, size & (size - 1) == 0 else { throw ValidationError("--size must be a power of two from 8, got \(size)") }
  }

  func run() throws {
    var options = ProgressiveOptions()
    (options.data, options.size, options.phaseImages, options.batch, options.steps) = (data, size, phaseImages, batch, steps)
    (options.latent, options.width, options.learningRate, options.seed, options.flip) = (nz, width, lr, seed, flip)
    options.ema = ema
    (options.limit, options.dataMemory, options.out) = (limit, dataMemory.map { $0 << 20 }, out)
    (options.logEvery, options.sampleEvery, options.checkpointEvery) = (logEvery, sampleEvery, checkpointEvery)
    let job = try Kallima.startJob()
    guard job.size == 1 else {
      throw KallimaError.invalidArgument(op: "train progan", message: "Progressive GAN runs in one process for now; run it without mpirun")
    }
    let events = JSONEvents(enabled: json)
    var started: ProgressiveRun?
    try events.reportingEnd("step", at: { started?.step }) {
      let backend = try DeviceSelection.makeBackend(try DeviceSelection.selector(device, localRank: 0, localSize: 1), suggestTuning: true)
      printError("kallima train progan on \(backend.name)")
      let stopper = StopSignal()
      let progress = Progress(total: options.totalSteps)
      let show = { (event: TrainingRun.Event) in
        progress.show(event)
        events.training(event)
      }
      let run = try ProgressiveRun(options: options, backend: backend, resume: resume, events: show)
      started = run
      progress.total = run.options.totalSteps
      try run.run(shouldStop: stopper.isSet, events: show)
      progress.finish()
      if run.step < run.options.totalSteps { try stopper.exit(at: "step \(run.step)", folder: run.options.out, speaks: true) }
    }
  }
}
