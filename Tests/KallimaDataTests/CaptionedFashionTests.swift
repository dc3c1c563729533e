import Foundation
import KallimaCore
import KallimaData
import Testing

/// Image n of `dataset` (3 channels, NCHW) as an interleaved RGB image.
private func rgbImage(_ dataset: ImageDataset, _ n: Int) throws -> RGBImage {
  let plane = dataset.size * dataset.size
  let base = dataset.bytes.startIndex + n * dataset.imageBytes
  var pixels = [UInt8](repeating: 0, count: 3 * plane)
  for c in 0..<3 { for i in 0..<plane { pixels[3 * i + c] = dataset.bytes[base + c * plane + i] } }
  return try RGBImage(width: dataset.size, height: dataset.size, channels: 3, pixels: pixels)
}

@Suite("The captioned Fashion-MNIST test set: tinted items, held-out combinations, tint recognition")
struct CaptionedFashionTests {
  static let source = CaptionedFashion.defaultSource

  @Test("60 items written and reloaded as class, tags and text: captions agree with labels and tints; no held-out pair")
  func writeAndReload() throws {
    let dir = try ScratchFolder()
    let out = (dir.path as NSString).appendingPathComponent("captioned")
    let summary = try CaptionedFashion.write(to: out, count: 60, seed: 7, size: 32)
    #expect(summary.count == 60 && summary.perCombination.values.reduce(0, +) == 60)
    #expect(
      summary.heldOut == ["red sandal", "green trouser", "blue bag", "yellow dress", "magenta sneaker", "cyan coat"])
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
    #expect(leftovers == ["captioned"], "the temporary folder was renamed: \(leftovers)")
    let labels = try IDX.readLabels("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").prefix(60).map(
      Int.init)
    let heldOut = Set(CaptionedFashion.defaultHeldOut.map(\.description))

