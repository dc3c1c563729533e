import Foundation
import KallimaCore
import KallimaData
import Testing

@Suite("Bitmap font and captioned sample grids")
struct CaptionedGridTests {
  let font = BitmapFont.standard

  /// Every character the font covers: 0x20 (space) ... 0x7E (`~`).
  let covered: [Character] = (0x20...0x7E).map { Character(Unicode.Scalar(UInt8($0))) }

  /// `NCHW` test images in [-1, 1] from a fixed seed, spread past both ends so clamping is exercised too.
  func noise(_ count: Int, seed: UInt64) -> [Float] {
    var rng = RandomNumberGenerator64(seed: seed)
    return (0..<count).map { _ in Float.random(in: -1.2...1.2, using: &rng) }
  }

  /// Checks that `mask` (a `render` result at scale 1) holds `rows` (7 strings of 5 `#`/`.`) with its top-left
  /// corner at (`left`, 1), as the font documents.
  func expectGlyph(
    _ mask: (width: Int, height: Int, pixels: [UInt8]), at left: Int, _ rows: [String],
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    for (gy, row) in rows.enumerated() {
      for (gx, pixel) in row.enumerated() {
        let got = mask.pixels[(1 + gy) * mask.width + left + gx]
        #expect(got == (pixel == "#" ? 255 : 0), "pixel (\(gx), \(gy)) of the glyph at x = \(left)",
          sourceLocation: sourceLocation)
      }
    }
  }

  @Test("Every covered glyph is lit (except space), all 95 differ from each other and from the placeholder box")
  func glyphTable() {
    let box = font.render("\u{E9}")  // é: not ASCII, so the placeholder
    #expect(!font.covers("\u{E9}") && !font.covers("\n") && !font.covers("\t"))
    expectGlyph(box, at: 0, ["#####", "#...#", "#...#", "#...#", "#...#", "#...#", "#####"])
    var seen: [[UInt8]: Character] = [box.pixels: "\u{FFFD}"]
    for character in covered {
      #expect(font.covers(character))
      let mask = font.render(String(character))
      #expect(mask.width == 5 && mask.height == 9)
      let lit = mask.pixels.filter { $0 != 0 }.count
      #expect((lit == 0) == (character == " "), "glyph '\(character)' has \(lit) lit pixels")
      // Rows 0 and 8 are the blank margins above and below the 7-row glyph.
      #expect(mask.pixels[0..<5].allSatisfy { $0 == 0 } && mask.pixels[40..<45].allSatisfy { $0 == 0 })
      if let other = seen[mask.pixels] {
        Issue.record("glyphs '\(character)' and '\(other)' are identical")
      }
      seen[mask.pixels] = character
    }
    #expect(seen.count == covered.count + 1)
  }

  @Test("\"AB\": A's pixels at x 0...4, a blank column, B's at x 6...10; scale 2 doubles each pixel")
  func twoCharacters() {
    let a = [".###.", "#...#", "#...#", "#...#", "#####", "#...#", "#...#"]
    let b = ["####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."]
    let mask = font.render("AB")
    #expect(mask.width == 11 && mask.height == 9 && mask.pixels.count == 99)
    expectGlyph(mask, at: 0, a)
    expectGlyph(mask, at: 6, b)
    for y in 0..<9 { #expect(mask.pixels[y * 11 + 5] == 0, "separator column, row \(y)") }
    for x in 0..<11 { #expect(mask.pixels[x] == 0 && mask.pixels[8 * 11 + x] == 0) }

    let big = font.render("AB", scale: 2)
    #expect(big.width == 22 && big.height == 18)
    for y in 0..<18 {
      for x in 0..<22 { #expect(big.pixels[y * 22 + x] == mask.pixels[(y / 2) * 11 + x / 2]) }
    }
    // A character outside ASCII takes one cell like any other.
    let mixed = font.render("A\u{E9}B")
    #expect(mixed.width == 17)
    expectGlyph(mixed, at: 0, a)
    expectGlyph(mixed, at: 6, ["#####", "#...#", "#...#", "#...#", "#...#", "#...#", "#####"])
    expectGlyph(mixed, at: 12, b)
  }

  @Test("width(of:) is the rendered width: (6n - 1) * scale, 0 for no text")
  func widths() {
    for text in ["", "i", "AB", "red sandal 0123", "x\u{E9}y", String(covered)] {
      for scale in [1, 2, 3] {
        let mask = font.render(text, scale: scale)
        #expect(font.width(of: text, scale: scale) == mask.width)
        #expect(mask.width == (text.isEmpty ? 0 : (6 * text.count - 1) * scale))
        #expect(mask.height == 9 * scale && mask.pixels.count == mask.width * mask.height)
      }
    }
  }

  @Test("truncated(_:toWidth:) keeps what fits, else a prefix and \"...\" within the width")
  func truncation() {
    // "red sandal" is 10 characters: 59 pixels at scale 1, 118 at scale 2.
    #expect(font.truncated("red sandal", toWidth: 59) == "red sandal")
    #expect(font.truncated("red sandal", toWidth: 58) == "red sa...")  // 9 characters = 53 pixels
    #expect(font.truncated("red sandal", toWidth: 41) == "red...")  // 7 fit; the prefix's trailing space goes
    #expect(font.truncated("red sandal", toWidth: 117, scale: 2) == "red sa...")
    #expect(font.truncated("red sandal", toWidth: 17) == "...")
    #expect(font.truncated("red sandal", toWidth: 16) == "..")
    #expect(font.truncated("red sandal", toWidth: 5) == ".")
    #expect(font.truncated("red sandal", toWidth: 4) == "")
    #expect(font.truncated("red sandal", toWidth: -3) == "")
    // Against a brute-force oracle: the most characters whose rendering fits, found by trying each count.
    let long = String(repeating: "the quick brown fox ", count: 10)
    for scale in [1, 2] {
      for limit in 0..<300 {
        let fitting = (0...long.count).last {
          font.width(of: String(repeating: "x", count: $0), scale: scale) <= limit
        }!
        var kept = String(long.prefix(max(0, fitting - 3)))
        while kept.hasSuffix(" ") { kept.removeLast() }
        let expected = fitting >= 3 ? kept + "..." : String("...".prefix(fitting))
        let short = font.truncated(long, toWidth: limit, scale: scale)
        #expect(short == expected, "limit \(limit), scale \(scale)")
        #expect(font.width(of: short, scale: scale) <= limit)
      }
    }
  }

  @Test("Captioned grid: dimensions, image cells equal ImageGrid.png's, black padding, captions under rows")
  func layout() throws {
    // (rows, columns, channels, size, padding) -> width, caption scale. The third case has no room for text
    // (width 4 with padding 0, a character needs 5): its caption "r0" is shortened to nothing.
    let cases = [(3, 4, 3, 5, 2, 30, 1), (2, 10, 1, 28, 2, 302, 2), (1, 1, 3, 4, 0, 4, 1), (2, 3, 1, 8, 3, 36, 1)]
    for (rows, columns, channels, size, padding, width, scale) in cases {
      let images = noise(rows * columns * channels * size * size, seed: UInt64(rows * 100 + columns))
      let captions = (0..<rows).map { $0 == 1 ? "" : "r\($0)" }
      let grid = try ImageGrid.captionedPNG(
        images: images, rows: rows, columns: columns, channels: channels, size: size, captions: captions,
        padding: padding)
      let plain = try ImageGrid.png(
        images: images, count: rows * columns, channels: channels, size: size, columns: columns, padding: padding)
      let strip = (9 + ImageGrid.captionGap) * scale
      #expect(ImageGrid.captionScale(gridWidth: width) == scale)
      #expect(grid.width == width && grid.width == plain.width && grid.channels == channels)
      #expect(grid.height == rows * (size + strip + padding) + padding)

      // Which pixels belong to an image cell or a caption strip; everything else is padding and black.
      var accounted = [Bool](repeating: false, count: grid.width * grid.height)
      var cellMismatches: [String] = []
      for r in 0..<rows {
        let top = padding + r * (size + strip + padding)
        for col in 0..<columns {
          let left = padding + col * (size + padding)
          for y in 0..<size {
            for x in 0..<size {
              accounted[(top + y) * grid.width + left + x] = true
              for c in 0..<channels
              where grid[left + x, top + y, c] != plain[left + x, padding + r * (size + padding) + y, c] {
                cellMismatches.append("row \(r) column \(col) pixel (\(x), \(y)) channel \(c)")
              }
            }
          }
        }
        // The strip holds exactly the rendered (possibly shortened) caption at (padding, top + size), white
        // in every channel, and nothing else.
        let shown = font.truncated(captions[r], toWidth: width - 2 * padding, scale: scale)
        let mask = font.render(shown, scale: scale)
        var lit = 0
        var stripMismatches = 0
        for y in 0..<strip {
          for x in 0..<grid.width {
            accounted[(top + size + y) * grid.width + x] = true
            let inMask = x >= padding && x - padding < mask.width && y < mask.height
            let want = inMask ? mask.pixels[y * mask.width + x - padding] : 0
            for c in 0..<channels where grid[x, top + size + y, c] != want { stripMismatches += 1 }
            for c in 0..<channels where grid[x, top + size + y, c] != 0 { lit += 1 }
          }
        }
        #expect(stripMismatches == 0, "row \(r) caption strip")
        #expect((lit > 0) == !shown.isEmpty, "row \(r) caption '\(shown)': \(lit) lit samples")
      }
      #expect(
        cellMismatches.isEmpty,
        "\(cellMismatches.count) image samples differ from png's, first \(cellMismatches.first ?? "")")
      var paddingLit: [String] = []
      for y in 0..<grid.height {
        for x in 0..<grid.width where !accounted[y * grid.width + x] {
          for c in 0..<channels where grid[x, y, c] != 0 { paddingLit.append("(\(x), \(y)) channel \(c)") }
        }
      }
      #expect(paddingLit.isEmpty, "\(paddingLit.count) padding samples lit, first \(paddingLit.first ?? "")")
    }
  }

  @Test("A caption longer than the row is cut with \"...\" and stays inside the grid's padding")
  func longCaption() throws {
    let caption = "a very long caption that is much wider than two tiny images"
    let grid = try ImageGrid.captionedPNG(
      images: noise(2 * 3 * 8 * 8, seed: 7), rows: 1, columns: 2, channels: 3, size: 8, captions: [caption])
    // Width 2 * 10 + 2 = 22: room for 18 pixels of text, 3 characters at scale 1 (17 pixels): "...".
    #expect(grid.width == 22 && grid.height == 8 + 9 + 3 + 4)
    let shown = font.truncated(caption, toWidth: 18)
    #expect(shown == "...")
    #expect(rightmostLit(grid, rows: 10..<19) == 2 + rightmostLit(font.render(shown)))
    #expect(rightmostLit(grid, rows: 10..<19) < 22 - 2)

    // Wide enough for scale 2: 6 columns of 48 -> 302 pixels, 298 for text = 25 characters (298 >= 25*12 - 2).
    let wide = try ImageGrid.captionedPNG(
      images: noise(6 * 48 * 48, seed: 8), rows: 1, columns: 6, channels: 1, size: 48, captions: [caption])
    #expect(wide.width == 302 && wide.height == 48 + 18 + 6 + 4)
    let cut = font.truncated(caption, toWidth: 298, scale: 2)
    #expect(cut == "a very long caption th..." && font.width(of: cut, scale: 2) == 298)
    #expect(rightmostLit(wide, rows: 50..<68) == 2 + rightmostLit(font.render(cut, scale: 2)))
    #expect(rightmostLit(wide, rows: 50..<68) < 302 - 2)
  }

  /// The largest x with a lit sample in `rows` of `image`, or -1.
  func rightmostLit(_ image: RGBImage, rows: Range<Int>) -> Int {
    var rightmost = -1
    for y in rows { for x in 0..<image.width where image[x, y, 0] != 0 { rightmost = max(rightmost, x) } }
    return rightmost
  }

  /// The largest x with a lit pixel in a `render` mask, or -1.
  func rightmostLit(_ mask: (width: Int, height: Int, pixels: [UInt8])) -> Int {
    (0..<mask.width).last { x in (0..<mask.height).contains { mask.pixels[$0 * mask.width + x] != 0 } } ?? -1
  }

  @Test("Bad inputs throw KallimaError with the counts in the message")
  func badInputs() throws {
    let images = [Float](repeating: 0, count: 2 * 2 * 3 * 4 * 4)
    func grid(
      _ images: [Float], rows: Int = 2, columns: Int = 2, channels: Int = 3, size: Int = 4,
      captions: [String] = ["a", "b"], padding: Int = 2
    ) throws {
      _ = try ImageGrid.captionedPNG(
        images: images, rows: rows, columns: columns, channels: channels, size: size, captions: captions,
        padding: padding)
    }
    #expect(throws: Never.self) { try grid(images) }
    let few = expectKallimaError { try grid(images, captions: ["only one"]) }
    #expect(few.map { "\($0)".contains("1 captions for 2 rows") } == true)
    let short = expectKallimaError { try grid(Array(images.dropLast())) }
    #expect(short.map { "\($0)".contains("191 values") && "\($0)".contains("expected 192") } == true)
    expectKallimaError { try grid(images, channels: 2) }
    expectKallimaError { try grid([], rows: 0, captions: []) }
    expectKallimaError { try grid(images, padding: -1) }
    expectKallimaError { try grid([], size: 0) }
    let dir = try ScratchFolder()
    let path = try dir.file("x.png")
    expectKallimaError {
      try ImageGrid.writeCaptionedPNG(
        images: images, rows: 2, columns: 2, channels: 3, size: 4, captions: ["a"], to: path)
    }
    #expect(!FileManager.default.fileExists(atPath: path), "nothing is written")
  }

  @Test("writeCaptionedPNG writes a PNG that reads back equal, RGB and gray")
  func roundTrip() throws {
    let dir = try ScratchFolder()
    for channels in [3, 1] {
      let images = noise(3 * 4 * channels * 32 * 32, seed: UInt64(channels))
      let captions = ["red sandal 0123", "", "Class #7: [a/b] (x+y=z?) 99% & more!"]
      let path = try dir.file("captioned-\(channels).png")
      try ImageGrid.writeCaptionedPNG(
        images: images, rows: 3, columns: 4, channels: channels, size: 32, captions: captions, to: path)
      #expect(try ImageIO.format(of: path) == .png)
      // IHDR's colour type (byte 25): 0 gray, 2 RGB. ImageIO.read always decodes to RGB.
      #expect(try readBytes(path)[25] == (channels == 1 ? 0 : 2))
      let back = try ImageIO.read(path)
      let grid = try ImageGrid.captionedPNG(
        images: images, rows: 3, columns: 4, channels: channels, size: 32, captions: captions)
      #expect(back == grid.rgb())
      #expect(grid.width == 4 * 34 + 2 && grid.height == 3 * (32 + 9 + 3 + 2) + 2 && grid.channels == channels)
    }
  }
}
