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

  @Test("a corrupt or truncated cache file is detected, removed and rebuilt, never trusted")
  func corrupt() throws {
    let (images, cache, _) = try setUp()
    let good = try ImageDataset.load(path: images.path, size: 8, channels: nil, cache: cache)
    let files = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path).filter { $0.hasSuffix(".kds") }
    #expect(files.count == 1)
    let path = cache.directory.appendingPathComponent(files[0]).path
    let original = try readBytes(path)
    let damages: [(String, [UInt8])] = [
      ("one flipped sample", { var b = original; b[b.count - 100] ^= 0x10; return b }()),
      ("truncated", Array(original.prefix(original.count - 7))),
      ("empty", []),
      ("header only", Array(original.prefix(20))),
    ]
    for (what, bytes) in damages {
      try Data(bytes).write(to: URL(fileURLWithPath: path))
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
