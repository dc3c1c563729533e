import Foundation
import KallimaCore

/// Decoded, resized 8-bit images of image folders and idx3 files, kept on disk so that a
/// second load of an unchanged source maps one file instead of decoding every image.
///
/// One file per (source contents, size, channels, limit): `<key>.kds` in `directory`, the key
/// a hash of the sorted file paths (an idx3 file: its path) with their sizes and modification times, so adding,
/// removing, replacing or touching an image makes a new entry. A file is trusted only when
/// its header, length and checksum (over everything) are right; anything else (truncated,
/// corrupt, another version) is rebuilt, and the report says so. A miss decodes straight
/// into a temporary file that is renamed into place when complete (`Entry`), so host memory
/// holds one chunk of images, not the set, and readers never see half a file.
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
  static let version: UInt32 = 2
  /// "KLMDSET" and the layout version.
  static let magic = Array("KLMDSET".utf8) + [UInt8(version)]

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

    /// The key of an idx3 images file (its path, size and modification time).
    public init(idx path: String, size: Int, channels: Int, limit: Int?) {
      var h = Fingerprint()
      h.add("kallima dataset cache v\(DatasetCache.version) idx size \(size) channels \(channels) limit \(limit ?? -1)")
      var info = stat()
      let known = stat(path, &info) == 0
      h.add((path as NSString).standardizingPath)
      h.add(known ? "\(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)" : "unreadable")
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
      var dataset = try read(url, key: key, verify: true)
      dataset.report.notes.append("decoded images mapped from the cache \(url.path) (KALLIMA_DATASET_CACHE=off to decode)")
      return .hit(dataset)
    } catch {
      try? FileManager.default.removeItem(at: url)
      return .rebuilt("the dataset cache file \(url.path) was unusable (\(error)); the images were decoded again")
    }
  }

  /// Starts writing the entry for `key`; see `Entry`. Removes temporary files that killed
  /// writers left in the cache folder.
  func entry(for key: Key) throws -> Entry {
    do {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
      throw WriteFailure(path: directory.path, reason: "cannot create the cache folder: \(error)")
    }
    AtomicFileWriter.removeLeftoverTemporaries(inDirectory: directory.path)
    return try Entry(cache: self, key: key)
  }

  /// Why an entry could not be written (a full disk, a read-only folder); the load then
  /// decodes in memory instead.
  struct WriteFailure: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "\(path): \(reason)" }
  }

  /// A cache file being written as the folder decodes, so that host memory holds one chunk
  /// of images, not the set. Layout (integers little-endian):
  ///
  ///     magic | samples (NCHW, 8-bit) | report (JSON) | Header | checksum of all before it (UInt64)
  ///
  /// The samples come first so they go to disk as they are decoded; the report and the
  /// header follow once the counts are known, and the checksum is computed on the way. The
  /// file is `<dir>/.<key>.kds.tmp.<pid>` until `finish` renames it into place; `discard`
  /// (or the next writer, after a kill) removes it, so the entry's own name only ever holds
  /// a complete file.
  final class Entry {
    let cache: DatasetCache
    let key: Key
    let url: URL
    let temporary: String
    private var handle: FileHandle?
    private var checksum = Checksum()

    fileprivate init(cache: DatasetCache, key: Key) throws {
      (self.cache, self.key, url) = (cache, key, cache.path(for: key))
      temporary = cache.directory
        .appendingPathComponent(AtomicFileWriter.temporaryPrefix(for: url.lastPathComponent) + "\(getpid())").path
      // Exclusive: another thread of this process writing the same entry makes this one fail
      // (and decode in memory) rather than interleave with it.
      let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
      guard fd >= 0 else { throw WriteFailure(path: temporary, reason: String(cString: strerror(errno))) }
      handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
      try append(Data(DatasetCache.magic))
    }

    deinit { discard() }

    /// Appends `bytes` to the file and the checksum.
    func append(_ bytes: Data) throws {
      guard let handle else { throw WriteFailure(path: temporary, reason: "already finished or discarded") }
      do {
        try handle.write(contentsOf: bytes)
      } catch {
        throw WriteFailure(path: temporary, reason: "\(error)")
      }
      bytes.withUnsafeBytes { checksum.add($0) }
    }

    /// Appends the report, header and checksum, moves the file into place (`AtomicFile`) and
    /// returns the dataset mapped from it, as a cache hit would.
    func finish(report: ImageDataset.Report, channels: Int, size: Int) throws -> ImageDataset {
      let encoder = JSONEncoder()
      encoder.outputFormatting = .sortedKeys
      let json = try encoder.encode(report)
      var header = Header(
        key: key.value, version: DatasetCache.version, count: UInt32(report.loaded), channels: UInt32(channels),
        size: UInt32(size), reportLength: UInt32(json.count))
      try append(json)
      try append(withUnsafeBytes(of: &header) { Data($0) })
      var sum = checksum.value.littleEndian
      try append(withUnsafeBytes(of: &sum) { Data($0) })
      do {
        try handle?.close()
        handle = nil
        try AtomicFile.moveIntoPlace(temporary, to: url.path)
        // Checked by length and header; the checksum was just computed from these bytes.
        var dataset = try cache.read(url, key: key, verify: false)
        dataset.report.notes.append("decoded into the cache \(url.path) (KALLIMA_DATASET_CACHE=off keeps them in memory)")
        return dataset
      } catch {
        try? FileManager.default.removeItem(at: url)
        throw WriteFailure(path: url.path, reason: "\(error)")
      }
    }

    /// Closes and removes the unfinished file (nothing once `finish` has moved it).
    func discard() {
      try? handle?.close()
      handle = nil
      unlink(temporary)
    }
  }

  /// Little-endian header, before the checksum at the end of the file.
  struct Header {
    var key: UInt64
    var version: UInt32
    var count: UInt32
    var channels: UInt32
    var size: UInt32
    var reportLength: UInt32
    var reserved: UInt32 = 0
  }

  /// The dataset in the cache file `url`; `verify` checks the checksum over the whole file.
  func read(_ url: URL, key: Key, verify: Bool) throws -> ImageDataset {
    func bad(_ why: String) -> KallimaError { KallimaError.io(path: url.path, message: why) }
    let file = try Data(contentsOf: url, options: .alwaysMapped)
    let samplesStart = DatasetCache.magic.count
    let trailer = MemoryLayout<Header>.size + 8
    guard file.count >= samplesStart + trailer else { throw bad("truncated: \(file.count) bytes is shorter than a header") }
    guard Array(file.prefix(samplesStart)) == DatasetCache.magic else {
      throw bad("not a Kallima dataset cache file of version \(DatasetCache.version)")
    }
    if verify {
      let stored = file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: file.count - 8, as: UInt64.self) }
      var actual = Checksum()
      file.withUnsafeBytes { actual.add(UnsafeRawBufferPointer(rebasing: $0.dropLast(8))) }
      guard UInt64(littleEndian: stored) == actual.value else { throw bad("checksum mismatch (the file is truncated or corrupt)") }
    }
    let header = file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: file.count - trailer, as: Header.self) }
    guard header.version == DatasetCache.version else { throw bad("written by cache version \(header.version)") }
    guard header.key == key.value else { throw bad("holds another folder's images") }
    let samples = Int(header.count) * Int(header.channels) * Int(header.size) * Int(header.size)
    let reportEnd = samplesStart + samples + Int(header.reportLength)
    guard file.count == reportEnd + trailer else {
      throw bad("truncated or padded: \(file.count) bytes, expected \(reportEnd + trailer)")
    }
    let report = try JSONDecoder().decode(
      ImageDataset.Report.self, from: file.subdata(in: (samplesStart + samples)..<reportEnd))
    guard report.loaded == Int(header.count), report.size == Int(header.size), header.count > 0,
      header.channels == 1 || header.channels == 3
    else { throw bad("its report does not match its images") }
    let start = file.startIndex + samplesStart
    return ImageDataset(
      count: Int(header.count), channels: Int(header.channels), size: Int(header.size),
      bytes: file[start..<(start + samples)], labels: nil, report: report)
  }
}

