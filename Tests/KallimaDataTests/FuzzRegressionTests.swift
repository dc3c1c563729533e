import Foundation
import KallimaCore
import KallimaData
import Testing

/// Inputs found by `Scripts/fuzz.sh` (or built to reach the same code) that trapped or made a
/// decoder allocate for a size the file cannot hold; each is committed under Fixtures/fuzz/
/// and must now be a clear error that names the file.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
  /// Reads `name` with `read`, expects a `KallimaError` naming the file and containing `phrase`.
  func expectRejected(
    _ name: String, saying phrase: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ read: (String) throws -> Void
  ) throws {
    let path = try fixture("fuzz/\(name)")
    let error = expectKallimaError(sourceLocation: sourceLocation) { try read(path) }
    let text = error?.description ?? ""
    #expect(text.contains(path), "the error must name the file: \(text)", sourceLocation: sourceLocation)
    #expect(text.contains(phrase), "expected '\(phrase)' in: \(text)", sourceLocation: sourceLocation)
  }

  @Test("An idx3 header whose rows x columns overflow Int is an error, not an arithmetic-overflow trap")
  func idxSizeOverflow() throws {
    // Found by the idx target in its first seconds: rows 0xFFFFF0F0 x columns 0xF0F0FF02.
    try expectRejected("idx3-size-overflow", saying: "more bytes than a file can hold") { _ = try IDX.readImages($0) }
    expectKallimaError { _ = try IDX.Images(count: 1 << 40, rows: 1 << 20, columns: 1 << 20, pixels: []) }
  }

  @Test("A PNG header declaring 16384x16384 in an 80-byte file is refused before the 805 MB buffer is allocated")
  func pngDeclaredSize() throws {
    // IHDR with a valid CRC; the decoder used to malloc 3 * 16384^2 bytes and only then find
    // that the data ends after one row.
    try expectRejected("png-16384x16384.png", saying: "declares 16384x16384 pixels, more than a 80-byte PNG can hold") {
      _ = try ImageIO.read($0)
    }
  }

  @Test("A JPEG frame of 16000x16000 in a small file is refused before libjpeg or the shim allocate for it")
  func jpegDeclaredSize() throws {
    // Baseline: the shim used to malloc the whole 768 MB output before decoding a row.
    // Progressive: jpeg_start_decompress used to allocate every coefficient (768 MB) before the
    // 2^28-pixel cap was checked.
    for name in ["jpeg-baseline-16000x16000.jpg", "jpeg-progressive-16000x16000.jpg"] {
      try expectRejected(name, saying: "declares 16000x16000 pixels, more than a") { _ = try ImageIO.read($0) }
    }
  }

  @Test("A corrupt gzip stream names the file once and says what is wrong")
  func gzipMessage() throws {
    // zlib prefixes gzerror's text with the path, which the message already starts with; the
    // fuzzer's rejections showed it twice. A stored block whose LEN and NLEN disagree:
    let dir = try ScratchFolder()
    let path = try dir.write([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x00, 0x01, 0x00, 0x00, 0x00], to: "bad.gz")
    let text = expectKallimaError { _ = try IDX.readImages(path) }?.description ?? ""
    #expect(text.components(separatedBy: path).count == 2, "\(text)")
    #expect(text.contains("invalid stored block lengths"), "\(text)")
  }
}

