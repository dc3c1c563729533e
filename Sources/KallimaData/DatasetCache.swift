import Foundation
import KallimaCore

/// Decoded, resized 8-bit images of image folders, kept on disk so that a second load of an
/// unchanged folder maps one file instead of decoding every image.
///
/// One file per (folder contents, size, channels, limit): `<key>.kds` in `directory`, the key
/// a hash of the sorted file paths with their sizes and modification times, so adding,
/// removing, replacing or touching an image makes a new entry. A file is trusted only when
/// its header, length and checksum (over everything) are right; anything else (truncated,
/// corrupt, another version) is rebuilt, and the report says so. Files are written to a
/// temporary name and renamed into place (`AtomicFile`), so readers never see half a file.
///
/// Where: `$KALLIMA_DATASET_CACHE` if set (`off` or `0` disables caching), else
/// `$XDG_CACHE_HOME/kallima/datasets`, else `~/.cache/kallima/datasets`.
public struct DatasetCache: Sendable {
  public let directory: URL

  public init(directory: URL) { self.directory = directory }

  /// The cache the process environment asks for, or nil when it is disabled.
  public static var standard: DatasetCache? { configured(by: ProcessInfo.processInfo.environment) }

  /// The cache `environment` asks for (see the type's notes), or nil when it is disabled.
  public static func configured(by environment: [String: String]) -> DatasetCache? {
    if let setting = environment["KALLIMA_DATASET_CACHE"], !setting.isEmpty {
      if ["off", "0", "no", "false"].contains(setting.lowercased()) { return nil }
      return DatasetCache(directory: URL(fileURLWithPath: setting))
    }
    let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
      ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
    return DatasetCache(directory: base.appendingPathComponent("kallima/datasets"))
  }

  /// Bumped whenever decoding, resizing or the file layout changes, so old entries miss.
  static let version: UInt32 = 1
  static let magic = Array("KLMDSET\u{1}".utf8)

  /// What identifies a decoded folder: its files (paths relative to the folder, sizes,
  /// modification times to the nanosecond) and how they were brought to shape.
  public struct Key: Equatable, Sendable {
    public let value: UInt64

    public init(folder: String, files: [String], size: Int, channels: Int, limit: Int?) {
      var h = Fingerprint()
      h.add("kallima dataset cache v\(DatasetCache.version) size \(size) channels \(channels) limit \(limit ?? -1)")
      let prefix = folder.hasSuffix("/") ? folder : folder + "/"
      for file in files {
        var info = stat()
        let known = stat(file, &info) == 0
        h.add(file.hasPrefix(prefix) ? String(file.dropFirst(prefix.count)) : file)
        h.add(known ? "\(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)" : "unreadable")
      }
      value = h.value
    }
  }

  public enum Lookup {
    case hit(ImageDataset)
    case miss
    /// The entry was unusable and has been removed; the reason is for the dataset report.
    case rebuilt(String)
  }

  public func path(for key: Key) -> URL {
    directory.appendingPathComponent(String(format: "%016llx.kds", key.value))
  }

  /// The cached dataset for `key`, after checking the whole file.
  public func lookup(_ key: Key) -> Lookup {
    let url = path(for: key)
    guard FileManager.default.fileExists(atPath: url.path) else { return .miss }
    do {
      return .hit(try read(url, key: key))
    } catch {
      try? FileManager.default.removeItem(at: url)
      return .rebuilt("the dataset cache file \(url.path) was unusable (\(error)); the folder was decoded again")
    }
  }

