import KallimaData

extension FuzzTarget {
  /// Dataset images, PNG side (libpng through the shim), then the resize every dataset image gets.
  static let png = FuzzTarget(name: "png", fileExtension: "png", prepare: fixPNGChecksums) { path in
    try decodeAndResize(path)
  }

  /// Dataset images, JPEG side (libjpeg through the shim).
  static let jpeg = FuzzTarget(name: "jpeg", fileExtension: "jpg") { path in
    try decodeAndResize(path)
  }

  static func decodeAndResize(_ path: String) throws {
    let image = try ImageIO.read(path)
    tolerated { _ = try ImageResize.resizeAndCenterCrop(image, size: 8) }
  }

  /// Rewrites the CRC-32 of every whole chunk, so that mutations reach libpng's decoder
  /// rather than stopping at its checksum test (PNG fuzzers set libpng's CRC action to
  /// ignore instead; the simplified API the shim uses has no such switch).
  static func fixPNGChecksums(_ bytes: [UInt8]) -> [UInt8] {
    var out = bytes
    var at = 8
    while at + 12 <= out.count {
      let length = Int(out[at]) << 24 | Int(out[at + 1]) << 16 | Int(out[at + 2]) << 8 | Int(out[at + 3])
      let end = at + 8 + length
      guard length < 0x8000_0000, end + 4 <= out.count else { break }
      let crc = crc32(out[(at + 4)..<end])
      for i in 0..<4 { out[end + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
      at = end + 4
    }
    return out
  }

  /// CRC-32 (ISO 3309, as PNG and zlib compute it), bit by bit: inputs are small.
  static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
      crc ^= UInt32(b)
      for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    }
    return ~crc
  }
}
