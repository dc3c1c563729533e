import ArgumentParser
import Foundation
import KallimaCore
import KallimaData
import KallimaMPI
import KallimaTrain

/// `kallima train`: a GAN (the default subcommand, `gan`), or an image-to-image method.
struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a GAN (the default: kallima train [gan] …) or an image-to-image translator (pix2pix, cyclegan, stargan).",
    subcommands: [TrainGAN.self, TrainProGAN.self, TrainPix2Pix.self, TrainCycleGAN.self, TrainStarGAN.self],
    defaultSubcommand: TrainGAN.self)
}

/// `kallima train [gan]`: DCGAN on an image folder, an idx file, or (by default) Debian's
/// Fashion-MNIST at 32x32.
struct TrainGAN: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gan",
    abstract: "Train a GAN (conditional with --condition); with no --data, on Fashion-MNIST (32x32, installed by Scripts/setup.sh).",
    discussion: """
      Images are decoded once, resized so the shorter side is --size (box filter when \
      shrinking, bilinear when enlarging), centre-cropped and kept on the device as 8-bit \
      images (streamed from the host when larger than --data-memory), scaled to [-1, 1] as \
      batches are gathered. Ctrl-C (or SIGTERM) writes a checkpoint and stops; --resume continues exactly.       Image-to-image translation: kallima train pix2pix | cyclegan | stargan.
      """,
    subcommands: [TrainProGAN.self, TrainPix2Pix.self, TrainCycleGAN.self, TrainStarGAN.self])

  @Option(
    help: "Image folder (PNG/JPEG, searched recursively) or idx file; default: Fashion-MNIST (with --resume: the run's, or where it moved).")
  var data: String?
  @Option(
    help: """
      Architecture: dcgan, resnet (SNGAN's ResNet G and D, 32x32 or 64x64), stackgan (StackGAN's stage I or, with --stage 2 \
      --stage1 RUN, stage II; needs --condition), or progan (kallima train progan, whose options it takes).
      """)
  var arch = "dcgan"
  @Option(help: "StackGAN: 1 (condition -> image, the default) or 2 (stage I's image and the condition -> an image 4x its side).")
  var stage: Int?
  @Option(help: "StackGAN stage II: the stage-I run folder or checkpoint whose generator stage II refines (frozen).")
  var stage1: String?
  @Option(name: .customLong("residual-blocks"), help: "StackGAN stage II: residual blocks in G (default 4, the reference's R_NUM).")
  var residualBlocks: Int?
  @Option(name: .customLong("kl-weight"), help: "StackGAN: the weight of the conditioning augmentation's KL term in G's loss (default 2).")
  var klWeight: Float?
  @Flag(
    name: .customLong("paper-ca"),
    help: "StackGAN: the paper's conditioning augmentation (μ, log σ² linear) instead of the reference code's ReLU before the split.")
  var paperCA = false
  @Option(
    name: .customLong("ca-init"),
    help: "StackGAN: the std of the conditioning augmentation's initial weights (default 0.02, the reference's, made for dense embeddings; ~1 for --condition text).")
  var caInit: Float?
  @Option(help: "Image side (4·2^k; default 64, or 32 for the embedded Fashion-MNIST).") var size: Int?
  @Option(help: "Batch size (default 64; 16 for progan).") var batch: Int?
  @Option(help: "Total steps (one D and one G update each).") var steps: Int?
  @Option(help: "Epochs over the data (instead of --steps).") var epochs: Int?
  @Option(help: "Loss: ns, mm, wgan, wgan-gp, lsgan, hinge, dragan, began (default ns).") var loss = "ns"
  @Option(help: "Learning rate of both networks (default: the loss's reference value, 2e-4 for most).") var lr: Double?
  @Option(name: .customLong("lr-g"), help: "G's learning rate (overrides --lr; TTUR).") var lrG: Double?
  @Option(name: .customLong("lr-d"), help: "D's learning rate (overrides --lr; TTUR).") var lrD: Double?
  @Option(help: "Optimiser of both networks: adam, rmsprop, sgd (default: rmsprop for wgan, else adam).") var optimizer: String?
  @Option(help: "Adam beta1 (default 0.5).") var beta1: Double?
  @Option(help: "Adam beta2 (default 0.999; 0.9 for wgan-gp).") var beta2: Double?
  @Option(help: "Momentum of SGD or RMSprop.") var momentum = 0.0
  @Option(name: .customLong("n-critic"), help: "D updates per G update (default 5 for wgan and wgan-gp, else 1).") var nCritic: Int?
  @Option(name: .customLong("gp-weight"), help: "λ of the WGAN-GP / DRAGAN gradient penalty (default 10).") var gpWeight: Float?
  @Option(help: "R1 penalty γ on real data (off by default; 10 in Mescheder et al.).") var r1: Float?
  @Option(name: .customLong("r1-every"), help: "Lazy R1: the penalty on every N-th D update, weighted by N (StyleGAN2: 16).") var r1Every = 1
  @Flag(name: .customLong("spectral-norm"), help: "Spectral normalisation of every D weight.") var spectralNorm = false
  @Flag(
    name: .customLong("sync-bn"),
    help: "Under mpirun: batch-norm statistics over the job's whole batch (SyncBatchNorm), not each rank's part.")
  var syncBN = false
  @Option(help: "EMA of G's weights with this β (e.g. 0.999); samples and checkpoints' generator_ema use it.") var ema: Double?
  @Option(name: .customLong("ema-start"), help: "Iterations before the EMA starts averaging (it copies G until then).") var emaStart = 0
  @Option(name: .customLong("lr-decay-start"), help: "Iterations at full learning rate, then linear decay to the end (pix2pix).") var lrDecayStart: Int?
  @Option(name: .customLong("d-norm"), help: "D's normalisation: batch or none (default: none for wgan-gp, dragan and --spectral-norm).") var dNorm: String?
  @Option(
    help: """
      Train a conditional GAN on: class (subfolders, metadata.jsonl 'label', or idx labels), tags       (metadata.jsonl 'tags'), text (metadata.jsonl 'text', bag of words) or embedding (--embeddings).
      """) var condition: String?
  @Option(
    name: .customLong("d-head"),
    help: "Conditional D: matching (GAN-CLS, the default), two-head, projection, acgan, stackgan, concat, or none (D sees x alone).")
  var dHead: String?
  @Option(name: .customLong("condition-dim"), help: "Features of the condition's learned embedding (default 128).") var conditionDim: Int?
  @Option(name: .customLong("gan-int"), help: "GAN-INT: also train G on interpolated conditions with this weight (Reed et al.: 1).") var ganInt: Float?
  @Option(name: .customLong("class-weight"), help: "AC-GAN's classification-loss weight λ (default 1).") var classWeight: Float?
  @Option(help: "With --condition embedding: a .npy [images, E] of one row per image, in the data's image order.") var embeddings: String?
  @Option(help: "Latent size (default 100; 512 for progan).") var nz: Int?
  @Option(help: "Generator and discriminator width (ngf = ndf; default 64, or 32 for Fashion-MNIST).") var width: Int?
  @Option(help: "Random seed (weights, noise, data order).") var seed: UInt64 = 0
  @Flag(help: "Mirror training images left-right at random.") var flip = false
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).") var device: String?
  @Option(help: "Run folder.") var out: String?
  @Option(
    help: """
      Continue the run in this folder from its latest checkpoint, on the same data (checked: --limit, image \
      count, fingerprint of the files) up to the same --steps unless given.
      """) var resume: String?
  @Flag(
    name: .customLong("allow-data-change"),
    help: "With --resume: continue even if the data differs from the checkpoint's (recorded in the checkpoints).")
  var allowDataChange = false
  @Option(help: "Steps between log lines.") var logEvery = 50
  @Option(help: "Steps between sample grids.") var sampleEvery = 200
  @Option(help: "Steps between checkpoints.") var checkpointEvery = 500
  @Option(help: "Use at most this many training images.") var limit: Int?
  @Option(
    help: """
      Steps between evaluations: mode coverage by a classifier trained on the labelled data \
      (Fashion-MNIST), logged to metrics.jsonl; the best keeps checkpoints/best.safetensors.
      """) var evalEvery: Int?
  @Option(help: "Generated images per evaluation.") var evalSamples = 2000
  @Option(
    name: .customLong("data-memory"),
    help: """
      Device memory the dataset may take, in MB (default: half the device's memory, at most its \
      largest allocation); a larger set is streamed from the host batch by batch.
      """) var dataMemory: Int?
  @Option(
    help: """
      A JSON file of options: keys are the long options without dashes, plus "method" (e.g. {"method": "gan", \
      "loss": "hinge", "steps": 5000, "flip": true}); the command line overrides it; copied into the run folder.
      """) var config: String?
  @Flag(help: "Events as JSON lines on standard output (log, sample, checkpoint, evaluation, finished/stopped/error).")
  var json = false

  func validate() throws {
    guard (batch ?? 64) >= 2 else { throw ValidationError("--batch must be at least 2 (batch norm needs it)") }
    guard logEvery >= 1, sampleEvery >= 1, checkpointEvery >= 1, (evalEvery ?? 1) >= 1, evalSamples >= 1 else {
      throw ValidationError("--log-every, --sample-every, --checkpoint-every, --eval-every and --eval-samples must be at least 1")
    }
    if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
    if allowDataChange && resume == nil { throw ValidationError("--allow-data-change goes with --resume") }
    if let dataMemory, dataMemory < 0 { throw ValidationError("--data-memory is in MB and must be 0 or more") }
  }

  func run() throws {
    if arch == "progan" { return try progressive().run() }
    let embedded = data == nil && resume == nil
    var options = TrainingOptions()
    options.data = data
    options.size = size ?? (embedded ? 32 : 64)
    options.batch = batch ?? 64
    options.nz = nz ?? 100
    var recipe = RecipeOptions()
    recipe.arch = arch
    recipe.loss = loss
    (recipe.lrG, recipe.lrD) = (lrG ?? lr, lrD ?? lr)
    (recipe.optimizer, recipe.beta1, recipe.beta2, recipe.momentum) = (optimizer, beta1, beta2, momentum)
    (recipe.nCritic, recipe.penaltyWeight, recipe.r1, recipe.spectralNorm) = (nCritic, gpWeight, r1, spectralNorm)
    recipe.r1Every = r1Every
    recipe.synchronizedBatchNorm = syncBN
    (recipe.ema, recipe.emaStart, recipe.lrDecayStart, recipe.dNorm) = (ema, emaStart, lrDecayStart, dNorm)
    (recipe.condition, recipe.dHead, recipe.conditionDim) = (condition, dHead, conditionDim)
    (recipe.ganInt, recipe.classWeight) = (ganInt, classWeight)
    (recipe.stage, recipe.residualBlocks, recipe.klWeight) = (stage, residualBlocks, klWeight)
    recipe.paperCA = paperCA ? true : nil
    recipe.caInit = caInit
    options.recipe = recipe
    options.embeddings = embeddings
    options.ngf = width ?? (embedded ? 32 : 64)
    options.ndf = options.ngf
    options.seed = seed
    options.flip = flip
    options.evalEvery = evalEvery
    options.evalSamples = evalSamples
    options.out = out ?? (embedded ? "runs/fashion-mnist" : "runs/dcgan")
    (options.logEvery, options.sampleEvery, options.checkpointEvery) = (logEvery, sampleEvery, checkpointEvery)
    options.limit = limit
    options.steps = steps ?? 1000
    options.epochs = epochs
    options.keepCheckpointTarget = resume != nil && steps == nil && epochs == nil
    options.allowDataChange = allowDataChange
    options.dataMemory = dataMemory.map { $0 << 20 }
    let stageOne = try stackGAN(&options)

    let job = try Kallima.startJob()
    // Rank 0 speaks for the job; the other ranks print only their errors.
    let events = JSONEvents(enabled: json && job.rank == 0)
    var started: TrainingRun?
    try events.reportingEnd("step", at: { started?.step }) {
      let backend = try DeviceSelection.makeBackend(
        try DeviceSelection.selector(device, localRank: job.localRank, localSize: job.localSize), suggestTuning: job.rank == 0)
      printError("kallima train\(Kallima.rankClause(job)) on \(backend.name)")
      let stopper = StopSignal()
      let progress = Progress(total: options.steps)
      let show = { (event: TrainingRun.Event) in
        guard job.rank == 0 else { return }
        progress.show(event)
        events.training(event)
      }
      let run = try TrainingRun(
        options: options, backend: backend, resume: resume, collective: job, stageOne: stageOne, events: show)
      started = run
      if let config, job.rank == 0 { try RunConfig.record(config, in: URL(fileURLWithPath: run.options.out), step: run.step) }
      progress.total = run.options.steps
      try run.run(shouldStop: stopper.isSet, events: show)
      progress.finish()
      if run.step < run.options.steps {
        try stopper.exit(at: "step \(run.step)", folder: run.options.out, speaks: job.rank == 0)
      }
    }
  }
}

