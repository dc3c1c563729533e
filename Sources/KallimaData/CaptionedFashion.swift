import Foundation
import KallimaCore

/// A captioned test set made from Fashion-MNIST: each item tinted in one of six colours and
/// captioned "<colour> <item>", written as a Hugging Face imagefolder (PNGs + metadata.jsonl)
/// so every condition kind loads from it (`ImageDataset.loadConditioned`):
///
///     {"file_name": "00000.png", "label": "boot", "tags": ["red", "boot"], "text": "red boot", "colour": "red"}
///
/// Tint: RGB = gray · colour, the colours being the six corners of the RGB cube that are neither
/// black nor white (red, green, blue, yellow, magenta, cyan). Some colour–item combinations are
/// held out (never written), so a conditional generator asked for them shows whether it composes
/// colour and item or memorises pairs; `colour(ofRGB:)` reads the tint of a generated image back.
public enum CaptionedFashion {
  /// Colour names, index order of `palette`.
  public static let colours = ["red", "green", "blue", "yellow", "magenta", "cyan"]
  /// Each colour's (R, G, B) multipliers, 0 or 1.
  public static let palette: [(r: Int, g: Int, b: Int)] = [
    (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1),
  ]
  /// Item words for Fashion-MNIST labels 0...9 (T-shirt/top, Trouser, Pullover, Dress, Coat,
  /// Sandal, Shirt, Sneaker, Bag, Ankle boot).
  public static let items = [
    "tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot",
  ]
  /// The installed Fashion-MNIST training images (labels beside them).
  public static let defaultSource = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

  /// A colour and an item, e.g. "red sandal".
  public struct Combination: Hashable, Codable, Sendable, CustomStringConvertible {
    /// Index into `colours`.
    public var colour: Int
    /// Index into `items` (the Fashion-MNIST label).
    public var item: Int

    public init(colour: Int, item: Int) throws {
      guard colours.indices.contains(colour), items.indices.contains(item) else {
        throw KallimaError.invalidArgument(
          op: "CaptionedFashion.Combination", message: "colour \(colour) or item \(item) out of range (0...5, 0...9)")
      }
      (self.colour, self.item) = (colour, item)
    }

    /// Parses "<colour> <item>", e.g. "red sandal".
    public init(_ caption: String) throws {
      let words = caption.lowercased().split(separator: " ").map(String.init)
      guard words.count == 2, let c = colours.firstIndex(of: words[0]), let i = items.firstIndex(of: words[1]) else {
        throw KallimaError.invalidArgument(
          op: "CaptionedFashion.Combination",
          message: "'\(caption)' is not '<colour> <item>'; colours: \(colours.joined(separator: ", ")); "
            + "items: \(items.joined(separator: ", "))")
      }
      try self.init(colour: c, item: i)
    }

    public var description: String { "\(colours[colour]) \(items[item])" }
  }

  /// One held-out combination per colour, each with a different item: red sandal, green trouser,
  /// blue bag, yellow dress, magenta sneaker, cyan coat.
  public static let defaultHeldOut: [Combination] = [(0, 5), (1, 1), (2, 8), (3, 3), (4, 7), (5, 4)].map {
    try! Combination(colour: $0.0, item: $0.1)
  }

  /// What `write` made; also stored as `captioned-fashion.json` in the folder.
  public struct Summary: Codable, Equatable, Sendable {
    public var folder: String
    public var count: Int
    public var size: Int
    public var seed: UInt64
    public var source: String
    /// Held-out combinations ("red sandal"), never written.
    public var heldOut: [String]
    /// Images per written combination ("red boot": 17).
    public var perCombination: [String: Int]
  }