  /// Writes `dataset` as the entry for `key` (atomically).
  public func store(_ dataset: ImageDataset, key: Key) throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let report = try encoder.encode(dataset.report)
    var file = Data(DatasetCache.magic)
    var header = Header(
      key: key.value, version: DatasetCache.version, count: UInt32(dataset.count), channels: UInt32(dataset.channels),
      size: UInt32(dataset.size), reportLength: UInt32(report.count))
    withUnsafeBytes(of: &header) { file.append(contentsOf: $0) }
    file.append(report)
    file.append(dataset.bytes)
    var sum = file.withUnsafeBytes { Fingerprint.checksum($0) }.littleEndian
    withUnsafeBytes(of: &sum) { file.append(contentsOf: $0) }
    try AtomicFile.write(file, to: path(for: key).path)
  }

  /// Little-endian header after the magic.
  struct Header {
    var key: UInt64
    var version: UInt32
    var count: UInt32
    var channels: UInt32
    var size: UInt32
    var reportLength: UInt32
    var reserved: UInt32 = 0
  }

  func read(_ url: URL, key: Key) throws -> ImageDataset {
    func bad(_ why: String) -> KallimaError { KallimaError.io(path: url.path, message: why) }
    let file = try Data(contentsOf: url, options: .alwaysMapped)
    let headerEnd = DatasetCache.magic.count + MemoryLayout<Header>.size
    guard file.count >= headerEnd + 8 else { throw bad("truncated: \(file.count) bytes is shorter than a header") }
    guard Array(file.prefix(DatasetCache.magic.count)) == DatasetCache.magic else { throw bad("not a Kallima dataset cache file") }
    let header = file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: DatasetCache.magic.count, as: Header.self) }
    guard header.version == DatasetCache.version else { throw bad("written by cache version \(header.version)") }
    guard header.key == key.value else { throw bad("holds another folder's images") }
    let samples = Int(header.count) * Int(header.channels) * Int(header.size) * Int(header.size)
    let reportEnd = headerEnd + Int(header.reportLength)
    let expected = reportEnd + samples + 8
    guard file.count == expected else { throw bad("truncated or padded: \(file.count) bytes, expected \(expected)") }
    let stored = file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: expected - 8, as: UInt64.self) }
    let actual = file.withUnsafeBytes { Fingerprint.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(expected - 8)])) }
    guard UInt64(littleEndian: stored) == actual else { throw bad("checksum mismatch (the file is corrupt)") }
    var report = try JSONDecoder().decode(ImageDataset.Report.self, from: file.subdata(in: headerEnd..<reportEnd))
    guard report.loaded == Int(header.count), report.size == Int(header.size), header.count > 0,
      header.channels == 1 || header.channels == 3
    else { throw bad("its report does not match its images") }
    report.notes.append("decoded images mapped from the cache \(url.path) (KALLIMA_DATASET_CACHE=off to decode)")
    let start = file.startIndex + reportEnd
    return ImageDataset(
      count: Int(header.count), channels: Int(header.channels), size: Int(header.size),
      bytes: file[start..<(start + samples)], labels: nil, report: report)
  }
}

/// 64-bit hashing for cache keys and file checksums (not cryptographic: it catches
/// truncation and corruption, not tampering).
struct Fingerprint {
  private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

  /// FNV-1a over the text's UTF-8 and a separator.
  mutating func add(_ text: String) {
    for b in text.utf8 { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    value = (value ^ 0xff) &* 0x0000_0100_0000_01b3
  }

  /// Four independent multiply-rotate lanes over 8-byte words (fast enough to check a
  /// multi-gigabyte file at memory speed), then the tail bytes and the length.
  static func checksum(_ raw: UnsafeRawBufferPointer) -> UInt64 {
    let prime: UInt64 = 0x9E37_79B1_85EB_CA87
    var lanes: (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4)
    let blocks = raw.count / 32
    for b in 0..<blocks {
      let o = b * 32
      lanes.0 = ((lanes.0 ^ raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)) &* prime).rotated(31)
      lanes.1 = ((lanes.1 ^ raw.loadUnaligned(fromByteOffset: o + 8, as: UInt64.self)) &* prime).rotated(31)
      lanes.2 = ((lanes.2 ^ raw.loadUnaligned(fromByteOffset: o + 16, as: UInt64.self)) &* prime).rotated(31)
      lanes.3 = ((lanes.3 ^ raw.loadUnaligned(fromByteOffset: o + 24, as: UInt64.self)) &* prime).rotated(31)
    }
    var h = lanes.0 &+ lanes.1.rotated(7) &+ lanes.2.rotated(12) &+ lanes.3.rotated(18)
    for i in (blocks * 32)..<raw.count { h = (h ^ UInt64(raw[i])) &* prime }
    return (h ^ UInt64(raw.count)) &* prime
  }
}

extension UInt64 {
  fileprivate func rotated(_ k: UInt64) -> UInt64 { (self << k) | (self >> (64 - k)) }
}