extension TrainGAN {
  /// `--arch stackgan`: a stage-II run takes z's size, the condition, its features and
  /// stage I's width from the stage-I checkpoint, and draws 4x its side. Returns the stage-I
  /// checkpoint it read, for the run to load (so it is read once).
  func stackGAN(_ options: inout TrainingOptions) throws -> (checkpoint: Checkpoint, path: String)? {
    let stackOnly: [(String, Bool)] = [
      ("--stage", stage != nil), ("--stage1", stage1 != nil), ("--residual-blocks", residualBlocks != nil), ("--kl-weight", klWeight != nil),
      ("--paper-ca", paperCA), ("--ca-init", caInit != nil),
    ]
    if arch != "stackgan", let option = stackOnly.first(where: \.1)?.0 {
      throw ValidationError("\(option) belongs to --arch stackgan")
    }
    guard arch == "stackgan", resume == nil else { return nil }
    guard let stage1 else {
      if stage == 2 { throw ValidationError("StackGAN stage II refines a trained stage I: give --stage1 RUN_FOLDER (or its checkpoint)") }
      return nil
    }
    guard stage == 2 else { throw ValidationError("--stage1 goes with --stage 2") }
    if nz != nil { throw ValidationError("stage II's z feeds stage I: its size is stage I's; drop --nz") }
    if paperCA || caInit != nil {
      throw ValidationError("stage II builds its conditioning augmentation as stage I's: drop \(paperCA ? "--paper-ca" : "--ca-init")")
    }
    let stageOne = try TrainingRun.stageOneCheckpoint(stage1)
    try TrainingRun.stageTwoOptions(&options, from: stageOne.checkpoint, path: stageOne.path, size: size)
    return stageOne
  }

