import Foundation
import KallimaCore

/// A short identity of the files a dataset was loaded from, so that a resumed run can tell
/// whether it is about to train on the same data stream (`kallima train --resume`).
///
/// `"fnv1a64:" + 16 hex digits`, the 64-bit FNV-1a hash of:
/// - a folder: every image file's path relative to the folder, in the sorted order the
///   loader uses (the order decides which image is image n), and its size in bytes. Contents
///   are not read: a folder of a million images is fingerprinted in the time of one listing.
///   An image re-encoded to exactly the same size goes unnoticed.
/// - idx files (images, and labels when present): each file's size and bytes; files over
///   `wholeFileLimit` bytes contribute `samples` evenly spaced blocks of `sampleBytes`
///   (the first and the last included), so a huge file costs a bounded read. File names are
///   not part of it: a renamed or moved copy is the same data.
///
/// The embedded default (Debian's Fashion-MNIST) is an idx folder and is fingerprinted the
/// same way, so its identity is its files' content.
public enum DatasetFingerprint {
  static let wholeFileLimit = 64 << 20
  static let samples = 64
  static let sampleBytes = 1 << 20

  /// The fingerprint of the files behind `source` (`ImageDataset.report.source`). Throws
  /// `KallimaError.io` naming a file that cannot be read.
  public static func of(_ source: ImageDataset.Report.Source) throws -> String {
    var hash = FNV1a64()
    switch source {
    case .folder(let folder):
      hash.add("folder")
      let prefix = folder.hasSuffix("/") ? folder : folder + "/"
      for file in try ImageDataset.imageFiles(in: folder) {
        hash.add(file.hasPrefix(prefix) ? String(file.dropFirst(prefix.count)) : file)
        hash.add(UInt64(try size(of: file)))
      }
    case .idx(let images, let labels):
      hash.add("idx")
      try addContent(of: images, to: &hash)
      if let labels {
        hash.add("labels")
        try addContent(of: labels, to: &hash)
      }
    }
    return "fnv1a64:" + String(format: "%016llx", hash.value)
  }

  static func size(of path: String) throws -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else {
      throw KallimaError.io(path: path, message: "cannot read its size to fingerprint the dataset: \(String(cString: strerror(errno)))")
    }
    return Int(info.st_size)
  }

  /// Adds the file's size, then its bytes (or, past `wholeFileLimit` bytes, `samples`
  /// evenly spaced blocks of `sampleBytes` from the first byte to the last), to `hash`.
  static func addContent(
    of path: String, to hash: inout FNV1a64, wholeFileLimit: Int = wholeFileLimit, samples: Int = samples,
    sampleBytes: Int = sampleBytes
  ) throws {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw KallimaError.io(path: path, message: "cannot open it to fingerprint the dataset; check that it exists and is readable")
    }
    defer { try? handle.close() }
    let size = try size(of: path)
    hash.add(UInt64(size))
    let blocks: [(offset: Int, count: Int)] =
      size <= wholeFileLimit
      ? [(0, size)]
      : (0..<samples).map { i in ((size - sampleBytes) * i / (samples - 1), sampleBytes) }
    do {
      for block in blocks {
        try handle.seek(toOffset: UInt64(block.offset))
        let data = try handle.read(upToCount: block.count) ?? Data()
        guard data.count == block.count else {
          throw KallimaError.io(path: path, message: "shrank while it was being fingerprinted; is it being written?")
        }
        data.withUnsafeBytes { hash.add(bytes: $0) }
      }
    } catch let error as KallimaError {
      throw error
    } catch {
      throw KallimaError.io(path: path, message: "cannot read it to fingerprint the dataset: \(error)")
    }
  }
}

/// 64-bit FNV-1a (Fowler–Noll–Vo): fast, not cryptographic; enough to notice changed data.
struct FNV1a64 {
  private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

  mutating func add(bytes: UnsafeRawBufferPointer) {
    var v = value
    for byte in bytes { v = (v ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    value = v
  }

  /// The string's UTF-8 bytes and a terminating 0, so "ab"+"c" and "a"+"bc" differ.
  mutating func add(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.append(0)
    bytes.withUnsafeBytes { add(bytes: $0) }
  }

  mutating func add(_ number: UInt64) {
    withUnsafeBytes(of: number.littleEndian) { add(bytes: $0) }
  }
}
