import Foundation
import KallimaCore
import KallimaData
import Testing

@Suite("The decoded-dataset cache")
struct DatasetCacheTests {
  /// Five 16x12 PNGs with distinct content, and a cache in its own folder.
  func setUp() throws -> (images: ScratchFolder, cache: DatasetCache, scratch: ScratchFolder) {
    let images = try ScratchFolder()
    for i in 0..<5 {
      try ImageIO.writePNG(
        try makeImage(width: 16, height: 12) { x, y, c in (x * 13 + y * 7 + c * 50 + i * 31) % 256 },
        to: try images.file("img\(i).png"))
    }
    let scratch = try ScratchFolder()
    return (images, DatasetCache(directory: URL(fileURLWithPath: scratch.path).appendingPathComponent("cache")), scratch)
  }

  func cached(_ data: ImageDataset) -> Bool { data.report.notes.contains { $0.contains("mapped from the cache") } }

  @Test("a second load maps the cache: same images, same report")
  func hit() throws {
    let (images, cache, _) = try setUp()
    let first = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)
    let second = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)
    let uncached = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: nil)
    #expect(!cached(first) && cached(second))
    #expect(second.bytes == first.bytes && first.bytes == uncached.bytes && second.count == 5)
    #expect(second.pixels == uncached.pixels)
    #expect(second.report.loaded == first.report.loaded && second.report.source == first.report.source)
    // Another size, channel count or limit is another entry.
    #expect(!cached(try ImageDataset.load(path: images.path, size: 4, channels: nil, cache: cache)))
    #expect(!cached(try ImageDataset.load(path: images.path, size: 8, channels: 1, cache: cache)))
    #expect(!cached(try ImageDataset.load(path: images.path, size: 8, channels: nil, limit: 2, cache: cache)))
  }

  @Test("idx3 files are cached too: same images and labels as decoding; a rewritten file misses; labels are checked on a hit")
  func idx() throws {
    let (_, cache, _) = try setUp()
    let dir = try ScratchFolder()
    let images = try IDX.Images(count: 6, rows: 3, columns: 3, pixels: (0..<54).map { UInt8(($0 * 37) % 256) })
    let path = try dir.write(IDX.encode(images), to: "train-images-idx3-ubyte")
    _ = try dir.write(IDX.encode(labels: [5, 4, 3, 2, 1, 0]), to: "train-labels-idx1-ubyte")
    let first = try ImageDataset.load(path: dir.path, size: 4, channels: nil, limit: 5, cache: cache)
    let second = try ImageDataset.load(path: dir.path, size: 4, channels: nil, limit: 5, cache: cache)
    let uncached = try ImageDataset.load(path: dir.path, size: 4, channels: nil, limit: 5, cache: nil)
    #expect(!cached(first) && cached(second))
    #expect(second.bytes == uncached.bytes && first.bytes == uncached.bytes && second.count == 5)
    #expect(second.labels == [5, 4, 3, 2, 1] && first.labels == second.labels && uncached.labels == second.labels)
    #expect(second.report.source == uncached.report.source && second.report.candidates == 6)
    // Another size is another entry; a rewritten file (new content, same name) misses.
    #expect(!cached(try ImageDataset.load(path: path, size: 3, channels: nil, cache: cache)))
    let changed = try IDX.Images(count: 6, rows: 3, columns: 3, pixels: (0..<54).map { UInt8(($0 * 11) % 256) })
    usleep(10_000)
    _ = try dir.write(IDX.encode(changed), to: "train-images-idx3-ubyte")
    let reloaded = try ImageDataset.load(path: dir.path, size: 4, channels: nil, limit: 5, cache: cache)
    #expect(!cached(reloaded))
    #expect(reloaded.bytes == (try ImageDataset.load(path: dir.path, size: 4, channels: nil, limit: 5, cache: nil)).bytes)
    // A labels file that no longer matches the cached images is refused, as when decoding.
    _ = try dir.write(IDX.encode(labels: [1, 2, 3]), to: "train-labels-idx1-ubyte")
    let refused = expectKallimaError { _ = try ImageDataset.load(path: dir.path, size: 4, channels: nil, limit: 5, cache: cache) }
    #expect(refused.map { "\($0)" }?.contains("holds 3 labels but") == true, "\(String(describing: refused))")
  }

  @Test("a changed folder misses: an added file, a rewritten file")
  func changes() throws {
    let (images, cache, _) = try setUp()
    _ = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)
    try ImageIO.writePNG(try makeImage(width: 16, height: 12) { _, _, _ in 1 }, to: try images.file("z.png"))
    let added = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)
    #expect(!cached(added) && added.count == 6)
    // Same name, new content (and so a new size or modification time).
    try ImageIO.writePNG(try makeImage(width: 16, height: 12) { _, _, _ in 200 }, to: try images.file("z.png"))
    let rewritten = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)
    #expect(!cached(rewritten))
    #expect(rewritten.pixels.suffix(3 * 64).allSatisfy { $0 == DataOrder.unit(200) })
  }

  /// The cache folder's `.kds` entries and temporary files.
  func entries(_ cache: DatasetCache) -> (files: [String], temporaries: [String]) {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: cache.directory.path)) ?? []
    return (names.filter { $0.hasSuffix(".kds") }.map { cache.directory.appendingPathComponent($0).path },
      names.filter { $0.contains(".tmp") })
  }

  @Test("a miss decodes into the cache file and maps it: the same bytes as decoding in memory, over several chunks")
  func missMapsTheFile() throws {
    // 4 unreadable files sort first, then 64 images; `limit: 64` makes the decode take two
    // chunks (64 files with 60 usable, then the 4 still wanted), and the 5x5 RGB stride (75
    // bytes) leaves the checksum partial blocks to carry between pieces.
    let images = try ScratchFolder()
    for i in 0..<4 { _ = try images.write([0x89, 0x50, 0x4E, 0x47, UInt8(i)], to: "a\(i).png") }
    for i in 0..<64 {
      try ImageIO.writePNG(
        try makeImage(width: 7, height: 6) { x, y, c in (x * 29 + y * 11 + c * 70 + i * 37) % 256 },
        to: try images.file(String(format: "b%02d.png", i)))
    }
    let scratch = try ScratchFolder()
    let cache = DatasetCache(directory: URL(fileURLWithPath: scratch.path).appendingPathComponent("cache"))
    let inMemory = try ImageDataset.load(path: images.path, size: 5, channels: nil, limit: 64, cache: nil)
    let first = try ImageDataset.load(path: images.path, size: 5, channels: nil, limit: 64, cache: cache)
    #expect(first.count == 64 && first.report.skipped.count == 4 && inMemory.count == 64)
    #expect(first.bytes == inMemory.bytes)
    #expect(first.report.notes.contains { $0.contains("decoded into the cache") } && !cached(first))
    let (files, temporaries) = entries(cache)
    #expect(files.count == 1 && temporaries.isEmpty, "\(files) \(temporaries)")
    // magic (8) + samples + report + header (32) + checksum (8).
    let size = try FileManager.default.attributesOfItem(atPath: files[0])[.size] as? Int ?? 0
    #expect(size > 8 + 64 * 75 + 32 + 8)
    #if os(Linux)
    // The samples are the file's pages, not a copy in memory.
    let address = first.bytes.withUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }
    // Read to the end: /proc files report a size of 0.
    let procMaps = try #require(FileHandle(forReadingAtPath: "/proc/self/maps")).readDataToEndOfFile()
    let maps = String(decoding: procMaps, as: UTF8.self).split(separator: "\n")
    let mapping = maps.first { line in
      let range = line.prefix { $0 != " " }.split(separator: "-").compactMap { UInt($0, radix: 16) }
      return range.count == 2 && range[0] <= address && address < range[1]
    }
    let real = URL(fileURLWithPath: files[0]).resolvingSymlinksInPath().path
    #expect(mapping?.hasSuffix(" " + real) == true, "\(String(describing: mapping)) is not \(real)")
    #endif
    let second = try ImageDataset.load(path: images.path, size: 5, channels: nil, limit: 64, cache: cache)
    #expect(cached(second) && second.bytes == inMemory.bytes && second.report.skipped.count == 4)
  }

  @Test("a decode with no usable image leaves no cache file and no temporary; dead writers' temporaries are removed")
  func failedDecodeLeavesNothing() throws {
    let images = try ScratchFolder()
    for i in 0..<3 { _ = try images.write([1, 2, 3, UInt8(i)], to: "bad\(i).png") }
    let scratch = try ScratchFolder()
    let cache = DatasetCache(directory: URL(fileURLWithPath: scratch.path).appendingPathComponent("cache"))
    try FileManager.default.createDirectory(at: cache.directory, withIntermediateDirectories: true)
    // A writer killed part way (its pid no longer runs) left this behind.
    let leftover = cache.directory.appendingPathComponent(".0123456789abcdef.kds.tmp.999999999").path
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: leftover))
    let error = expectKallimaError { _ = try ImageDataset.load(path: images.path, size: 4, channels: nil, cache: cache) }
    #expect(error.map { "\($0)".contains("none of the 3 image files is usable") } == true, "\(String(describing: error))")
    let (files, temporaries) = entries(cache)
    #expect(files.isEmpty && temporaries.isEmpty, "\(files) \(temporaries)")
  }

  @Test("a cache that cannot be written decodes in memory and says so")
  func unwritable() throws {
    let (images, _, scratch) = try setUp()
    // The cache folder's path is taken by a file, so the folder cannot be made.
    let blocked = try scratch.write([1], to: "cache")
    let cache = DatasetCache(directory: URL(fileURLWithPath: blocked))
    let loaded = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)
    #expect(loaded.bytes == (try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: nil)).bytes)
    #expect(loaded.report.notes.contains { $0.contains("could not write the dataset cache") }, "\(loaded.report)")
  }

  @Test("a corrupt or truncated cache file is detected, removed and rebuilt, never trusted")
  func corrupt() throws {
    let (images, cache, _) = try setUp()
    _ = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)
    let good = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: nil)
    let files = entries(cache).files
    #expect(files.count == 1)
    let path = files[0]
    let original = try readBytes(path)
    // Layout: magic (8) | samples | report | header (32) | checksum (8).
    func flipped(_ offset: Int) -> [UInt8] { var b = original; b[offset] ^= 0x10; return b }
    let damages: [(String, [UInt8])] = [
      ("one flipped sample", flipped(8 + 100)),
      ("a flipped report byte", flipped(8 + good.bytes.count + 3)),
      ("a flipped header byte (the count)", flipped(original.count - 8 - 32 + 12)),
      ("a flipped checksum byte", flipped(original.count - 1)),
      ("another layout version", flipped(7)),
      ("truncated", Array(original.prefix(original.count - 7))),
      ("truncated to its samples", Array(original.prefix(8 + good.bytes.count))),
      ("padded", original + [0]),
      ("empty", []),
      ("header only", Array(original.prefix(20))),
    ]
    for (what, bytes) in damages {
      // Replaced, not rewritten in place, as the cache itself does: a loaded dataset maps
      // its file, and rewriting a mapped file changes what the mapping shows.
      try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
      let again = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)
      #expect(!cached(again), "\(what): the damaged file was trusted")
      #expect(again.report.notes.contains { $0.contains("was unusable") && $0.contains(path) }, "\(what): \(again.report)")
      #expect(again.bytes == good.bytes, "\(what)")
      // Rebuilt: the next load maps the new, intact file.
      #expect(cached(try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)), "\(what)")
    }
  }

  @Test("KALLIMA_DATASET_CACHE picks the folder or turns the cache off; XDG_CACHE_HOME is the default's base")
  func environment() {
    #expect(DatasetCache.configured(by: ["KALLIMA_DATASET_CACHE": "off", "XDG_CACHE_HOME": "/tmp/xdg"]) == nil)
    #expect(DatasetCache.configured(by: ["KALLIMA_DATASET_CACHE": "0"]) == nil)
    #expect(DatasetCache.configured(by: ["KALLIMA_DATASET_CACHE": "/tmp/somewhere"])?.directory.path == "/tmp/somewhere")
    #expect(DatasetCache.configured(by: ["XDG_CACHE_HOME": "/tmp/xdg"])?.directory.path == "/tmp/xdg/kallima/datasets")
    let home = FileManager.default.homeDirectoryForCurrentUser.path
    #expect(DatasetCache.configured(by: [:])?.directory.path == home + "/.cache/kallima/datasets")
  }
}
