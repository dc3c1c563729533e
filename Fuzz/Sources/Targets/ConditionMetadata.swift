import KallimaData

extension FuzzTarget {
  /// Hugging Face imagefolder `metadata.jsonl` (conditions for `--condition class|tags|text`):
  /// every input is read for each column.
  static let metadataJSONL = FuzzTarget(name: "metadata-jsonl", fileExtension: "jsonl") { path in
    for kind in [ConditionKind.class, .tags] {
      do { try ImageDataset.checkMetadata(path, condition: kind) } catch { Harness.requireNamesFile(error, path: path) }
    }
    try ImageDataset.checkMetadata(path, condition: .text)
  }
}