    let (texts, text) = try ImageDataset.loadConditioned(path: out, size: 32, channels: 3, condition: .text, cache: nil)
    #expect(texts.count == 60 && text.count == 60)
    for n in 0..<60 {
      let combination = try CaptionedFashion.Combination(text.captions[n])
      #expect(combination.item == labels[n], "image \(n): caption \(text.captions[n]), label \(labels[n])")
      #expect(!heldOut.contains(text.captions[n]), "image \(n) is a held-out combination: \(text.captions[n])")
      #expect(
        CaptionedFashion.colour(ofRGB: try rgbImage(texts, n)) == combination.colour, "image \(n): \(text.captions[n])")
      #expect(
        text.vocabulary.describe(Array(text.vector(n)))
          == text.vocabulary.describe(try text.vocabulary.encode(text.captions[n])))
    }
    let (_, tags) = try ImageDataset.loadConditioned(path: out, size: 32, channels: 3, condition: .tags, cache: nil)
    let (_, classes) = try ImageDataset.loadConditioned(path: out, size: 32, channels: 3, condition: .class, cache: nil)
    for n in 0..<60 {
      let words = text.captions[n].split(separator: " ").map(String.init)
      #expect(tags.captions[n] == words.joined(separator: ", "))
      #expect(classes.captions[n] == words[1])
    }
    #expect(Set(classes.vocabulary.names).isSubset(of: CaptionedFashion.items))
    // Seeded: the same seed writes the same captions; another seed other colours.
    let again = (dir.path as NSString).appendingPathComponent("again")
    #expect(
      try CaptionedFashion.write(to: again, count: 60, seed: 7, size: 28).perCombination == summary.perCombination)
    let other = (dir.path as NSString).appendingPathComponent("other")
    #expect(
      try CaptionedFashion.write(to: other, count: 60, seed: 8, size: 28).perCombination != summary.perCombination)
    let exists = expectKallimaError { _ = try CaptionedFashion.write(to: out, count: 1, seed: 1) }
    #expect(exists?.description.contains("not an empty folder") == true)
  }

  @Test("Held-out combinations are configurable; holding out every colour of an item is refused")
  func heldOutConfigurable() throws {
    let dir = try ScratchFolder()
    let blueOnly = try CaptionedFashion.colours.indices.filter { $0 != 2 }.flatMap { c in
      try CaptionedFashion.items.indices.map { try CaptionedFashion.Combination(colour: c, item: $0) }
    }
    let out = (dir.path as NSString).appendingPathComponent("blue")
    let summary = try CaptionedFashion.write(to: out, count: 30, seed: 1, size: 28, heldOut: blueOnly)
    #expect(summary.perCombination.keys.allSatisfy { $0.hasPrefix("blue ") }, "\(summary.perCombination)")
    let all = try CaptionedFashion.colours.indices.map { try CaptionedFashion.Combination(colour: $0, item: 0) }
    let refused = expectKallimaError {
      _ = try CaptionedFashion.write(
        to: (dir.path as NSString).appendingPathComponent("x"), count: 5, seed: 1, heldOut: all)
    }
    #expect(refused?.description.contains("every colour of tshirt") == true)
  }

  @Test("colour(ofRGB:) recovers every tint of 600 real items (measured: 3600 of 3600); gray, black, orange are none")
  func tintRecognition() throws {
    let images = try IDX.readImages(Self.source)
    var right = 0
    var total = 0
    var darkest = (distanceToBlack: Double.infinity, n: -1)
    for n in 0..<600 {
      let gray = images.image(n)
      let mean = Double(gray.pixels.reduce(0) { $0 + Int($1) }) / Double(gray.pixels.count)
      if mean < darkest.distanceToBlack { darkest = (mean, n) }
      for colour in CaptionedFashion.colours.indices {
        total += 1
        if CaptionedFashion.colour(ofRGB: CaptionedFashion.tint(gray, colour: colour)) == colour { right += 1 }
      }
      // Untinted (gray in R, G and B): not a colour.
      #expect(CaptionedFashion.colour(ofRGB: gray.rgb()) == nil, "item \(n) untinted")
    }
    #expect(right == total, "recovered \(right) of \(total) tints")
    // The darkest of the 600 items tinted in one channel (measured: item 63, gray mean 8.64, so
    // 2.88 over R, G, B) stays well above the nearly-black threshold 0.5: a margin of 5.8x.
    #expect(darkest.distanceToBlack / 3 > 4 * 0.5, "darkest item \(darkest.n) has mean \(darkest.distanceToBlack)")

    // Pure blue, but too dark to call: mean (0 + 0 + 1) / 3 is below 0.5.
    let black = try makeImage(width: 8, height: 8) { _, _, c in c == 2 ? 1 : 0 }
    #expect(CaptionedFashion.colour(ofRGB: black) == nil, "nearly black")
    let dimBlue = try makeImage(width: 8, height: 8) { _, _, c in c == 2 ? 3 : 0 }
    #expect(CaptionedFashion.colour(ofRGB: dimBlue) == 2, "dim but above the threshold")
    // Orange (1, 0.5, 0): chromaticity (2/3, 1/3, 0) is 0.236 from yellow, 0.471 from red: outside 0.2.
    let orange = try makeImage(width: 8, height: 8) { _, _, c in [200, 100, 0][c] }
    #expect(CaptionedFashion.colour(ofRGB: orange) == nil)
    // A dim noisy background does not move a tinted item: the squared-intensity weight.
    let item = CaptionedFashion.tint(images.image(0), colour: 2)
    let noisy = try RGBImage(
      width: 28, height: 28, channels: 3,
      pixels: item.pixels.enumerated().map { i, v in v == 0 ? UInt8((i * 7) % 12) : v })
    #expect(CaptionedFashion.colour(ofRGB: noisy) == 2)
    // As training sees it: planar values in [-1, 1].
    let plane = 28 * 28
    var planar = [Float](repeating: -1, count: 3 * plane)
    for i in 0..<plane { for c in 0..<3 { planar[c * plane + i] = Float(item.pixels[3 * i + c]) / 127.5 - 1 } }
    #expect(CaptionedFashion.colour(ofPlanar: planar[...], size: 28) == 2)
  }
}
