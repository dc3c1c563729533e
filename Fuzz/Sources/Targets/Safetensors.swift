import KallimaData

extension FuzzTarget {
  /// Checkpoints and weights (`--resume`, `kallima sample`, `--init`).
  static let safetensors = FuzzTarget(name: "safetensors", fileExtension: "safetensors") { path in
    _ = try SafetensorsFile.read(path)
  }
}