  /// Writes `count` tinted items (the first `count` images of `source`, in file order) as
  /// `NNNNN.png` plus `metadata.jsonl` and `captioned-fashion.json` into `folder`, which must not
  /// exist or be empty. Everything goes to a temporary sibling folder first, renamed to `folder`
  /// when complete, so a killed run leaves no half set under that name. Image n's colour is drawn
  /// uniformly from the colours not held out for its item, by Philox block (seed, n) (a
  /// multiply-shift of 32 random bits: bias below 6 / 2^32). `size` is 28 (as stored) or up to
  /// 256 (bilinear, as `ImageDataset.load` resizes idx images: 32 for the conditional runs,
  /// 64 for StackGAN's stage II, whose folder images must be at least its side).
  @discardableResult
  public static func write(
    to folder: String, count: Int, seed: UInt64, size: Int = 32, heldOut: [Combination] = defaultHeldOut,
    source: String = defaultSource
  ) throws -> Summary {
    let op = "CaptionedFashion.write"
    guard (28...256).contains(size) else {
      throw KallimaError.invalidArgument(op: op, message: "size is \(size); use 28 (Fashion-MNIST's) up to 256")
    }
    guard count >= 1 else { throw KallimaError.invalidArgument(op: op, message: "count is \(count); use at least 1") }
    let allowed = items.indices.map { item in
      colours.indices.filter { !heldOut.contains(try! Combination(colour: $0, item: item)) }
    }
    if let starved = allowed.firstIndex(where: \.isEmpty) {
      throw KallimaError.invalidArgument(
        op: op, message: "every colour of \(items[starved]) is held out; leave at least one colour per item")
    }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
      let contents = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? ["?"]
      guard isDirectory.boolValue, contents.isEmpty else {
        throw KallimaError.io(path: folder, message: "already exists and is not an empty folder; choose a new --out")
      }
    }
    let images = try IDX.readImages(source)
    guard let labelsPath = ImageDataset.labelsBeside(source) else {
      throw KallimaError.io(path: source, message: "has no idx1 labels file beside it; the items need their labels")
    }
    let labels = try IDX.readLabels(labelsPath)
    guard labels.count == images.count, images.count >= count else {
      throw KallimaError.io(
        path: source, message: "holds \(images.count) images and \(labels.count) labels; \(count) items were asked for")
    }
    guard labels.prefix(count).allSatisfy({ $0 < 10 }) else {
      throw KallimaError.io(path: labelsPath, message: "holds labels above 9; this is not Fashion-MNIST")
    }

    let url = URL(fileURLWithPath: folder).standardizedFileURL
    let temporary = url.deletingLastPathComponent()
      .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
    try? FileManager.default.removeItem(atPath: temporary)
    try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
    var success = false
    defer { if !success { try? FileManager.default.removeItem(atPath: temporary) } }

