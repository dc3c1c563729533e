import Foundation
import KallimaCore
import KallimaData
import Testing

@Suite("Loading datasets: image folders and idx files")
struct ImageDatasetTests {
  /// A folder with usable images of several kinds plus files that must be skipped.
  func mixedFolder() throws -> ScratchFolder {
    let dir = try ScratchFolder()
    // Usable, in sorted path order: a/one.png (8x8 red), b/deep/two.JPG (12x8 gray 200), c.jpeg (8x10 blue).
    try ImageIO.writePNG(try makeImage(width: 8, height: 8) { _, _, c in c == 0 ? 255 : 0 }, to: try dir.file("a/one.png"))
    try ImageIO.writeJPEG(
      try makeImage(width: 12, height: 8) { _, _, _ in 200 }, to: try dir.file("b/deep/two.JPG"), quality: 98)
    try ImageIO.writePNG(try makeImage(width: 8, height: 10) { _, _, c in c == 2 ? 255 : 0 }, to: try dir.file("c.jpeg"))
    // Skipped: random bytes named .png, a truncated JPEG, an image smaller than 8 on its shorter side.
    var noise = RandomNumberGenerator64(seed: 11)
    _ = try dir.write((0..<500).map { _ in UInt8(noise.next() % 256) }, to: "b/corrupt.png")
    let jpeg = try dir.file("full.jpg")
    try ImageIO.writeJPEG(try makeImage(width: 32, height: 32) { _, _, _ in Int(noise.next() % 256) }, to: jpeg)
    _ = try dir.write(Array(try readBytes(jpeg).prefix(300)), to: "b/truncated.jpg")
    try FileManager.default.removeItem(atPath: jpeg)
    try ImageIO.writePNG(try makeImage(width: 20, height: 7) { _, _, _ in 9 }, to: try dir.file("small.png"))
    // Ignored: not an image extension.
    _ = try dir.write([1, 2, 3], to: "notes.txt")
    return dir
  }

  @Test("A folder: sorted order, corrupt/truncated/small files skipped and counted, NCHW in [-1, 1]")
  func folder() throws {
    let dir = try mixedFolder()
    let data = try ImageDataset.load(path: dir.path, size: 8, channels: nil, cache: nil)
    #expect(data.count == 3 && data.channels == 3 && data.size == 8 && data.labels == nil)
    #expect(data.pixels.count == 3 * 3 * 8 * 8)
    #expect(data.pixels.allSatisfy { (-1...1).contains($0) })
    let plane = 64
    // Image 0 (red): R plane all 1, G and B planes all -1.
    #expect(data.pixels[0..<plane].allSatisfy { $0 == 1 })
    #expect(data.pixels[plane..<(3 * plane)].allSatisfy { $0 == -1 })
    // Image 1 (JPEG gray 200): every channel near 200 / 127.5 - 1.
    #expect(data.pixels[(3 * plane)..<(6 * plane)].allSatisfy { abs($0 - (200 / 127.5 - 1)) < 0.05 })
    // Image 2 (blue, a PNG despite its .jpeg name): B plane 1.
    #expect(data.pixels[(8 * plane)..<(9 * plane)].allSatisfy { $0 == 1 })

    let report = data.report
    #expect(report.source == .folder(dir.path))
    #expect(report.candidates == 6 && report.examined == 6 && report.loaded == 3)
    #expect(report.unreadableCount == 2 && report.tooSmallCount == 1)
    #expect(report.skipped.map { ($0.path as NSString).lastPathComponent } == ["corrupt.png", "truncated.jpg", "small.png"])
    #expect(report.skipped.last?.reason == .tooSmall(width: 20, height: 7))
    #expect(report.description.contains("skipped 3: 2 unreadable, 1 too small"), "\(report)")
  }

  @Test("channels: 1 converts to luma; limit stops after the first usable images")
  func grayAndLimit() throws {
    let dir = try mixedFolder()
    let gray = try ImageDataset.load(path: dir.path, size: 8, channels: 1, cache: nil)
    #expect(gray.channels == 1 && gray.pixels.count == 3 * 64)
    // Red (255, 0, 0) has luma round(0.299 * 255) = 76.
    #expect(gray.pixels[0] == 76 / 127.5 - 1)
    let limited = try ImageDataset.load(path: dir.path, size: 8, channels: nil, limit: 2, cache: nil)
    #expect(limited.count == 2)
    #expect(limited.report.examined == 3 && limited.report.skipped.count == 1)  // a/one, b/corrupt, b/deep/two
    let everything = try ImageDataset.load(path: dir.path, size: 8, channels: 3, cache: nil)
    #expect(limited.pixels == Array(everything.pixels.prefix(2 * 3 * 64)))
    let resized = try ImageDataset.load(path: dir.path, size: 4, channels: 3, limit: 1, cache: nil)
    #expect(resized.count == 1 && resized.size == 4 && resized.pixels.count == 3 * 16)
  }

