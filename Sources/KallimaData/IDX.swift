import Foundation
import KallimaCore

/// The idx format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/), plain or
/// gzip-compressed (detected from the content, not the name).
///
/// idx3 (images): big-endian UInt32 magic 0x00000803, count, rows, columns, then
/// count * rows * columns unsigned bytes, image after image, each row-major.
/// idx1 (labels): big-endian UInt32 magic 0x00000801, count, then count unsigned bytes.
public enum IDX {
  /// 8-bit gray images from an idx3 file.
  public struct Images: Equatable, Sendable {
    public let count: Int
    public let rows: Int
    public let columns: Int
    /// `count * rows * columns` bytes: image n, row y, column x at `(n * rows + y) * columns + x`.
    public let pixels: [UInt8]

    /// Checks that `pixels` holds `count * rows * columns` bytes and the sizes are positive.
    public init(count: Int, rows: Int, columns: Int, pixels: [UInt8]) throws {
      guard count >= 0, rows > 0, columns > 0, IDX.byteCount(count, rows, columns) == pixels.count else {
        throw KallimaError.invalidArgument(
          op: "IDX.Images", message: "\(pixels.count) bytes for \(count) images of \(rows)x\(columns)")
      }
      self.init(unchecked: count, rows, columns, pixels)
    }

    init(unchecked count: Int, _ rows: Int, _ columns: Int, _ pixels: [UInt8]) {
      self.count = count
      self.rows = rows
      self.columns = columns
      self.pixels = pixels
    }

    /// Image `index` as a one-channel `RGBImage`.
    public func image(_ index: Int) -> RGBImage {
      let n = rows * columns
      return RGBImage(unchecked: columns, rows, 1, Array(pixels[(index * n)..<((index + 1) * n)]))
    }
  }

  public static let imagesMagic: UInt32 = 0x0000_0803
  public static let labelsMagic: UInt32 = 0x0000_0801

  /// Reads an idx3 images file, plain or gzip.
  public static func readImages(_ path: String) throws -> Images {
    try parseImages(try read(path), path: path)
  }

  /// Reads an idx1 labels file, plain or gzip.
  public static func readLabels(_ path: String) throws -> [UInt8] {
    try parseLabels(try read(path), path: path)
  }

  /// Parses idx3 bytes; `path` only names the source in errors.
  public static func parseImages(_ bytes: [UInt8], path: String) throws -> Images {
    try header(bytes, path: path, magic: imagesMagic, kind: "idx3 images", headerWords: 4)
    let count = Int(word(bytes, 1))
    let rows = Int(word(bytes, 2))
    let columns = Int(word(bytes, 3))
    guard rows > 0, columns > 0 else {
      throw KallimaError.io(path: path, message: "idx3 header says images are \(rows)x\(columns); the file is corrupt")
    }
    // Each size is below 2^32, so the product can overflow Int: checked before it is compared.
    let payload = byteCount(count, rows, columns)
    guard let payload, bytes.count - 16 == payload else {
      throw KallimaError.io(
        path: path,
        message: "idx3 header promises \(count) images of \(rows)x\(columns) "
          + "(\(payload.map { "\($0) bytes" } ?? "more bytes than a file can hold") after the 16-byte header) "
          + "but the file holds \(bytes.count - 16); it is truncated or corrupt, download it again")
    }
    return Images(unchecked: count, rows, columns, Array(bytes[16...]))
  }

  /// Parses idx1 bytes; `path` only names the source in errors.
  public static func parseLabels(_ bytes: [UInt8], path: String) throws -> [UInt8] {
    try header(bytes, path: path, magic: labelsMagic, kind: "idx1 labels", headerWords: 2)
    let count = Int(word(bytes, 1))
    guard bytes.count - 8 == count else {
      throw KallimaError.io(
        path: path,
        message: "idx1 header promises \(count) labels but the file holds \(bytes.count - 8) bytes after the "
          + "8-byte header; it is truncated or corrupt, download it again")
    }
    return Array(bytes[8...])
  }

  /// Serialises images as idx3 bytes (for tests and tools). `pixels` as in `Images`.
  public static func encode(_ images: Images) -> [UInt8] {
    bigEndian([imagesMagic, UInt32(images.count), UInt32(images.rows), UInt32(images.columns)]) + images.pixels
  }

  /// Serialises labels as idx1 bytes.
  public static func encode(labels: [UInt8]) -> [UInt8] {
    bigEndian([labelsMagic, UInt32(labels.count)]) + labels
  }

  private static func read(_ path: String) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw KallimaError.io(path: path, message: "no such file; check the path")
    }
    guard !isDirectory.boolValue else {
      throw KallimaError.io(path: path, message: "is a folder; pass the idx file itself")
    }
    return try Gzip.read(path)
  }

  private static func header(_ bytes: [UInt8], path: String, magic: UInt32, kind: String, headerWords: Int) throws {
    let hex = { (v: UInt32) in "0x" + String(format: "%08X", v) }
    if bytes.count >= 4, word(bytes, 0) != magic {
      let found = word(bytes, 0)
      var hint = "pass an \(kind) file such as train-\(magic == imagesMagic ? "images-idx3" : "labels-idx1")-ubyte.gz"
      if found == labelsMagic { hint = "this is an idx1 labels file; " + hint }
      if found == imagesMagic { hint = "this is an idx3 images file; " + hint }
      throw KallimaError.io(path: path, message: "magic number \(hex(found)) is not \(hex(magic)) (\(kind)); \(hint)")
    }
    guard bytes.count >= 4 * headerWords else {
      throw KallimaError.io(
        path: path,
        message: "\(bytes.count) bytes is too short for an \(kind) header (\(4 * headerWords) bytes); "
          + "the file is truncated or not an idx file")
    }
  }

  /// count * rows * columns, or nil when it overflows Int.
  static func byteCount(_ count: Int, _ rows: Int, _ columns: Int) -> Int? {
    let (pixels, o1) = rows.multipliedReportingOverflow(by: columns)
    let (total, o2) = count.multipliedReportingOverflow(by: pixels)
    return o1 || o2 ? nil : total
  }

  private static func word(_ bytes: [UInt8], _ index: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(bytes[4 * index + $1]) }
  }

  private static func bigEndian(_ words: [UInt32]) -> [UInt8] {
    words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (24 - 8 * UInt32($0))) } }
  }
}
