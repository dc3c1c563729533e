import KallimaCore

/// Whole-file reads and writes through zlib.
public enum Gzip {
  /// The bytes of `path`: inflated if the file is gzip-compressed, as they are otherwise
  /// (zlib's gzread passes plain files through). A truncated gzip stream is an error.
  public static func read(_ path: String) throws -> [UInt8] {
    try CShim.gzReadAll(path)
  }

  /// Writes `bytes` gzip-compressed (zlib's default level), atomically.
  public static func write(_ bytes: [UInt8], to path: String) throws {
    try AtomicFile.write(to: path) { try CShim.gzWriteAll(bytes, to: $0, reportedAs: path) }
  }
}
