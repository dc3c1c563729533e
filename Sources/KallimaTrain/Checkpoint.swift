import Foundation
import KallimaCore
import KallimaData
import KallimaGAN

/// Everything needed to continue a run exactly: both networks (parameters and running
/// statistics), both optimisers' state, the plan run counts (from which the step, the random
/// streams and the data order follow) and the configuration.
///
/// File format: safetensors. Tensor names follow PyTorch's DCGAN example under a network
/// prefix, `generator.main.0.weight`, `discriminator.main.3.running_var` (so the `generator.`
/// tensors are exactly PyTorch's `state_dict()` of G, minus num_batches_tracked), with Adam's
/// state apart as `generator_adam.main.0.weight.exp_avg` / `.exp_avg_sq`; the metadata holds
/// `format`, `architecture`, `config` (JSON) and `training` (JSON). Writes are atomic.
public struct Checkpoint {
  public static let format = "kallima-checkpoint-1"

  public struct Training: Codable, Equatable {
    public var step: Int
    public var dRuns: UInt64
    public var gRuns: UInt64
    public var batch: Int
    public var nCritic: Int
    /// Adam's settings of checkpoints written before recipes (the recipe holds them now).
    public var lr: Double? = nil
    public var beta1: Double? = nil
    public var beta2: Double? = nil
    public var seed: UInt64
    public var dataSeed: UInt64
    public var flip: Bool
    public var data: String
    /// The lowest ranking score seen by --eval-every (the best checkpoint's): mode-coverage KL,
    /// or 1 − conditional accuracy for a class-conditional run; nil if none.
    public var bestKL: Double? = nil
    /// What defines the data stream (absent in checkpoints written before it was recorded:
    /// such a resume cannot check its data and says so).
    public var dataStream: DataStream? = nil
    /// The step count the run trains to; `--resume` without `--steps` keeps it (absent in
    /// older checkpoints).
    public var targetSteps: Int? = nil
    /// Data changes that resumes accepted with --allow-data-change, one line each, oldest first.
    public var dataChanges: [String]? = nil
    /// The ranks of the data-parallel job that wrote it (absent: one process).
    public var ranks: Int? = nil
  }

  /// Everything besides the seeds that decides which images a run sees in which order: the
  /// `--limit`, the number of images loaded, and the fingerprint of the files
  /// (`DatasetFingerprint`). The data path is `Training.data`; a different path holding the
  /// same files (moved data) is the same stream.
  public struct DataStream: Codable, Equatable, Sendable {
    public var limit: Int?
    public var images: Int
    public var fingerprint: String

    /// Separates the images' fingerprint from the conditions' in a conditional run's.
    public static let conditionsMarker = " conditions "

    public init(limit: Int?, images: Int, fingerprint: String) {
      (self.limit, self.images, self.fingerprint) = (limit, images, fingerprint)
    }

    /// One line per field that differs, "name: was in the checkpoint, is now", naming
    /// `recorded` the checkpoint's value; empty when the streams are the same.
    public func differences(from recorded: DataStream) -> [String] {
      func limitText(_ l: Int?) -> String { l.map { "\($0)" } ?? "none" }
      var lines: [String] = []
      if limit != recorded.limit {
        lines.append("--limit: \(limitText(recorded.limit)) in the checkpoint, \(limitText(limit)) now")
      }
      if images != recorded.images {
        lines.append("images loaded: \(recorded.images) in the checkpoint, \(images) now")
      }
      if fingerprint != recorded.fingerprint {
        lines.append(
          "fingerprint of the files: \(recorded.fingerprint) in the checkpoint, \(fingerprint) now "
            + "(files were added, removed, renamed or changed size, or an idx file's content changed)")
      }
      return lines
    }
  }

  public var config: DCGANConfig
  public var training: Training
  /// The method (absent in checkpoints written before recipes: NS with Adam).
  public var recipe: RecipeOptions
  /// A conditional run's condition vocabulary (what each column of a condition row means),
  /// so sampling can encode `--label` / `--tags` / `--text` without the dataset.
  public var conditions: ConditionVocabulary?
  public var tensors: [SafetensorsTensor]

