import KallimaData

extension FuzzTarget {
  /// MNIST-style idx files, plain: both readers see every input (the magic picks the one that
  /// gets past the header).
  static let idx = FuzzTarget(name: "idx", fileExtension: "idx", parse: readIDX)

  /// The same readers on gzip-compressed files (zlib through the shim).
  static let idxGzip = FuzzTarget(name: "idx-gzip", fileExtension: "gz", parse: readIDX)

  static func readIDX(_ path: String) throws {
    do { _ = try IDX.readImages(path) } catch { Harness.requireNamesFile(error, path: path) }
    _ = try IDX.readLabels(path)
  }
}
