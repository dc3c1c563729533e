import ArgumentParser
import Foundation
import KallimaCore
import KallimaData
import KallimaMPI
import KallimaTrain

/// The options every image-to-image method shares (`kallima train pix2pix|cyclegan|stargan`);
/// defaults follow the reference implementations where a flag is left out.
struct TranslationFlags: ParsableArguments {
  @Option(help: "Dataset folder (see the method's help for its layout; kallima make-translation-data builds one).")
  var data: String?
  @Option(help: "Network image side, the crop size (default 256).") var size = 256
  @Option(name: .customLong("load-size"), help: "Side images are loaded at before the random crop (default size·286/256; StarGAN: size).")
  var loadSize: Int?
  @Option(help: "1 (gray) or 3 (RGB) channels (default 3).") var channels: Int?
  @Option(name: .customLong("net-g"), help: "unet_256, unet_128, unet_64, unet_32, resnet_9blocks, resnet_6blocks (default: the method's).")
  var netG: String?
  @Option(name: .customLong("net-d"), help: "basic (70x70 PatchGAN), n_layers, pixel.") var netD = "basic"
  @Option(name: .customLong("n-layers-d"), help: "PatchGAN layers with --net-d n_layers.") var nLayersD = 3
  @Option(help: "G's width (ngf; StarGAN's conv_dim).") var ngf = 64
  @Option(help: "D's width (ndf).") var ndf = 64
  @Option(help: "batch or instance (default: pix2pix batch, others instance).") var norm: String?
  @Option(name: .customLong("gan-mode"), help: "ns (vanilla), lsgan or wgan-gp (default: pix2pix ns, CycleGAN lsgan).") var ganMode: String?
  @Option(help: "Batch size (default 1; StarGAN 16).") var batch: Int?
  @Option(help: "Adam learning rate (default 2e-4; StarGAN 1e-4).") var lr: Double?
  @Option(help: "Adam beta1.") var beta1 = 0.5
  @Option(help: "Adam beta2.") var beta2 = 0.999
  @Option(help: "Epochs at the full learning rate.") var epochs = 100
  @Option(name: .customLong("epochs-decay"), help: "Epochs of linear decay to zero after them.") var epochsDecay = 100
  @Option(help: "Train this many iterations instead (half constant, half decaying).") var steps: Int?
  @Option(help: "Random seed (weights, data order, crops, pools).") var seed: UInt64 = 0
  @Flag(name: .customLong("no-flip"), help: "Do not mirror training images at random.") var noFlip = false
  @Option(help: "Use at most this many training images (pairs).") var limit: Int?
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).") var device: String?
  @Option(help: "Run folder.") var out: String?
  @Option(help: "Continue the run in this folder from its latest checkpoint (same data).") var resume: String?
  @Option(name: .customLong("log-every"), help: "Iterations between log lines.") var logEvery = 100
  @Option(name: .customLong("sample-every"), help: "Iterations between comparison grids.") var sampleEvery = 500
  @Option(name: .customLong("checkpoint-every"), help: "Iterations between checkpoints.") var checkpointEvery = 1000
  @Option(name: .customLong("eval-every"), help: "Iterations between evaluations on the held-out split (always at the end).")
  var evalEvery: Int?
  @Option(name: .customLong("eval-images"), help: "Held-out images per evaluation (at most).") var evalImages = 200
  @Flag(name: .customLong("eval"), help: "Translate held-out images in eval mode (running statistics, no dropout).")
  var evalMode = false
  @Option(name: .customLong("classifier-steps"), help: "Steps of the evaluation's domain/attribute classifier (0: none).")
  var classifierSteps = 400
  @Flag(
    name: .customLong("sync-bn"),
    help: "Under mpirun: batch-norm statistics over the job's whole batch (SyncBatchNorm), not each rank's part.")
  var syncBN = false
  @Option(
    help: """
      A JSON file of options: keys are the long options without dashes, plus "method" (e.g. {"method": "cyclegan", \
      "data": "horse2zebra", "steps": 20000}); the command line overrides it; copied into the run folder.
      """) var config: String?
  @Flag(help: "Events as JSON lines on standard output (log, sample, checkpoint, evaluation, finished/stopped/error).")
  var json = false

  func options(_ method: TranslationOptions.Method) -> TranslationOptions {
    var o = TranslationOptions(method: method)
    (o.data, o.size, o.loadSize, o.channels) = (data, size, loadSize, channels)
    (o.netG, o.netD, o.nLayersD, o.ngf, o.ndf, o.norm, o.ganMode) = (netG, netD, nLayersD, ngf, ndf, norm, ganMode)
    (o.batch, o.lr, o.beta1, o.beta2) = (batch, lr, beta1, beta2)
    (o.epochs, o.epochsDecay, o.steps, o.seed, o.flip, o.limit) = (epochs, epochsDecay, steps, seed, !noFlip, limit)
    o.out = out ?? "runs/\(method.rawValue)"
    (o.logEvery, o.sampleEvery, o.checkpointEvery, o.evalEvery) = (logEvery, sampleEvery, checkpointEvery, evalEvery)
    (o.evalImages, o.evalMode, o.classifierSteps) = (evalImages, evalMode, classifierSteps)
    o.synchronizedBatchNorm = syncBN
    return o
  }

  /// Trains (or resumes) the run described by `options`, printing progress to standard error.
  func train(_ options: TranslationOptions) throws {
    let job = try Kallima.startJob()
    let events = JSONEvents(enabled: json && job.rank == 0)
    var started: TranslationRun?
    try events.reportingEnd("iteration", at: { started?.iteration }) {
      try train(options, job: job, events: events) { started = $0 }
    }
  }

  /// Rank 0 of a data-parallel job speaks for it; the other ranks print only their errors.
  private func train(
    _ options: TranslationOptions, job: Collective, events: JSONEvents, started: (TranslationRun) -> Void
  ) throws {
    let backend = try DeviceSelection.makeBackend(
      try DeviceSelection.selector(device, localRank: job.localRank, localSize: job.localSize), suggestTuning: job.rank == 0)
    printError(
      "kallima train \(options.method.rawValue)\(Kallima.rankClause(job)) on \(backend.name)")
    let stopper = StopSignal()
    let terminal = isatty(STDERR_FILENO) == 1
    var target = 0
    let show: (TranslationRun.Event) -> Void = { event in
      guard job.rank == 0 else { return }
      events.translation(event)
      switch event {
      case .loaded(let notes, let seconds):
        for n in notes { printError("data: \(n)") }
        printError(String(format: "data loaded in %.1f s", seconds))
      case .resumed(let i, let path): printError("resumed at iteration \(i) from \(path)")
      case .recipe(let text): printError("recipe: \(text)")
      case .started: break
      case .log(let i, let stats, let rate):
        let losses = stats.sorted { $0.key < $1.key }.map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(separator: "  ")
        let text = String(format: "iteration %d/%d  %.2f img/s  %@", i, target, rate, losses)
        if terminal { FileHandle.standardError.write(Data("\r\(text)\u{1B}[K".utf8)) } else { printError(text) }
      case .sample(let path): if !terminal { printError("samples: \(path)") }
      case .checkpoint(let path): if !terminal { printError("checkpoint: \(path)") }
      case .note(let text): printError((terminal ? "\r\u{1B}[K" : "") + text)
      case .evaluation(let e): printError((terminal ? "\r\u{1B}[K" : "") + "eval iteration \(e.iteration): \(e.description)")
      }
    }
    let run = try TranslationRun(options: options, backend: backend, resume: resume, collective: job, events: show)
    started(run)
    if let config, job.rank == 0 { try RunConfig.record(config, in: run.folder, step: run.iteration) }
    target = run.targetIterations
    try run.run(shouldStop: stopper.isSet, events: show)
    if terminal && job.rank == 0 { printError("") }
    if run.iteration < run.targetIterations {
      try stopper.exit(at: "iteration \(run.iteration)", folder: run.options.out, speaks: job.rank == 0)
    }
  }

  func validate() throws {
    if data == nil && resume == nil { throw ValidationError("give --data (a dataset folder; kallima make-translation-data builds one) or --resume") }
  }
}