  /// `--arch progan`: the options both commands share, handed to `kallima train progan` as
  /// its arguments (the rest take Progressive GAN's defaults; a GAN-only option is refused,
  /// not ignored).
  func progressive() throws -> TrainProGAN {
    let refused: [(String, Bool)] = [
      ("--loss", loss != "ns"), ("--lr-g/--lr-d", lrG != nil || lrD != nil), ("--optimizer", optimizer != nil),
      ("--n-critic", nCritic != nil), ("--r1", r1 != nil), ("--spectral-norm", spectralNorm),
      ("--condition", condition != nil), ("--epochs", epochs != nil), ("--eval-every", evalEvery != nil), ("--config", config != nil),
    ]
    if let option = refused.first(where: \.1)?.0 {
      throw ValidationError("\(option) does not apply to --arch progan (the paper's recipe); see kallima train progan --help")
    }
    var arguments = ["--log-every", "\(logEvery)", "--sample-every", "\(sampleEvery)", "--checkpoint-every", "\(checkpointEvery)"]
    let given: [(String, String?)] = [
      ("--data", data), ("--size", size.map(String.init)), ("--batch", batch.map(String.init)), ("--steps", steps.map(String.init)),
      ("--nz", nz.map(String.init)), ("--width", width.map(String.init)), ("--lr", lr.map { "\($0)" }), ("--seed", "\(seed)"),
      ("--ema", ema.map { "\($0)" }),
      ("--limit", limit.map(String.init)), ("--data-memory", dataMemory.map(String.init)), ("--device", device),
      ("--out", out), ("--resume", resume),
    ]
    for (option, value) in given { if let value { arguments += [option, value] } }
    if flip { arguments.append("--flip") }
    if json { arguments.append("--json") }
    return try TrainProGAN.parse(arguments)
  }
}