/// 64-bit hashing for cache keys (not cryptographic).
struct Fingerprint {
  private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

  /// FNV-1a over the text's UTF-8 and a separator.
  mutating func add(_ text: String) {
    for b in text.utf8 { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    value = (value ^ 0xff) &* 0x0000_0100_0000_01b3
  }
}

/// The cache file's checksum, fed in pieces: four independent multiply-rotate lanes over
/// 8-byte words (fast enough to check a multi-gigabyte file at memory speed), then the tail
/// bytes and the length. Not cryptographic: it catches truncation and corruption.
struct Checksum {
  private static let prime: UInt64 = 0x9E37_79B1_85EB_CA87
  private var lanes: (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4)
  /// The start of an unfinished 32-byte block, carried to the next `add`.
  private var pending: [UInt8] = []
  private var length = 0

  mutating func add(_ raw: UnsafeRawBufferPointer) {
    length += raw.count
    var rest = raw
    if !pending.isEmpty {
      let take = min(32 - pending.count, raw.count)
      pending.append(contentsOf: raw.prefix(take))
      rest = UnsafeRawBufferPointer(rebasing: raw[take...])
      guard pending.count == 32 else { return }
      pending.withUnsafeBytes { mix($0, blocks: 1) }
      pending.removeAll(keepingCapacity: true)
    }
    let blocks = rest.count / 32
    mix(rest, blocks: blocks)
    pending.append(contentsOf: rest[(blocks * 32)...])
  }

  private mutating func mix(_ raw: UnsafeRawBufferPointer, blocks: Int) {
    var l = lanes
    for b in 0..<blocks {
      let o = b * 32
      l.0 = ((l.0 ^ raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)) &* Checksum.prime).rotated(31)
      l.1 = ((l.1 ^ raw.loadUnaligned(fromByteOffset: o + 8, as: UInt64.self)) &* Checksum.prime).rotated(31)
      l.2 = ((l.2 ^ raw.loadUnaligned(fromByteOffset: o + 16, as: UInt64.self)) &* Checksum.prime).rotated(31)
      l.3 = ((l.3 ^ raw.loadUnaligned(fromByteOffset: o + 24, as: UInt64.self)) &* Checksum.prime).rotated(31)
    }
    lanes = l
  }

  /// The checksum of everything added so far.
  var value: UInt64 {
    var h = lanes.0 &+ lanes.1.rotated(7) &+ lanes.2.rotated(12) &+ lanes.3.rotated(18)
    for byte in pending { h = (h ^ UInt64(byte)) &* Checksum.prime }
    return (h ^ UInt64(length)) &* Checksum.prime
  }
}

extension UInt64 {
  fileprivate func rotated(_ k: UInt64) -> UInt64 { (self << k) | (self >> (64 - k)) }
}