/// `kallima train pix2pix`.
struct TrainPix2Pix: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pix2pix",
    abstract: "Paired image-to-image translation (Isola et al. 2017): U-Net G, PatchGAN D on (A, B), GAN + λ·L1.",
    discussion: """
      Data: pix2pix's aligned images (A|B side by side, in train/ and test/ or val/) or paired folders A/ and B/ \
      (same file names). Defaults as the reference: unet_<size>, basic D, batch norm, dropout, vanilla GAN loss, \
      λ_L1 100, Adam 2e-4 (0.5, 0.999), batch 1, 100 + 100 epochs, load 286 -> random crop 256 and flip (A and B alike).
      """)
  @OptionGroup var flags: TranslationFlags
  @Option(help: "AtoB or BtoA: which half is the input.") var direction = "AtoB"
  @Option(name: .customLong("lambda-l1"), help: "Weight of G's L1 term (0: GAN only).") var lambdaL1: Float = 100
  @Flag(name: .customLong("no-gan"), help: "Train G on L1 alone (the baseline without the GAN term).") var noGAN = false
  @Flag(name: .customLong("no-dropout"), help: "No dropout in G.") var noDropout = false

  func run() throws {
    var o = flags.options(.pix2pix)
    (o.direction, o.lambdaL1, o.adversarial) = (direction, lambdaL1, !noGAN)
    if noDropout { o.dropout = false }
    try flags.train(o)
  }
}