/// SIGINT/SIGTERM set a flag the training loop checks every step.
final class StopSignal {
  private let lock = NSLock()
  private var signal: Int32?
  private var sources: [DispatchSourceSignal] = []

  init() {
    for s in [SIGINT, SIGTERM] {
      Foundation.signal(s, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
      source.setEventHandler { [weak self] in
        guard let self else { return }
        self.lock.lock()
        if self.signal == nil { self.signal = s }
        self.lock.unlock()
        printError("\nkallima: stopping after this step (writing a checkpoint)...")
      }
      source.resume()
      sources.append(source)
    }
  }

  var received: Int32? {
    lock.lock()
    defer { lock.unlock() }
    return signal
  }

  func isSet() -> Bool { received != nil }

  /// Ends a run that stopped short of its target: by this process's signal, or another
  /// rank's (the ranks stop together), with exit status 128 + the signal. `speaks`: rank 0
  /// says where it stopped and how to continue.
  func exit(at position: String, folder: String, speaks: Bool) throws -> Never {
    let signal = received ?? SIGTERM
    if speaks {
      printError("stopped by \(signal == SIGINT ? "SIGINT" : "SIGTERM") at \(position); checkpoint written; continue with --resume \(folder)")
    }
    throw ExitCode(128 + signal)
  }
}

/// A progress bar on a terminal, one plain line per log interval otherwise.
final class Progress {
  var total: Int
  let terminal = isatty(STDERR_FILENO) == 1
  /// When and at which step the training loop started (0, or the resumed step).
  var start = Date()
  var startStep = 0

