import Foundation
import KallimaCore
import KallimaGAN
import KallimaNN

/// Everything that defines an image-to-image run (`kallima train pix2pix|cyclegan|stargan`),
/// with the reference implementations' defaults where an option is left nil
/// (junyanz/pytorch-CycleGAN-and-pix2pix's options/*.py, yunjey/stargan's main.py). Stored in
/// every checkpoint, so `--resume` and `kallima translate` rebuild the same networks.
public struct TranslationOptions: Codable, Equatable, Sendable {
  public enum Method: String, Codable, CaseIterable, Sendable {
    case pix2pix, cyclegan, stargan
  }

  public var method: Method = .pix2pix
  /// The dataset folder: pix2pix's aligned A|B images (train/, test/) or A/ and B/ folders;
  /// CycleGAN's trainA/, trainB/, testA/, testB/; StarGAN's images with
  /// list_attr_celeba.txt, or one folder per domain.
  public var data: String?
  /// pix2pix: which half is the input.
  public var direction: String = "AtoB"
  /// The networks' image side (the crop size).
  public var size: Int = 256
  /// The side images are loaded at before the random crop (pix2pix/CycleGAN: 286 for 256;
  /// default size·286/256; StarGAN: size, no crop).
  public var loadSize: Int?
  /// 1 (gray) or 3 (RGB); default: 3, or 1 when the images are all gray.
  public var channels: Int?
  /// `--netG`: unet_256/128/64/32, resnet_9blocks, resnet_6blocks (default: pix2pix unet_<size>,
  /// CycleGAN resnet_9blocks at 256 and up, resnet_6blocks below).
  public var netG: String?
  /// `--netD`: basic (70x70 PatchGAN), n_layers, pixel.
  public var netD: String = "basic"
  public var nLayersD: Int = 3
  public var ngf: Int = 64
  public var ndf: Int = 64
  /// batch or instance (default: pix2pix batch, CycleGAN instance).
  public var norm: String?
  /// Dropout in G (default: pix2pix on, CycleGAN off).
  public var dropout: Bool?
  /// ns (vanilla), lsgan, wgan-gp (default: pix2pix ns, CycleGAN lsgan; StarGAN is wgan-gp).
  public var ganMode: String?
  /// pix2pix: λ_L1, and whether G has its GAN term (false: the L1-only baseline).
  public var lambdaL1: Float = 100
  public var adversarial: Bool = true
  /// CycleGAN.
  public var lambdaA: Float = 10
  public var lambdaB: Float = 10
  public var lambdaIdentity: Float = 0.5
  public var poolSize: Int = 50
  /// StarGAN: the selected attributes of an attribute file (nil: every column of the
  /// project's synthetic sets, or StarGAN's CelebA five), or nil for domain folders.
  public var attributes: [String]?
  /// StarGAN: attributes (several per image, BCE per attribute) or domains (one per image,
  /// cross-entropy); set from the data.
  public var multiLabel: Bool = true
  public var lambdaClass: Float = 1
  public var lambdaReconstruction: Float = 10
  public var lambdaGP: Float = 10
  public var nCritic: Int = 5
  /// Batch (default: 1 for pix2pix and CycleGAN, 16 for StarGAN).
  public var batch: Int?
  /// Adam (default lr: 2e-4; StarGAN 1e-4), betas (0.5, 0.999).
  public var lr: Double?
  public var beta1: Double = 0.5
  public var beta2: Double = 0.999
  /// Epochs at the full rate, then epochs of linear decay to zero (pix2pix/CycleGAN: 100 +
  /// 100). With `steps`, the run is `steps` iterations instead: half constant, half decaying.
  public var epochs: Int = 100
  public var epochsDecay: Int = 100
  public var steps: Int?
  public var seed: UInt64 = 0
  /// Random mirroring (the reference's default; --no-flip).
  public var flip: Bool = true
  public var limit: Int?
  public var out: String = "runs/translation"
  public var logEvery: Int = 100
  public var sampleEvery: Int = 500
  public var checkpointEvery: Int = 1000
  /// Iterations between evaluations on the test split (fidelity, cycle error, classifier
  /// accuracy), logged to metrics.jsonl; nil: at the end only.
  public var evalEvery: Int?
  /// Test images per evaluation (at most).
  public var evalImages: Int = 200
  /// Translate held-out images in eval mode (running batch statistics, no dropout: the
  /// reference's --eval); pix2pix's default is train mode, as its test.py.
  public var evalMode: Bool = false
  /// Steps of the domain/attribute classifier the CycleGAN and StarGAN evaluations train
  /// (0: no classifier accuracy).
  public var classifierSteps: Int = 400
  /// In a data-parallel job, batch norm's statistics over the job's whole batch (`--sync-bn`).
  public var synchronizedBatchNorm = false

