import Foundation
import KallimaCore
import KallimaData
import Testing

/// A fresh folder under the system temporary directory, removed when the value is released.
final class ScratchFolder {
  let path: String

  init(_ label: String = #function) throws {
    let name = "kallima-data-\(label.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)"
    path = (NSTemporaryDirectory() as NSString).appendingPathComponent(name)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  /// `path/relative`, creating intermediate folders.
  func file(_ relative: String) throws -> String {
    let full = (path as NSString).appendingPathComponent(relative)
    try FileManager.default.createDirectory(
      atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    return full
  }

  func write(_ bytes: [UInt8], to relative: String) throws -> String {
    let full = try file(relative)
    try Data(bytes).write(to: URL(fileURLWithPath: full))
    return full
  }
}

func readBytes(_ path: String) throws -> [UInt8] {
  [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// The test bundle's Fixtures folder.
func fixture(_ name: String) throws -> String {
  guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
    throw KallimaError.io(path: "Fixtures/\(name)", message: "not found in the test bundle")
  }
  return url.path
}

/// An RGB or gray image whose samples are `value(x, y, c)`.
func makeImage(width: Int, height: Int, channels: Int = 3, _ value: (Int, Int, Int) -> Int) throws -> RGBImage {
  var pixels: [UInt8] = []
  for y in 0..<height { for x in 0..<width { for c in 0..<channels { pixels.append(UInt8(value(x, y, c))) } } }
  return try RGBImage(width: width, height: height, channels: channels, pixels: pixels)
}

/// Expects `body` to throw a `KallimaError`, and returns it for further checks.
@discardableResult
func expectKallimaError(
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> KallimaError? {
  do {
    try body()
    Issue.record("expected a KallimaError, nothing was thrown", sourceLocation: sourceLocation)
  } catch let error as KallimaError {
    return error
  } catch {
    Issue.record("expected a KallimaError, got \(error)", sourceLocation: sourceLocation)
  }
  return nil
}

/// A minimal PNG encoder for the color types and bit depths the shim's writer does not make:
/// chunks with CRC-32, IDAT as a zlib stream of stored (uncompressed) deflate blocks, filter 0.
enum HandPNG {
  /// `rows` are the raw scanlines without filter bytes (already packed for `bitDepth`).
  static func encode(
    width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]], palette: [UInt8]? = nil,
    transparency: [UInt8]? = nil
  ) -> [UInt8] {
    var raw: [UInt8] = []
    for row in rows { raw += [0] + row }
    var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    out += chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [bitDepth, colorType, 0, 0, 0])
    if let palette { out += chunk("PLTE", palette) }
    if let transparency { out += chunk("tRNS", transparency) }
    out += chunk("IDAT", zlibStored(raw))
    out += chunk("IEND", [])
    return out
  }

  static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let body = Array(type.utf8) + data
    return be32(UInt32(data.count)) + body + be32(crc32(body))
  }

  static func zlibStored(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x78, 0x01]
    var start = 0
    repeat {
      let end = min(data.count, start + 65535)
      let n = UInt16(end - start)
      out += [end == data.count ? 1 : 0, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)]
      out += data[start..<end]
      start = end
    } while start < data.count
    var a: UInt32 = 1
    var b: UInt32 = 0
    for byte in data {
      a = (a + UInt32(byte)) % 65521
      b = (b + a) % 65521
    }
    return out + be32(b << 16 | a)
  }

  static func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
  }

  static func be32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }
}

/// SplitMix64: deterministic test noise.
struct RandomNumberGenerator64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
