import Foundation
import KallimaCore
import KallimaData
import Testing

@Suite("Reading and writing PNG and JPEG files")
struct ImageIOTests {
  @Test("RGB PNG round trip is exact")
  func pngRoundTripRGB() throws {
    let dir = try ScratchFolder()
    let image = try makeImage(width: 5, height: 3) { x, y, c in (x * 50 + y * 7 + c * 90) % 256 }
    let path = try dir.file("rgb.png")
    try ImageIO.writePNG(image, to: path)
    #expect(try ImageIO.format(of: path) == .png)
    #expect(try ImageIO.read(path) == image)
  }

  @Test("Gray PNG reads back as RGB with R = G = B")
  func pngRoundTripGray() throws {
    let dir = try ScratchFolder()
    let gray = try makeImage(width: 4, height: 4, channels: 1) { x, y, _ in x * 60 + y }
    let path = try dir.file("gray.png")
    try ImageIO.writePNG(gray, to: path)
    let back = try ImageIO.read(path)
    #expect(back.channels == 3)
    #expect(back == gray.rgb())
    #expect(back.luma() == gray)
  }

  @Test("2-bit palette PNG with tRNS: opaque entries exact, transparent ones black")
  func palettePNGWithAlpha() throws {
    let dir = try ScratchFolder()
    // Entries: 0 red (opaque), 1 green (alpha 0), 2 blue (opaque), 3 white (alpha 128).
    let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]
    // 3x2 pixels, indices row 0: 0 1 2, row 1: 3 2 0; 2 bits each, MSB first.
    let rows: [[UInt8]] = [[0b00_01_10_00], [0b11_10_00_00]]
    let bytes = HandPNG.encode(
      width: 3, height: 2, bitDepth: 2, colorType: 3, rows: rows, palette: palette, transparency: [255, 0, 255, 128])
    let path = try dir.write(bytes, to: "palette.png")
    let image = try ImageIO.read(path)
    #expect(image.width == 3 && image.height == 2 && image.channels == 3)
    let px = { (x: Int, y: Int) in (0..<3).map { image[x, y, $0] } }
    #expect(px(0, 0) == [255, 0, 0])
    #expect(px(1, 0) == [0, 0, 0])
    #expect(px(2, 0) == [0, 0, 255])
    #expect(px(1, 1) == [0, 0, 255])
    #expect(px(2, 1) == [255, 0, 0])
    // Half-transparent white on black: libpng blends in linear light, so sRGB 188, not 128.
    let half = px(0, 1)
    #expect(half[0] == half[1] && half[1] == half[2])
    #expect((186...190).contains(half[0]), "half-transparent white composited to \(half)")
  }

  @Test("RGBA, gray+alpha, 16-bit RGB and 1-bit gray PNGs decode to 8-bit RGB")
  func otherColorTypes() throws {
    let dir = try ScratchFolder()
    // RGBA 8-bit: an opaque and a fully transparent pixel.
    let rgba = HandPNG.encode(width: 2, height: 1, bitDepth: 8, colorType: 6, rows: [[10, 20, 30, 255, 200, 100, 50, 0]])
    #expect(try ImageIO.read(try dir.write(rgba, to: "rgba.png")).pixels == [10, 20, 30, 0, 0, 0])
    // Gray+alpha 8-bit.
    let ga = HandPNG.encode(width: 2, height: 1, bitDepth: 8, colorType: 4, rows: [[77, 255, 99, 0]])
    #expect(try ImageIO.read(try dir.write(ga, to: "ga.png")).pixels == [77, 77, 77, 0, 0, 0])
    // 16-bit RGB: samples scale by 255/65535 (0x8080 -> 128, 0xFFFF -> 255, 0x0101 -> 1).
    let rgb16 = HandPNG.encode(
      width: 1, height: 1, bitDepth: 16, colorType: 2, rows: [[0x80, 0x80, 0xFF, 0xFF, 0x01, 0x01]])
    #expect(try ImageIO.read(try dir.write(rgb16, to: "rgb16.png")).pixels == [128, 255, 1])
    // 1-bit gray: 1 0 1 -> 255 0 255.
    let bits = HandPNG.encode(width: 3, height: 1, bitDepth: 1, colorType: 0, rows: [[0b1010_0000]])
    #expect(try ImageIO.read(try dir.write(bits, to: "bits.png")).pixels == [255, 255, 255, 0, 0, 0, 255, 255, 255])
  }

  @Test("JPEG round trip is close (lossy): RGB and gray")
  func jpegRoundTrip() throws {
    let dir = try ScratchFolder()
    let image = try makeImage(width: 24, height: 16) { x, y, c in [x * 10, y * 15, 128 + (x - y) * 3][c] }
    let path = try dir.file("smooth.jpg")
    try ImageIO.writeJPEG(image, to: path, quality: 95)
    #expect(try ImageIO.format(of: path) == .jpeg)
    let back = try ImageIO.read(path)
    #expect(back.width == 24 && back.height == 16 && back.channels == 3)
    let diffs = zip(back.pixels, image.pixels).map { abs(Int($0) - Int($1)) }
    let mean = Double(diffs.reduce(0, +)) / Double(diffs.count)
    #expect(mean < 3, "mean |error| \(mean)")
    #expect(diffs.max()! < 24, "max |error| \(diffs.max()!)")

    let gray = try makeImage(width: 16, height: 16, channels: 1) { x, y, _ in 40 + x * 8 + y * 4 }
    let grayPath = try dir.file("gray.jpeg")
    try ImageIO.writeJPEG(gray, to: grayPath, quality: 95)
    let grayBack = try ImageIO.read(grayPath)
    #expect(grayBack.channels == 3)
    let samples = grayBack.pixels
    let equalChannels = stride(from: 0, to: samples.count, by: 3).allSatisfy { (i: Int) -> Bool in
      samples[i] == samples[i + 1] && samples[i] == samples[i + 2]
    }
    #expect(equalChannels)
    let grayDiff = zip(grayBack.luma().pixels, gray.pixels).map { abs(Int($0) - Int($1)) }.max()!
    #expect(grayDiff <= 4, "gray max |error| \(grayDiff)")
  }

  @Test("CMYK JPEG (Adobe, inverted) converts to RGB in C")
  func cmykJPEG() throws {
    let dir = try ScratchFolder()
    // Inverted convention: stored 255 = no ink. (255, 128, 0, 255) -> R 255, G 128, B 0.
    let cmyk = (0..<64).flatMap { _ in [255, 128, 0, 255] as [UInt8] }
    let path = try dir.file("cmyk.jpg")
    try ImageIO.writeCMYKJPEG(cmyk, width: 8, height: 8, to: path)
    let image = try ImageIO.read(path)
    #expect(image.channels == 3)
    for (got, want) in zip(image.pixels.prefix(3), [255, 128, 0]) {
      #expect(abs(Int(got) - want) <= 4, "CMYK -> RGB gave \(Array(image.pixels.prefix(3)))")
    }
  }

  @Test("Truncated and corrupt files throw io errors, never crash")
  func truncatedAndCorrupt() throws {
    let dir = try ScratchFolder()
    var noise = RandomNumberGenerator64(seed: 3)
    let image = try makeImage(width: 64, height: 64) { _, _, _ in Int(noise.next() % 256) }
    let path = try dir.file("full.jpg")
    try ImageIO.writeJPEG(image, to: path, quality: 90)
    let bytes = try readBytes(path)
    for cut in [bytes.count / 2, 200, 20, 4] {
      let truncated = try dir.write(Array(bytes.prefix(cut)), to: "cut\(cut).jpg")
      let error = expectKallimaError { _ = try ImageIO.read(truncated) }
      if case .io(let p, let message)? = error {
        #expect(p == truncated)
        #expect(message.contains("JPEG"), "\(message)")
      }
    }
    let png = try dir.file("full.png")
    try ImageIO.writePNG(image, to: png)
    let pngBytes = try readBytes(png)
    let cutPNG = try dir.write(Array(pngBytes.prefix(pngBytes.count / 2)), to: "cut.png")
    expectKallimaError { _ = try ImageIO.read(cutPNG) }

    let random = try dir.write((0..<300).map { _ in UInt8(noise.next() % 256) }, to: "random.png")
    let error = expectKallimaError { _ = try ImageIO.read(random) }
    #expect(error?.description.contains("not a PNG or JPEG") == true)
    expectKallimaError { _ = try ImageIO.read(dir.path) }
    let missing = expectKallimaError { _ = try ImageIO.read(dir.path + "/nope.png") }
    #expect(missing?.description.contains("no such file") == true)
  }

  @Test("The decoder follows the magic bytes, not the extension")
  func magicNotExtension() throws {
    let dir = try ScratchFolder()
    let image = try makeImage(width: 3, height: 3) { x, y, c in x + y + c }
    let path = try dir.file("actually-a-png.jpg")
    try ImageIO.writePNG(image, to: path)
    #expect(try ImageIO.format(of: path) == .png)
    #expect(try ImageIO.read(path) == image)
  }

  @Test("writePNG is atomic: no temporary left, old file intact when the write fails")
  func atomicWrite() throws {
    let dir = try ScratchFolder()
    let path = try dir.file("out.png")
    let first = try makeImage(width: 2, height: 2) { _, _, _ in 1 }
    let second = try makeImage(width: 3, height: 1) { _, _, _ in 2 }
    try ImageIO.writePNG(first, to: path)
    try ImageIO.writePNG(second, to: path)
    #expect(try ImageIO.read(path) == second)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.png"])
    let error = expectKallimaError { try ImageIO.writePNG(first, to: dir.path + "/missing/out.png") }
    #expect(error?.description.contains("does not exist") == true)
  }

  @Test("RGBImage checks its invariants")
  func invariants() {
    expectKallimaError { _ = try RGBImage(width: 2, height: 2, channels: 2, pixels: [UInt8](repeating: 0, count: 8)) }
    expectKallimaError { _ = try RGBImage(width: 2, height: 2, channels: 3, pixels: [0]) }
    expectKallimaError { _ = try RGBImage(width: 0, height: 2, channels: 3, pixels: []) }
  }
}