  /// The file name of a store entry: Adam's state goes under "<network>_adam.", the other
  /// optimisers' state (square_avg, momentum_buffer, grad_avg) under "<network>_optim.".
  static func fileName(_ network: String, _ entry: String) -> String {
    guard Optimizer.isState(entry) else { return network + "." + entry }
    let adam = entry.hasSuffix(".exp_avg") || entry.hasSuffix(".exp_avg_sq")
    return network + (adam ? "_adam." : "_optim.") + entry
  }

  /// The trainer's stores under their checkpoint prefixes: G, D, G's EMA ("generator_ema")
  /// and the objective's state ("objective": BEGAN's k).
  static func stores(of trainer: GANTrainer) -> [(String, ParameterStore)] {
    var stores = [("generator", trainer.generatorParameters), ("discriminator", trainer.discriminatorParameters)]
    if let ema = trainer.emaParameters { stores.append(("generator_ema", ema)) }
    if !trainer.objectiveParameters.entries.isEmpty { stores.append(("objective", trainer.objectiveParameters)) }
    return stores
  }

  /// Reads the trainer's state from the device (blocking reads: call at checkpoint time only).
  public static func capture(
    _ trainer: GANTrainer, training: Training, recipe: RecipeOptions, conditions: ConditionVocabulary? = nil
  ) throws -> Checkpoint {
    let tensors = try finiteTensors(stores(of: trainer), name: fileName)
    guard let config = trainer.recipe.sizes else {
      throw KallimaError.invalidArgument(
        op: "checkpoint", message: "the recipe's networks do not come from an architecture (--arch); their sizes are unknown")
    }
    return Checkpoint(config: config, training: training, recipe: recipe, conditions: conditions, tensors: tensors)
  }

