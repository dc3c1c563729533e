import Foundation
import KallimaCore

extension TranslationFashion {
  /// The tint of each Fashion-MNIST label 0...9 for the `colour` set, (R, G, B) 0...255: ten
  /// distinct hues, each with a channel at 255 so tinted garments stay bright.
  public static let classTints: [(Int, Int, Int)] = [
    (255, 64, 64), (255, 160, 0), (230, 230, 0), (64, 255, 64), (0, 200, 200),
    (64, 128, 255), (160, 64, 255), (255, 64, 200), (128, 255, 160), (255, 200, 128),
  ]

  /// A gray garment tinted with `colour`: each channel is round(gray x colour / 255).
  public static func tint(_ gray: RGBImage, colour: (Int, Int, Int)) -> RGBImage {
    let g = gray.luma()
    let c = [colour.0, colour.1, colour.2]
    var pixels = [UInt8](repeating: 0, count: g.pixels.count * 3)
    for (i, v) in g.pixels.enumerated() {
      for k in 0..<3 { pixels[3 * i + k] = UInt8((Int(v) * c[k] + 127) / 255) }
    }
    return RGBImage(unchecked: g.width, g.height, 3, pixels)
  }

  /// Where a written image came from: its index in the Fashion-MNIST file of its split (train for
  /// train images, t10k for test images) and its label.
  public struct Base: Equatable, Sendable {
    public var index: Int
    public var label: Int
  }