  public init(method: Method = .pix2pix) {
    self.method = method
  }

  /// Decodes what a checkpoint stored; a field it lacks (written before the option existed,
  /// or by Scripts/convert_reference_checkpoint.py, which writes only what it knows) keeps its
  /// default, so older and converted checkpoints stay readable.
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    method = try c.decodeIfPresent(Method.self, forKey: .method) ?? method
    data = try c.decodeIfPresent(String.self, forKey: .data)
    direction = try c.decodeIfPresent(String.self, forKey: .direction) ?? direction
    size = try c.decodeIfPresent(Int.self, forKey: .size) ?? size
    loadSize = try c.decodeIfPresent(Int.self, forKey: .loadSize)
    channels = try c.decodeIfPresent(Int.self, forKey: .channels)
    netG = try c.decodeIfPresent(String.self, forKey: .netG)
    netD = try c.decodeIfPresent(String.self, forKey: .netD) ?? netD
    nLayersD = try c.decodeIfPresent(Int.self, forKey: .nLayersD) ?? nLayersD
    ngf = try c.decodeIfPresent(Int.self, forKey: .ngf) ?? ngf
    ndf = try c.decodeIfPresent(Int.self, forKey: .ndf) ?? ndf
    norm = try c.decodeIfPresent(String.self, forKey: .norm)
    dropout = try c.decodeIfPresent(Bool.self, forKey: .dropout)
    ganMode = try c.decodeIfPresent(String.self, forKey: .ganMode)
    lambdaL1 = try c.decodeIfPresent(Float.self, forKey: .lambdaL1) ?? lambdaL1
    adversarial = try c.decodeIfPresent(Bool.self, forKey: .adversarial) ?? adversarial
    lambdaA = try c.decodeIfPresent(Float.self, forKey: .lambdaA) ?? lambdaA
    lambdaB = try c.decodeIfPresent(Float.self, forKey: .lambdaB) ?? lambdaB
    lambdaIdentity = try c.decodeIfPresent(Float.self, forKey: .lambdaIdentity) ?? lambdaIdentity
    poolSize = try c.decodeIfPresent(Int.self, forKey: .poolSize) ?? poolSize
    attributes = try c.decodeIfPresent([String].self, forKey: .attributes)
    multiLabel = try c.decodeIfPresent(Bool.self, forKey: .multiLabel) ?? multiLabel
    lambdaClass = try c.decodeIfPresent(Float.self, forKey: .lambdaClass) ?? lambdaClass
    lambdaReconstruction = try c.decodeIfPresent(Float.self, forKey: .lambdaReconstruction) ?? lambdaReconstruction
    lambdaGP = try c.decodeIfPresent(Float.self, forKey: .lambdaGP) ?? lambdaGP
    nCritic = try c.decodeIfPresent(Int.self, forKey: .nCritic) ?? nCritic
    batch = try c.decodeIfPresent(Int.self, forKey: .batch)
    lr = try c.decodeIfPresent(Double.self, forKey: .lr)
    beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? beta1
    beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? beta2
    epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
    epochsDecay = try c.decodeIfPresent(Int.self, forKey: .epochsDecay) ?? epochsDecay
    steps = try c.decodeIfPresent(Int.self, forKey: .steps)
    seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
    flip = try c.decodeIfPresent(Bool.self, forKey: .flip) ?? flip
    limit = try c.decodeIfPresent(Int.self, forKey: .limit)
    out = try c.decodeIfPresent(String.self, forKey: .out) ?? out
    logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? logEvery
    sampleEvery = try c.decodeIfPresent(Int.self, forKey: .sampleEvery) ?? sampleEvery
    checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? checkpointEvery
    evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery)
    evalImages = try c.decodeIfPresent(Int.self, forKey: .evalImages) ?? evalImages
    evalMode = try c.decodeIfPresent(Bool.self, forKey: .evalMode) ?? evalMode
    classifierSteps = try c.decodeIfPresent(Int.self, forKey: .classifierSteps) ?? classifierSteps
    synchronizedBatchNorm = try c.decodeIfPresent(Bool.self, forKey: .synchronizedBatchNorm) ?? synchronizedBatchNorm
  }

  enum CodingKeys: String, CodingKey {
    case method, data, direction, size, loadSize, channels, netG, netD, nLayersD, ngf, ndf, norm, dropout, ganMode, lambdaL1, adversarial, lambdaA, lambdaB, lambdaIdentity, poolSize, attributes, multiLabel, lambdaClass, lambdaReconstruction, lambdaGP, nCritic, batch, lr, beta1, beta2, epochs, epochsDecay, steps, seed, flip, limit, out, logEvery, sampleEvery, checkpointEvery, evalEvery, evalImages, evalMode, classifierSteps, synchronizedBatchNorm
  }

  // MARK: Resolved defaults

  public var resolvedLoadSize: Int {
    loadSize ?? (method == .stargan ? size : Int((Double(size) * 286 / 256).rounded()))
  }
  public var resolvedBatch: Int { batch ?? (method == .stargan ? 16 : 1) }
  public var resolvedLR: Double { lr ?? (method == .stargan ? 1e-4 : 2e-4) }
  public var resolvedNetG: String {
    netG ?? (method == .pix2pix ? "unet_\(size)" : size >= 256 ? "resnet_9blocks" : "resnet_6blocks")
  }
  public var resolvedNorm: TranslationNorm {
    get throws {
      let name = norm ?? (method == .pix2pix ? "batch" : "instance")
      guard let n = TranslationNorm(rawValue: name) else {
        throw KallimaError.invalidArgument(
          op: "options", message: "unknown --norm '\(name)'; choose one of \(TranslationNorm.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      return n
    }
  }
  public var resolvedDropout: Bool { dropout ?? (method == .pix2pix) }
  public var resolvedObjective: Objective {
    get throws {
      let name = ganMode ?? (method == .cyclegan ? "lsgan" : method == .stargan ? "wgan-gp" : "ns")
      guard Objective.translationChoices.contains(name) else {
        throw KallimaError.invalidArgument(
          op: "options", message: "unknown --gan-mode '\(name)'; choose one of \(Objective.translationChoices.joined(separator: ", ")) (vanilla is ns)")
      }
      return try Objective.named(name, penaltyWeight: lambdaGP)
    }
  }

  /// The learning-rate schedule for `iterationsPerEpoch` (the training set over the batch).
  public func schedule(iterationsPerEpoch: Int) -> LearningRateSchedule {
    if let steps { return .linearDecay(keep: steps / 2, decay: steps - steps / 2) }
    return .epochLinearDecay(keep: epochs, decay: epochsDecay, iterationsPerEpoch: max(1, iterationsPerEpoch))
  }

  /// Iterations the run trains for.
  public func totalIterations(iterationsPerEpoch: Int) -> Int {
    steps ?? (epochs + epochsDecay) * max(1, iterationsPerEpoch)
  }

  /// Checks what does not need the data.
  public func validate() throws {
    func fail(_ m: String) -> KallimaError { .invalidArgument(op: "options", message: m) }
    guard size >= 4 else { throw fail("--size must be at least 4, got \(size)") }
    guard resolvedLoadSize >= size else {
      throw fail("--load-size \(resolvedLoadSize) is smaller than --size \(size): the random crop needs load ≥ size")
    }
    guard resolvedBatch >= 1 else { throw fail("--batch must be at least 1") }
    guard TranslationDirection(rawValue: direction) != nil else {
      throw fail("--direction must be AtoB or BtoA, got \(direction)")
    }
    if let steps, steps < 1 { throw fail("--steps must be at least 1, got \(steps)") }
    guard epochs >= 0, epochsDecay >= 0, epochs + epochsDecay >= 1 else {
      throw fail("--epochs and --epochs-decay must be 0 or more and not both 0")
    }
    guard logEvery >= 1, sampleEvery >= 1, checkpointEvery >= 1, (evalEvery ?? 1) >= 1, evalImages >= 1 else {
      throw fail("--log-every, --sample-every, --checkpoint-every, --eval-every and --eval-images must be at least 1")
    }
    if let channels, channels != 1, channels != 3 { throw fail("--channels must be 1 or 3, got \(channels)") }
    if method == .stargan, let ganMode, ganMode != "wgan-gp" {
      throw fail("StarGAN trains with WGAN-GP (its gradient penalty and critic); --gan-mode \(ganMode) is for pix2pix and CycleGAN")
    }
    _ = try resolvedNorm
    _ = try resolvedObjective
  }
}