  /// Every entry of `stores` read from the device (blocking reads) under `name(network,
  /// entry)`; a non-finite value refuses the checkpoint, so a diverged run never overwrites
  /// its last good one.
  static func finiteTensors(_ stores: [(String, ParameterStore)], name: (String, String) -> String) throws
    -> [SafetensorsTensor]
  {
    var tensors: [SafetensorsTensor] = []
    for (network, store) in stores {
      for e in store.entries {
        let file = name(network, e.name)
        let values = try store.backend.read(e.tensor)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
          throw KallimaError.diverged(
            "checkpoint: \(file)[\(bad)] is \(values[bad]): training diverged; not overwriting the last good checkpoint")
        }
        tensors.append(SafetensorsTensor(name: file, shape: e.tensor.shape.dims, values: values))
      }
    }
    return tensors
  }

  public func write(to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let config = try encoder.encode(ConfigJSON(self.config))
    let training = try encoder.encode(self.training)
    let recipe = try encoder.encode(self.recipe)
    var metadata = [
      "format": Checkpoint.format, "architecture": self.recipe.arch, "config": String(decoding: config, as: UTF8.self),
      "training": String(decoding: training, as: UTF8.self), "recipe": String(decoding: recipe, as: UTF8.self),
    ]
    if let conditions { metadata["conditions"] = String(decoding: try encoder.encode(conditions), as: UTF8.self) }
    try SafetensorsFile.write(tensors, metadata: metadata, to: path)
  }

  public static func read(_ path: String) throws -> Checkpoint {
    guard FileManager.default.fileExists(atPath: path) else {
      throw KallimaError.io(path: path, message: "no such checkpoint")
    }
    let (metadata, tensors) = try SafetensorsFile.read(path)
    guard metadata["format"] == format else {
      throw KallimaError.io(
        path: path, message: "not a Kallima checkpoint (format '\(metadata["format"] ?? "none")', expected '\(format)')")
    }
    guard let architecture = metadata["architecture"], RecipeOptions.architectures.contains(architecture) else {
      throw KallimaError.io(
        path: path,
        message: "checkpoint of architecture '\(metadata["architecture"] ?? "unknown")'; this build loads "
          + RecipeOptions.architectures.joined(separator: ", "))
    }
    let config = try decodeMetadata(ConfigJSON.self, "config", metadata, path)
    let training = try decodeMetadata(Training.self, "training", metadata, path)
    var recipe = RecipeOptions()
    if metadata["recipe"] != nil {
      recipe = try decodeMetadata(RecipeOptions.self, "recipe", metadata, path)
    } else {
      // Written before recipes: DCGAN with the non-saturating loss and Adam.
      (recipe.lrG, recipe.lrD, recipe.beta1, recipe.beta2) = (training.lr, training.lr, training.beta1, training.beta2)
      recipe.nCritic = training.nCritic
    }
    recipe.arch = architecture
    let conditions = try metadata["conditions"].map { _ in
      try decodeMetadata(ConditionVocabulary.self, "conditions", metadata, path)
    }
    if recipe.condition != nil, conditions == nil {
      throw KallimaError.io(path: path, message: "a conditional checkpoint without its 'conditions' metadata entry; the file is damaged")
    }
    var dcgan = config.dcgan
    dcgan.discriminatorNorm = NormKind(rawValue: config.dNorm ?? "batch") ?? .batch
    return Checkpoint(config: dcgan, training: training, recipe: recipe, conditions: conditions, tensors: tensors)
  }

  /// The JSON of metadata entry `key`, decoded; an error naming the file, the entry and what
  /// is wrong with it (missing, or the decoder's reason: the field and the value it met).
  private static func decodeMetadata<T: Decodable>(
    _ type: T.Type, _ key: String, _ metadata: [String: String], _ path: String
  ) throws -> T {
    guard let text = metadata[key] else {
      throw KallimaError.io(path: path, message: "checkpoint metadata has no '\(key)' entry; the file was not written by kallima train")
    }
    do {
      return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    } catch {
      throw KallimaError.io(path: path, message: "checkpoint metadata '\(key)' is unreadable: \(decodingProblem(error))")
    }
  }

  /// Writes the checkpoint's tensors into the trainer's stores (which must have the same
  /// architecture) and restores the plans' run counts.
  public func restore(into trainer: GANTrainer, path: String) throws {
    for (network, store) in Checkpoint.stores(of: trainer) { try restore(store, network: network, path: path) }
    trainer.restore(steps: training.step, dRuns: training.dRuns, gRuns: training.gRuns)
  }

  /// Writes the tensors of `network` ("generator" or "discriminator") into `store`; every
  /// store entry must be present with its shape (a checkpoint of another architecture or
  /// width is refused, naming the tensor). With a `prefix`, only the store's entries under
  /// it, from the checkpoint's network without it: StackGAN's stage II takes its
  /// "STAGE1_G." tensors from a stage-I checkpoint's generator.
  public func restore(_ store: ParameterStore, network: String, path: String, prefix: String = "") throws {
    let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    for e in store.entries where e.name.hasPrefix(prefix) {
      let name = Checkpoint.fileName(network, String(e.name.dropFirst(prefix.count)))
      guard let t = byName[name] else {
        throw KallimaError.io(
          path: path, message: "checkpoint has no tensor \(name): it was written for another architecture or width")
      }
      guard t.shape == e.tensor.shape.dims else {
        throw KallimaError.io(
          path: path, message: "tensor \(name) is \(t.shape) in the checkpoint, the model needs \(e.tensor.shape.dims)")
      }
      try store.backend.write(t.values, to: e.tensor)
    }
  }
}

/// The DCGAN configuration as stored in checkpoints (and read by Scripts/load_checkpoint_in_pytorch.py).
struct ConfigJSON: Codable {
  var nz, ngf, ndf, channels, imageSize: Int
  /// D's normalisation ("batch" when absent: checkpoints written before it was a choice).
  var dNorm: String?
  init(_ c: DCGANConfig) {
    (nz, ngf, ndf, channels, imageSize) = (c.nz, c.ngf, c.ndf, c.channels, c.imageSize)
    dNorm = c.discriminatorNorm.rawValue
  }
  var dcgan: DCGANConfig { DCGANConfig(nz: nz, ngf: ngf, ndf: ndf, channels: channels, imageSize: imageSize) }
}