  init(total: Int) { self.total = total }

  func show(_ event: TrainingRun.Event) {
    switch event {
    case .loaded(let report, let count, let seconds):
      printError(String(format: "data: %d images (%@) in %.1f s", count, "\(report)", seconds))
    case .resumed(let step, let path):
      printError("resumed at step \(step) from \(path)")
    case .recipe(let text):
      printError("recipe: \(text)")
    case .started(let step):
      (start, startStep) = (Date(), step)
    case .log(let m):
      let done = Double(m.step) / Double(max(total, 1))
      let elapsed = Date().timeIntervalSince(start)
      let per = elapsed / Double(max(m.step - startStep, 1))
      let eta = per * Double(max(total - m.step, 0))
      let text = String(
        format: "step %d/%d  %.1f img/s  loss_D %.4f  loss_G %.4f  D(x) %.3f  D(G(z)) %.3f  ETA %@", m.step, total,
        m.images_per_s, m.loss_d, m.loss_g, m.d_x, m.d_g_z, Progress.duration(eta))
        + [("‖∇D‖", m.grad_norm), ("R1 ‖∇D‖", m.r1_grad_norm), ("k", m.k), ("M", m.M), ("D(x,c̃)", m.d_x_wrong),
          ("loss_cls", m.loss_cls), ("KL(ĉ)", m.ca_kl)].compactMap { name, v in
          v.map { String(format: "  %@ %.3f", name, $0) }
        }.joined()
      if terminal {
        let width = 24
        let filled = Int(done * Double(width))
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(text)\u{1B}[K".utf8))
      } else {
        printError(text)
      }
    case .sample(let path):
      if !terminal { printError("samples: \(path)") }
    case .checkpoint(let path):
      if !terminal { printError("checkpoint: \(path)") }
    case .note(let text):
      printLine(text)
    case .warning(let text):
      printLine("warning: " + text)
    case .evaluation(let e):
      let obedience = (e.conditional_accuracy.map { String(format: "conditional accuracy %.3f, ", $0) } ?? "")
        + (e.intra_fid.map { String(format: "intra-class Fréchet %.2f, ", $0) } ?? "")
      printLine(
        String(
          format: "eval step %d: %@modes %d/%d, KL %.4f nats, confidence %.3f (%d samples)%@", e.step, obedience, e.modes,
          e.classes, e.kl, e.confidence, e.samples, e.best ? ", best so far" : ""))
    }
  }

  /// A line of its own, also when a progress bar occupies the terminal's last line.
  func printLine(_ text: String) {
    printError(terminal ? "\r\u{1B}[K" + text : text)
  }

  func finish() { if terminal { printError("") } }

  static func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
  }
}
