import Foundation
import KallimaCore
import KallimaData
import Testing

/// `image`'s samples as planes (CHW), the order datasets store.
func planar(_ image: RGBImage) -> [UInt8] {
  var out: [UInt8] = []
  for c in 0..<image.channels {
    for y in 0..<image.height { for x in 0..<image.width { out.append(image[x, y, c]) } }
  }
  return out
}

/// Samples `range` of `data` as an array.
func samples(_ data: Data, _ range: Range<Int>) -> [UInt8] {
  Array(data[(data.startIndex + range.lowerBound)..<(data.startIndex + range.upperBound)])
}

/// An 8x8 RGB image, distinct per `seed` and side (`b` adds 100), no two samples alike within it.
func patch(_ seed: Int, b: Bool = false, size: Int = 8) throws -> RGBImage {
  try makeImage(width: size, height: size) { x, y, c in (seed * 7 + (b ? 100 : 0) + x * 3 + y * 17 + c * 5) % 256 }
}

/// `a` and `b` side by side (the aligned format).
func aligned(_ a: RGBImage, _ b: RGBImage) throws -> RGBImage {
  var pixels: [UInt8] = []
  for y in 0..<a.height {
    pixels += a.pixels[(y * a.width * 3)..<((y + 1) * a.width * 3)]
    pixels += b.pixels[(y * b.width * 3)..<((y + 1) * b.width * 3)]
  }
  return try RGBImage(width: a.width + b.width, height: a.height, channels: 3, pixels: pixels)
}