    let resize = size == images.rows ? nil : ImageResize.Plan(width: images.columns, height: images.rows, size: size)
    var lines: [String] = []
    var perCombination: [String: Int] = [:]
    let digits = max(5, String(count - 1).count)
    for n in 0..<count {
      let item = Int(labels[n])
      let choices = allowed[item]
      let word = Philox.block(seed: seed, counter: UInt64(n)).0
      let colour = choices[Int((UInt64(word) * UInt64(choices.count)) >> 32)]
      var gray = images.image(n)
      if let resize { gray = resize.apply(gray) }
      let name = String(repeating: "0", count: max(0, digits - String(n).count)) + String(n) + ".png"
      try CShim.writePNG(
        tint(gray, colour: colour), to: (temporary as NSString).appendingPathComponent(name), reportedAs: name)
      let (c, i) = (colours[colour], items[item])
      lines.append(
        "{\"file_name\": \"\(name)\", \"label\": \"\(i)\", \"tags\": [\"\(c)\", \"\(i)\"], \"text\": \"\(c) \(i)\", "
          + "\"colour\": \"\(c)\"}")
      perCombination["\(c) \(i)", default: 0] += 1
    }
    let summary = Summary(
      folder: url.path, count: count, size: size, seed: seed, source: source, heldOut: heldOut.map(\.description),
      perCombination: perCombination)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(summary).write(
      to: URL(fileURLWithPath: (temporary as NSString).appendingPathComponent("captioned-fashion.json")))
    try Data((lines.joined(separator: "\n") + "\n").utf8)
      .write(to: URL(fileURLWithPath: (temporary as NSString).appendingPathComponent("metadata.jsonl")))
    if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(atPath: url.path) }
    guard rename(temporary, url.path) == 0 else {
      throw KallimaError.io(
        path: url.path, message: "could not rename \(temporary) to it: \(String(cString: strerror(errno)))")
    }
    success = true
    return summary
  }

  /// A gray image tinted: RGB = gray · palette[colour].
  public static func tint(_ gray: RGBImage, colour: Int) -> RGBImage {
    let g = gray.luma()
    let (r, gg, b) = palette[colour]
    var pixels = [UInt8](repeating: 0, count: g.pixels.count * 3)
    for (i, v) in g.pixels.enumerated() {
      pixels[3 * i] = r == 1 ? v : 0
      pixels[3 * i + 1] = gg == 1 ? v : 0
      pixels[3 * i + 2] = b == 1 ? v : 0
    }
    return RGBImage(unchecked: g.width, g.height, 3, pixels)
  }

  /// The palette colour an RGB image is tinted with, or nil when it is nearly black or its
  /// colour is near none of them (gray, orange, ...).
  ///
  /// The image's chromaticity is the mean of its pixels' (r, g, b) / (r + g + b) weighted by the
  /// squared intensity (r + g + b)², i.e. Σ s·(r, g, b) / Σ s² with s = r + g + b, so bright
  /// (item) pixels count and a dim noisy background hardly does. The answer is the palette colour
  /// whose chromaticity (red (1, 0, 0), yellow (1/2, 1/2, 0), ...) is nearest, if within
  /// `maxDistance` (Euclidean). Palette colours are 0.707 apart and gray (1/3, 1/3, 1/3) is 0.408
  /// from the nearest, so the default 0.2 takes about half of either margin. Nearly black:
  /// mean intensity (r + g + b) / 3 below `minimumMean` (0...255); the default 0.5 is a sixth of
  /// the darkest of the first 600 Fashion-MNIST items tinted in one channel (mean 8.64 / 3 = 2.88).
  public static func colour(ofRGB image: RGBImage, maxDistance: Double = 0.2, minimumMean: Double = 0.5) -> Int? {
    guard image.channels == 3 else { return nil }
    var sums = (0.0, 0.0, 0.0)
    var weight = 0.0
    var total = 0.0
    let p = image.pixels
    for i in 0..<(image.width * image.height) {
      let (r, g, b) = (Double(p[3 * i]), Double(p[3 * i + 1]), Double(p[3 * i + 2]))
      let s = r + g + b
      sums = (sums.0 + s * r, sums.1 + s * g, sums.2 + s * b)
      weight += s * s
      total += s
    }
    guard total / Double(3 * image.width * image.height) >= minimumMean, weight > 0 else { return nil }
    let chroma = (sums.0 / weight, sums.1 / weight, sums.2 / weight)
    var best: (index: Int, distance: Double)? = nil
    for (index, c) in palette.enumerated() {
      let n = Double(c.r + c.g + c.b)
      let d =
        ((chroma.0 - Double(c.r) / n) * (chroma.0 - Double(c.r) / n)
        + (chroma.1 - Double(c.g) / n) * (chroma.1 - Double(c.g) / n)
        + (chroma.2 - Double(c.b) / n) * (chroma.2 - Double(c.b) / n)).squareRoot()
      if best == nil || d < best!.distance { best = (index, d) }
    }
    return best!.distance <= maxDistance ? best!.index : nil
  }

  /// `colour(ofRGB:)` of an image as training sees it: 3 planes of `size`² values in [-1, 1]
  /// (NCHW, `DataOrder.unit`), e.g. a generator's output, mapped back to 0...255 and rounded.
  public static func colour(
    ofPlanar samples: ArraySlice<Float>, size: Int, maxDistance: Double = 0.2, minimumMean: Double = 0.5
  ) -> Int? {
    let plane = size * size
    guard samples.count == 3 * plane else { return nil }
    let base = samples.startIndex
    var pixels = [UInt8](repeating: 0, count: 3 * plane)
    for c in 0..<3 {
      for i in 0..<plane {
        let v = (samples[base + c * plane + i] + 1) * 127.5
        pixels[3 * i + c] = UInt8(max(0, min(255, v.isNaN ? 0 : v.rounded())))
      }
    }
    return colour(ofRGB: RGBImage(unchecked: size, size, 3, pixels), maxDistance: maxDistance, minimumMean: minimumMean)
  }
}
