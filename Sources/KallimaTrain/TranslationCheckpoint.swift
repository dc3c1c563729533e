import Foundation
import KallimaCore
import KallimaData
import KallimaGAN

/// An image-to-image run's state: every store of the trainer (the networks with their
/// optimiser state, CycleGAN's pools), the iteration count (from which the optimiser steps,
/// the random streams, the data order and the pools' draws follow) and the options that
/// rebuild the networks.
///
/// File format: safetensors. Tensors are "<network>.<state-dict name>", the network named as
/// the reference's checkpoint files (pix2pix: G, D; CycleGAN: G_A, G_B, D_A, D_B; StarGAN: G,
/// D), so `G.model.model.0.weight` is exactly the reference's `latest_net_G.pth` entry
/// `model.model.0.weight`; Adam's state is "<network>.<name>.exp_avg" / ".exp_avg_sq", the
/// pools "pools.fake_B_pool". Metadata: `format`, `options` (JSON), `training` (JSON) and,
/// for StarGAN, `labels` (the vocabulary). Writes are atomic.
public struct TranslationCheckpoint {
  public static let format = "kallima-translation-1"

  public struct Training: Codable, Equatable {
    public var iterations: Int
    /// The iteration count the run trains to.
    public var targetIterations: Int
    /// What identifies the training data (`TranslationDataSplit.fingerprint`).
    public var data: String
    /// The data's images per epoch and channels (to rebuild without the data).
    public var epochImages: Int
    public var channelsA: Int
    public var channelsB: Int
  }

  public var options: TranslationOptions
  public var training: Training
  public var labels: ConditionVocabulary?
  public var tensors: [SafetensorsTensor]

  public init(options: TranslationOptions, training: Training, labels: ConditionVocabulary?, tensors: [SafetensorsTensor]) {
    self.options = options
    self.training = training
    self.labels = labels
    self.tensors = tensors
  }

  /// Reads every store of `trainer` (blocking reads: at checkpoint time only); refuses a
  /// non-finite value, so a diverged run never overwrites its last good checkpoint.
  public static func capture(
    _ trainer: TranslationTrainer, options: TranslationOptions, training: Training, labels: ConditionVocabulary?
  ) throws -> TranslationCheckpoint {
    let tensors = try Checkpoint.finiteTensors(trainer.stores.sorted { $0.key < $1.key }) { $0 + "." + $1 }
    return TranslationCheckpoint(options: options, training: training, labels: labels, tensors: tensors)
  }

  public func write(to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    var metadata = [
      "format": Self.format, "method": options.method.rawValue,
      "options": String(decoding: try encoder.encode(options), as: UTF8.self),
      "training": String(decoding: try encoder.encode(training), as: UTF8.self),
    ]
    if let labels { metadata["labels"] = String(decoding: try encoder.encode(labels), as: UTF8.self) }
    try SafetensorsFile.write(tensors, metadata: metadata, to: path)
  }

  public static func read(_ path: String) throws -> TranslationCheckpoint {
    guard FileManager.default.fileExists(atPath: path) else { throw KallimaError.io(path: path, message: "no such checkpoint") }
    let (metadata, tensors) = try SafetensorsFile.read(path)
    guard metadata["format"] == format else {
      let hint = metadata["format"] == Checkpoint.format ? " (a GAN checkpoint: use kallima sample)" : ""
      throw KallimaError.io(
        path: path, message: "not an image-to-image checkpoint (format '\(metadata["format"] ?? "none")', expected '\(format)')\(hint)")
    }
    func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
      guard let text = metadata[key] else {
        throw KallimaError.io(path: path, message: "checkpoint metadata has no '\(key)' entry; the file is damaged")
      }
      do {
        return try JSONDecoder().decode(T.self, from: Data(text.utf8))
      } catch {
        throw KallimaError.io(path: path, message: "checkpoint metadata '\(key)' is unreadable: \(error)")
      }
    }
    let labels = try metadata["labels"].map { _ in try decode(ConditionVocabulary.self, "labels") }
    return TranslationCheckpoint(
      options: try decode(TranslationOptions.self, "options"), training: try decode(Training.self, "training"),
      labels: labels, tensors: tensors)
  }

  /// Writes the checkpoint's tensors into the stores of `trainer` (or just the ones named in
  /// `only`); every entry must be present with its shape.
  public func restore(into stores: [String: ParameterStore], only: Set<String>? = nil, path: String) throws {
    let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    for (store, parameters) in stores where only?.contains(store) ?? true {
      for e in parameters.entries {
        let name = store + "." + e.name
        guard let t = byName[name] else {
          throw KallimaError.io(path: path, message: "checkpoint has no tensor \(name): it was written for other networks or widths")
        }
        guard t.shape == e.tensor.shape.dims else {
          throw KallimaError.io(path: path, message: "tensor \(name) is \(t.shape) in the checkpoint, the network needs \(e.tensor.shape.dims)")
        }
        try parameters.backend.write(t.values, to: e.tensor)
      }
    }
  }
}
