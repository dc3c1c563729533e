import Foundation
import Testing

@testable import KallimaData

@Suite("Dataset fingerprints of large files")
struct DatasetFingerprintSamplingTests {
  /// The hash of `bytes` written to a file, read as a file over the whole-file limit is:
  /// 10,000 bytes with a limit of 1,000 give 64 blocks of 100 bytes.
  func sampled(_ bytes: [UInt8], in folder: TemporaryFolder) throws -> UInt64 {
    let path = folder.path("big")
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    var hash = FNV1a64()
    try DatasetFingerprint.addContent(of: path, to: &hash, wholeFileLimit: 1000, samples: 64, sampleBytes: 100)
    return hash.value
  }

  @Test("a file past the limit is sampled from its first byte to its last")
  func sampledBlocks() throws {
    let folder = try TemporaryFolder()
    let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    let base = try sampled(bytes, in: folder)
    // Block i starts at 9900·i/63: bytes 0, 9999 (end of the last block) and 157..256
    // (block 1) are read; byte 120 lies between blocks 0 and 1 and is not.
    for (index, read) in [(0, true), (9999, true), (200, true), (120, false)] {
      var changed = bytes
      changed[index] ^= 1
      #expect((try sampled(changed, in: folder) != base) == read, "byte \(index)")
    }
    #expect(try sampled(bytes + [0], in: folder) != base, "the size is part of it")
  }
}