  /// Reads `bases.txt` of a written image folder (`<file> <index> <label>` per line).
  public static func bases(in folder: String) throws -> [String: Base] {
    let path = (folder as NSString).appendingPathComponent("bases.txt")
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw KallimaError.io(
        path: path, message: "cannot be read; it is written by make-translation-data beside the images")
    }
    var out: [String: Base] = [:]
    for (number, line) in zip(1..., text.split(separator: "\n")) {
      let parts = line.split(separator: " ")
      guard parts.count == 3, let index = Int(parts[1]), let label = Int(parts[2]) else {
        throw KallimaError.io(path: "\(path):\(number)", message: "is not '<file> <index> <label>'")
      }
      out[String(parts[0])] = Base(index: index, label: label)
    }
    return out
  }

  /// Fashion-MNIST garments `indices` of `split` ("train" or "t10k"), resized to `size` as the
  /// written sets are: the base images of their ground truth.
  public static func garments(
    _ indices: [Int], split: String, size: Int, source: String = defaultSource
  ) throws -> [RGBImage] {
    let images = try Source(folder: source, split: split, size: size)
    return try indices.map {
      guard (0..<images.images.count).contains($0) else {
        throw KallimaError.invalidArgument(
          op: "TranslationFashion.garments", message: "index \($0) is outside \(images.path)'s \(images.images.count)")
      }
      return images.image($0)
    }
  }

  /// Writes `bases.txt` into `folder`.
  static func writeBases(_ folder: String, _ rows: [(String, Int, UInt8)]) throws {
    let text = rows.map { "\($0.0) \($0.1) \($0.2)\n" }.joined()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("bases.txt")))
  }

  typealias Split = (source: Source?, count: Int)

  /// train/ and test/ of A|B images: A = edge map, B = garment (gray).
  static func writeEdges(_ root: String, train: Split, test: Split, seed: UInt64) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for (name, split, stream) in [("train", train, UInt64(0)), ("test", test, 1)] {
      guard let source = split.source, split.count > 0 else { continue }
      let folder = (root as NSString).appendingPathComponent(name)
      var rows: [(String, Int, UInt8)] = []
      for (n, index) in try source.pick(split.count, seed: seed, stream: stream).enumerated() {
        let garment = source.image(index)
        let file = fileName(n)
        try writePNG(sideBySide(EdgeMap.of(garment), garment), folder, file)
        rows.append((file, index, source.labels[index]))
      }
      try writeBases(folder, rows)
      counts[name] = split.count
    }
    return counts
  }

  /// `a` and `b` (same height and channels) side by side, `a` on the left.
  static func sideBySide(_ a: RGBImage, _ b: RGBImage) -> RGBImage {
    let (h, c) = (a.height, a.channels)
    var pixels: [UInt8] = []
    pixels.reserveCapacity((a.width + b.width) * h * c)
    for y in 0..<h {
      pixels += a.pixels[(y * a.width * c)..<((y + 1) * a.width * c)]
      pixels += b.pixels[(y * b.width * c)..<((y + 1) * b.width * c)]
    }
    return RGBImage(unchecked: a.width + b.width, h, c, pixels)
  }

  /// trainA (gray) and trainB (tinted) from different garments; testA/x and testB/x the same garment.
  static func writeColour(_ root: String, train: Split, test: Split, seed: UInt64) throws -> [String: Int] {
    let source = train.source!
    let picked = try source.pick(2 * train.count, seed: seed, stream: 0)
    let domains: [(String, ArraySlice<Int>, Bool)] = [
      ("trainA", picked.prefix(train.count), false), ("trainB", picked.suffix(train.count), true),
    ]
    for (name, indices, tinted) in domains {
      let folder = (root as NSString).appendingPathComponent(name)
      var rows: [(String, Int, UInt8)] = []
      for (n, index) in indices.enumerated() {
        let garment = source.image(index)
        let label = source.labels[index]
        try writePNG(tinted ? tint(garment, colour: classTints[Int(label)]) : garment, folder, fileName(n))
        rows.append((fileName(n), index, label))
      }
      try writeBases(folder, rows)
    }
    var counts = ["trainA": train.count, "trainB": train.count]
    if let testSource = test.source, test.count > 0 {
      var rows: [(String, Int, UInt8)] = []
      let a = (root as NSString).appendingPathComponent("testA")
      let b = (root as NSString).appendingPathComponent("testB")
      for (n, index) in try testSource.pick(test.count, seed: seed, stream: 1).enumerated() {
        let garment = testSource.image(index)
        let label = testSource.labels[index]
        try writePNG(garment, a, fileName(n))
        try writePNG(tint(garment, colour: classTints[Int(label)]), b, fileName(n))
        rows.append((fileName(n), index, label))
      }
      try writeBases(a, rows)
      try writeBases(b, rows)
      counts["testA"] = test.count
      counts["testB"] = test.count
    }
    return counts
  }

  /// trainA/testA one class, trainB/testB another.
  static func writeClasses(_ root: String, train: Split, test: Split, seed: UInt64, classes: (Int, Int)) throws
    -> [String: Int]
  {
    var counts: [String: Int] = [:]
    let jobs: [(String, Split, Int, UInt64)] = [
      ("trainA", train, classes.0, 0), ("trainB", train, classes.1, 1),
      ("testA", test, classes.0, 2), ("testB", test, classes.1, 3),
    ]
    for (name, split, label, stream) in jobs {
      guard let source = split.source, split.count > 0 else { continue }
      let folder = (root as NSString).appendingPathComponent(name)
      var rows: [(String, Int, UInt8)] = []
      let indices = try source.pick(split.count, seed: seed, stream: stream, labels: [UInt8(label)])
      for (n, index) in indices.enumerated() {
        try writePNG(source.image(index), folder, fileName(n))
        rows.append((fileName(n), index, source.labels[index]))
      }
      try writeBases(folder, rows)
      counts[name] = split.count
    }
    return counts
  }

  /// Per split: images/ + list_attr_celeba.txt + bases.txt; attributes drawn per image.
  static func writeAttributes(_ root: String, train: Split, test: Split, seed: UInt64) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    let all = GarmentAttribute.allCases
    for (name, split, stream) in [("train", train, UInt64(0)), ("test", test, 1)] {
      guard let source = split.source, split.count > 0 else { continue }
      let folder = (root as NSString).appendingPathComponent(name)
      let images = (folder as NSString).appendingPathComponent("images")
      var rows: [(String, Int, UInt8)] = []
      var lines = ["\(split.count)", all.map(\.name).joined(separator: " ")]
      for (n, index) in try source.pick(split.count, seed: seed, stream: stream).enumerated() {
        // Each attribute on with probability 1/2: bit k of Philox word 1 of block (seed, 2^32 (16 + stream) + n).
        let bits = Philox.block(seed: seed, counter: (16 + stream) << 32 | UInt64(n)).1
        let on = Set(all.filter { bits >> UInt32($0.rawValue) & 1 == 1 })
        let file = fileName(n)
        try writePNG(render(source.image(index), on), images, file)
        // CelebA pads each value to width 2 ("-1" / " 1"), so fields are separated by one or two spaces.
        lines.append(file + " " + all.map { on.contains($0) ? " 1" : "-1" }.joined(separator: " "))
        rows.append((file, index, source.labels[index]))
      }
      try Data((lines.joined(separator: "\n") + "\n").utf8).write(
        to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("list_attr_celeba.txt")))
      try writeBases(folder, rows)
      counts[name] = split.count
    }
    return counts
  }
}
