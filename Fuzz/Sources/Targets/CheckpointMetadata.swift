import KallimaData
import KallimaGAN
import KallimaTrain

extension FuzzTarget {
  /// The JSON in a checkpoint's metadata (`config`, `training`, `recipe`, `architecture`)
  /// that `--resume` and `kallima sample` decode, then build networks and a recipe from.
  /// The input is those four strings separated by zero bytes (missing ones are left out),
  /// wrapped into a safetensors checkpoint without tensors.
  static let checkpointMetadata = FuzzTarget(
    name: "metadata", fileExtension: "safetensors", prepare: checkpointFile
  ) { path in
    let c = try Checkpoint.read(path)
    tolerated {
      let architecture = try Architecture.named(c.recipe.arch)
      _ = try architecture.generator(c.config)
      _ = try c.recipe.recipe(base: c.config, steps: c.recipe.lrDecayEnd ?? max(c.training.step, 1))
    }
  }

  static func checkpointFile(_ bytes: [UInt8]) -> [UInt8] {
    let parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    var metadata = ["format": Checkpoint.format, "architecture": "dcgan"]
    for (key, value) in zip(["config", "training", "recipe", "architecture"], parts) { metadata[key] = value }
    guard let file = try? SafetensorsFile.encode([], metadata: metadata) else { fatalError("cannot encode metadata") }
    return file
  }
}