  @Test("Empty folder, folder without usable images, missing path and bad arguments are clear errors")
  func errors() throws {
    let empty = try ScratchFolder()
    _ = try empty.write([0], to: "readme.txt")
    let none = expectKallimaError { _ = try ImageDataset.load(path: empty.path, size: 8, channels: nil, cache: nil) }
    guard case .io(let path, let message)? = none else {
      Issue.record("expected .io, got \(String(describing: none))")
      return
    }
    #expect(path == empty.path)
    #expect(message.contains("no .png, .jpg or .jpeg files"))

    let unusable = try ScratchFolder()
    _ = try unusable.write([1, 2, 3], to: "x.png")
    try ImageIO.writePNG(try makeImage(width: 4, height: 4) { _, _, _ in 0 }, to: try unusable.file("tiny.png"))
    let error = expectKallimaError { _ = try ImageDataset.load(path: unusable.path, size: 8, channels: nil, cache: nil) }
    #expect(error?.description.contains("none of the 2 image files is usable (1 unreadable, 1 smaller") == true, "\(String(describing: error))")

    let missing = expectKallimaError { _ = try ImageDataset.load(path: empty.path + "/nowhere", size: 8, channels: nil, cache: nil) }
    #expect(missing?.description.contains("no such file or folder") == true)
    #expect(missing?.description.contains(empty.path + "/nowhere") == true)

    for (size, channels, limit) in [(0, nil, nil), (8, 2, nil), (8, nil, 0)] as [(Int, Int?, Int?)] {
      let bad = expectKallimaError { _ = try ImageDataset.load(path: empty.path, size: size, channels: channels, limit: limit, cache: nil) }
      if case .invalidArgument? = bad {} else { Issue.record("expected invalidArgument, got \(String(describing: bad))") }
    }
  }

  @Test("idx: a file, a folder holding train-*-ubyte.gz with labels; 2x3 images resized up to 4")
  func idx() throws {
    let dir = try ScratchFolder()
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
      let source = try fixture(name.replacingOccurrences(of: "train", with: "tiny"))
      try FileManager.default.copyItem(atPath: source, toPath: try dir.file(name))
    }
    let fromFolder = try ImageDataset.load(path: dir.path, size: 4, channels: nil, cache: nil)
    #expect(fromFolder.count == 2 && fromFolder.channels == 1 && fromFolder.size == 4)
    #expect(fromFolder.labels == [7, 3])
    #expect(fromFolder.pixels.count == 2 * 16)
    #expect(fromFolder.report.notes.first?.contains("resized up (bilinear) to 4x4") == true, "\(fromFolder.report)")
    // Image 0 is [[0, 10, 20], [30, 40, 50]]: shorter side 2 -> 4 (bilinear), longer 3 -> 6, crop columns 1...4.
    let direct = try ImageResize.resizeAndCenterCrop(
      try RGBImage(width: 3, height: 2, channels: 1, pixels: [0, 10, 20, 30, 40, 50]), size: 4)
    #expect(Array(fromFolder.pixels.prefix(16)) == direct.pixels.map { Float($0) / 127.5 - 1 })

    let fromFile = try ImageDataset.load(
      path: dir.path + "/train-images-idx3-ubyte.gz", size: 4, channels: 3, limit: 1, cache: nil)
    #expect(fromFile.count == 1 && fromFile.channels == 3 && fromFile.labels == [7])
    #expect(Array(fromFile.pixels[16..<32]) == Array(fromFolder.pixels.prefix(16)))
    #expect(fromFile.report.source == .idx(images: dir.path + "/train-images-idx3-ubyte.gz", labels: dir.path + "/train-labels-idx1-ubyte.gz"))

    // Labels that do not match the images are an error naming the labels file.
    try Gzip.write(IDX.encode(labels: [1, 2, 3]), to: dir.path + "/train-labels-idx1-ubyte.gz")
    let mismatch = expectKallimaError { _ = try ImageDataset.load(path: dir.path, size: 4, channels: nil, cache: nil) }
    #expect(mismatch?.description.contains("holds 3 labels but") == true)

    // A file that is neither idx nor a folder.
    let text = try dir.write(Array("hello, world!!!!".utf8), to: "other.bin")
    expectKallimaError { _ = try ImageDataset.load(path: text, size: 4, channels: nil, cache: nil) }
  }

  static let fashionMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

  // Fails rather than skips when the file is missing: Scripts/setup.sh installs it.
  @Test("Fashion-MNIST: the first 100 training images at 32x32, with labels")
  func fashionMNISTFirst100() throws {
    try #require(
      FileManager.default.fileExists(atPath: Self.fashionMNIST),
      "\(Self.fashionMNIST) is missing; run Scripts/setup.sh (it installs dataset-fashion-mnist)")
    let data = try ImageDataset.load(path: Self.fashionMNIST, size: 32, channels: nil, limit: 100, cache: nil)
    #expect(data.count == 100 && data.channels == 1 && data.size == 32)
    #expect(data.pixels.count == 100 * 32 * 32)
    #expect(data.pixels.allSatisfy { (-1...1).contains($0) })
    #expect(data.pixels.contains(-1) && data.pixels.contains { $0 > 0.9 })
    let labels = try #require(data.labels)
    #expect(labels.count == 100 && labels.allSatisfy { (0...9).contains($0) })
    #expect(Set(labels).count == 10)
    #expect(data.report.candidates == 60000 && data.report.loaded == 100)
    // The same through the folder form.
    let viaFolder = try ImageDataset.load(
      path: (Self.fashionMNIST as NSString).deletingLastPathComponent, size: 32, channels: nil, limit: 100, cache: nil)
    #expect(viaFolder.pixels == data.pixels && viaFolder.labels == data.labels)
  }
}