@Suite("Paired datasets (pix2pix): the aligned A|B format and A/ B/ folders, [M, 2C, H, W]")
struct PairedDatasetTests {
  @Test("aligned A|B files in train/: each pair's A planes are the left half, B the right; names sorted; BtoA swaps")
  func alignedRoundTrip() throws {
    let dir = try ScratchFolder()
    for n in [2, 0, 1] {
      try ImageIO.writePNG(try aligned(patch(n), patch(n, b: true)), to: try dir.file("train/\(n).png"))
    }
    try ImageIO.writePNG(try aligned(patch(9), patch(9, b: true)), to: try dir.file("test/9.png"))
    let pairs = try PairedDataset.load(path: dir.path, size: 8)
    #expect(pairs.count == 3 && pairs.channels == 3 && pairs.size == 8 && pairs.direction == .aToB)
    #expect(pairs.names == ["0.png", "1.png", "2.png"])
    #expect(pairs.bytes.count == 3 * 2 * 3 * 64 && pairs.pairBytes == 2 * 3 * 64)
    for n in 0..<3 {
      let base = n * pairs.pairBytes
      #expect(samples(pairs.bytes, base..<(base + 192)) == planar(try patch(n)), "pair \(n): A")
      #expect(samples(pairs.bytes, (base + 192)..<(base + 384)) == planar(try patch(n, b: true)), "pair \(n): B")
    }
    let swapped = try PairedDataset.load(path: dir.path, size: 8, direction: .bToA)
    for n in 0..<3 {
      let base = n * swapped.pairBytes
      #expect(samples(swapped.bytes, base..<(base + 192)) == planar(try patch(n, b: true)), "BtoA pair \(n): A slot")
      #expect(samples(swapped.bytes, (base + 192)..<(base + 384)) == planar(try patch(n)), "BtoA pair \(n): B slot")
    }
    #expect(swapped.report.notes.contains { $0.contains("BtoA") })
    // side(_:) splits the halves back into ImageDatasets.
    let b = pairs.side(.b)
    let secondB = planar(try patch(1, b: true))
    #expect(b.count == 3 && b.channels == 3 && samples(b.bytes, 192..<384) == secondB)
    // The test split; gray halves are the luma of each half.
    let test = try PairedDataset.load(path: dir.path, split: "test", size: 8, channels: 1)
    #expect(test.names == ["9.png"] && test.channels == 1)
    #expect(samples(test.bytes, 0..<64) == planar(try patch(9).luma()))
    #expect(samples(test.bytes, 64..<128) == planar(try patch(9, b: true).luma()))
    // A missing split names the ones present.
    let error = expectKallimaError { _ = try PairedDataset.load(path: dir.path, split: "val", size: 8) }
    #expect(
      error?.description.contains("has no val/ subfolder (found train/, test/)") == true, "\(String(describing: error))"
    )
  }

  @Test("aligned files directly in the folder; a limit; a resize to the load size (up-scaling noted)")
  func alignedFlatFolderResized() throws {
    let dir = try ScratchFolder()
    for n in 0..<3 { try ImageIO.writePNG(try aligned(patch(n), patch(n, b: true)), to: try dir.file("p\(n).png")) }
    let limited = try PairedDataset.load(path: dir.path, size: 8, limit: 2)
    #expect(limited.names == ["p0.png", "p1.png"] && limited.report.examined == 2)
    let up = try PairedDataset.load(path: dir.path, size: 12)
    let expectedA = try ImageResize.resizeAndCenterCrop(try patch(1), size: 12)
    #expect(samples(up.bytes, up.pairBytes..<(up.pairBytes + up.halfBytes)) == planar(expectedA))
    #expect(up.report.notes.contains("3 pairs were smaller than 12 and scaled up (bilinear)"), "\(up.report.notes)")
    let error = expectKallimaError { _ = try PairedDataset.load(path: dir.path, split: "test", size: 8) }
    #expect(error?.description.contains("has no test/ subfolder") == true)
  }

  @Test("a file whose width is not twice its height is an error naming it; an undecodable file is skipped")
  func alignedBadFiles() throws {
    let dir = try ScratchFolder()
    try ImageIO.writePNG(try aligned(patch(0), patch(0, b: true)), to: try dir.file("train/good.png"))
    try ImageIO.writePNG(try patch(1), to: try dir.file("train/square.png"))
    let error = expectKallimaError { _ = try PairedDataset.load(path: dir.path, size: 8) }
    let text = error?.description ?? ""
    #expect(text.contains("1 image is not A|B side by side (width must be 2 x height"), "\(text)")
    #expect(text.contains("train/square.png (8x8)") && text.contains("combine_A_and_B.py"), "\(text)")
    try FileManager.default.removeItem(atPath: try dir.file("train/square.png"))
    _ = try dir.write(Array("not a png".utf8), to: "train/broken.png")
    let pairs = try PairedDataset.load(path: dir.path, size: 8)
    #expect(pairs.names == ["good.png"] && pairs.report.skipped.count == 1 && pairs.report.unreadableCount == 1)
    #expect(pairs.report.skipped.first?.path.hasSuffix("train/broken.png") == true)
  }

  @Test("an empty folder, a missing folder and a file are errors that say what to pass")
  func alignedEmpty() throws {
    let dir = try ScratchFolder()
    try FileManager.default.createDirectory(atPath: try dir.file("train/x"), withIntermediateDirectories: true)
    let empty = expectKallimaError { _ = try PairedDataset.load(path: dir.path, size: 8) }
    #expect(
      empty?.description.contains("contains no .png, .jpg or .jpeg files") == true, "\(String(describing: empty))")
    let missing = expectKallimaError { _ = try PairedDataset.load(path: dir.path + "/nope", size: 8) }
    #expect(missing?.description.contains("no such folder; pass a pix2pix dataset folder") == true)
    let bad = expectKallimaError { _ = try PairedDataset.load(path: dir.path, size: 0) }
    #expect(bad?.description.contains("size is 0") == true)
  }

  @Test("A/ and B/ folders with train/: partners matched by relative name without extension, in A's order")
  func pairedFolders() throws {
    let dir = try ScratchFolder()
    // Pair k has A = patch(k), B = patch(k, b: true); B's extension differs in case.
    let names = ["1", "3", "x/2"]
    for (k, name) in names.enumerated() {
      try ImageIO.writePNG(try patch(k), to: try dir.file("A/train/\(name).png"))
      try ImageIO.writePNG(try patch(k, b: true), to: try dir.file("B/train/\(name).PNG"))
    }
    let pairs = try PairedDataset.load(path: dir.path, size: 8)
    #expect(pairs.names == ["1.png", "3.png", "x/2.png"])
    for k in 0..<3 {
      let base = k * pairs.pairBytes
      #expect(samples(pairs.bytes, base..<(base + 192)) == planar(try patch(k)), "pair \(k): A")
      #expect(samples(pairs.bytes, (base + 192)..<(base + 384)) == planar(try patch(k, b: true)), "pair \(k): B")
    }
    let swapped = try PairedDataset.load(path: dir.path, size: 8, direction: .bToA)
    #expect(samples(swapped.bytes, 0..<192) == planar(try patch(0, b: true)))
  }

  @Test("unpartnered files on either side are listed (10, then a count); a name twice on one side is an error")
  func pairedFoldersErrors() throws {
    let dir = try ScratchFolder()
    try ImageIO.writePNG(try patch(0), to: try dir.file("A/common.png"))
    try ImageIO.writePNG(try patch(0), to: try dir.file("B/common.png"))
    for n in 0..<12 { try ImageIO.writePNG(try patch(n), to: try dir.file("A/a\(String(format: "%02d", n)).png")) }
    try ImageIO.writePNG(try patch(0), to: try dir.file("B/only-b.png"))
    let error = expectKallimaError { _ = try PairedDataset.load(path: dir.path, size: 8) }
    let text = error?.description ?? ""
    #expect(text.contains("12 A files have no B partner in \(dir.path)/B: a00.png, a01.png"), "\(text)")
    #expect(text.contains("a09.png (and 2 more)") && !text.contains("a10.png"), "\(text)")
    #expect(text.contains("1 B file has no A partner in \(dir.path)/A: only-b.png"), "\(text)")

    let twice = try ScratchFolder()
    try ImageIO.writePNG(try patch(0), to: try twice.file("A/1.png"))
    try ImageIO.writeJPEG(try patch(0), to: try twice.file("A/1.jpg"))
    try ImageIO.writePNG(try patch(0), to: try twice.file("B/1.png"))
    let repeated = expectKallimaError { _ = try PairedDataset.load(path: twice.path, size: 8) }
    #expect(repeated?.description.contains("A has 1 name with two files: 1.jpg and 1.png") == true)

    let lonely = try ScratchFolder()
    try ImageIO.writePNG(try patch(0), to: try lonely.file("A/1.png"))
    let noB = expectKallimaError { _ = try PairedDataset.load(path: lonely.path, size: 8) }
    #expect(noB?.description.contains("has an A folder but no B folder") == true)
  }
}