/// `kallima train cyclegan`.
struct TrainCycleGAN: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cyclegan",
    abstract: "Unpaired translation (Zhu et al. 2017): two ResNet Gs, two PatchGAN Ds, cycle and identity losses, pools.",
    discussion: """
      Data: trainA/, trainB/ (and testA/, testB/ for grids and evaluation). Defaults as the reference: \
      resnet_9blocks at 256 (resnet_6blocks below), instance norm, LSGAN loss, λ_cycle 10, identity 0.5, pools of 50 \
      on the device, Adam 2e-4 (0.5, 0.999), batch 1, 100 + 100 epochs.
      """)
  @OptionGroup var flags: TranslationFlags
  @Option(name: .customLong("lambda-a"), help: "Cycle loss weight A -> B -> A.") var lambdaA: Float = 10
  @Option(name: .customLong("lambda-b"), help: "Cycle loss weight B -> A -> B.") var lambdaB: Float = 10
  @Option(name: .customLong("lambda-identity"), help: "Identity loss, as a fraction of the cycle weights (0: off).") var lambdaIdentity: Float = 0.5
  @Option(name: .customLong("pool-size"), help: "Past fakes kept for each D (0: none).") var poolSize = 50
  @Flag(help: "Dropout in the generators.") var dropout = false

  func run() throws {
    var o = flags.options(.cyclegan)
    (o.lambdaA, o.lambdaB, o.lambdaIdentity, o.poolSize, o.dropout) = (lambdaA, lambdaB, lambdaIdentity, poolSize, dropout)
    try flags.train(o)
  }
}

/// `kallima train stargan`.
struct TrainStarGAN: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stargan",
    abstract: "Multi-domain translation (Choi et al. 2018): one G conditioned on target labels, D with a domain head.",
    discussion: """
      Data: images with a CelebA-style list_attr_celeba.txt (in the folder or its train/, images beside it or in \
      images/; a test/ of the same layout is held out), or one folder per domain. Defaults as the reference: \
      WGAN-GP (λ 10, n_critic 5), λ_cls 1, λ_rec 10, Adam 1e-4 (0.5, 0.999), batch 16; targets are the batch's own \
      labels permuted on the device.
      """)
  @OptionGroup var flags: TranslationFlags
  @Option(help: "Attributes to train on, comma-separated (default: every column of the file).") var attributes: String?
  @Option(name: .customLong("lambda-cls"), help: "Domain classification weight.") var lambdaClass: Float = 1
  @Option(name: .customLong("lambda-rec"), help: "Reconstruction weight.") var lambdaReconstruction: Float = 10
  @Option(name: .customLong("lambda-gp"), help: "Gradient penalty weight.") var lambdaGP: Float = 10
  @Option(name: .customLong("n-critic"), help: "D updates per G update.") var nCritic = 5

  func run() throws {
    var o = flags.options(.stargan)
    o.attributes = attributes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    (o.lambdaClass, o.lambdaReconstruction, o.lambdaGP, o.nCritic) = (lambdaClass, lambdaReconstruction, lambdaGP, nCritic)
    if flags.steps == nil, flags.epochs == 100, flags.epochsDecay == 100 {
      // StarGAN trains by iterations (200k, the last 100k decaying), not epochs, unless
      // epochs are asked for.
      o.steps = 200_000
    }
    try flags.train(o)
  }
}
