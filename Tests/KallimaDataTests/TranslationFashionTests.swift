import Foundation
import KallimaCore
import KallimaData
import Testing

/// Image n of an NCHW dataset as an `RGBImage` (interleaved).
private func image(_ dataset: ImageDataset, _ n: Int) throws -> RGBImage {
  let plane = dataset.size * dataset.size
  let base = dataset.bytes.startIndex + n * dataset.imageBytes
  var pixels = [UInt8](repeating: 0, count: dataset.channels * plane)
  for c in 0..<dataset.channels {
    for i in 0..<plane { pixels[dataset.channels * i + c] = dataset.bytes[base + c * plane + i] }
  }
  return try RGBImage(width: dataset.size, height: dataset.size, channels: dataset.channels, pixels: pixels)
}

@Suite("Synthetic translation sets from Fashion-MNIST: written, reloaded by the loaders, checked against ground truth")
struct TranslationFashionTests {
  @Test("edges: aligned pairs whose B is the garment and A its edge map, both exact; a sane edge fraction; seeded")
  func edges() throws {
    let dir = try ScratchFolder()
    let out = (dir.path as NSString).appendingPathComponent("edges")
    let summary = try TranslationFashion.write(.edges, to: out, size: 32, train: 8, test: 3, seed: 5)
    #expect(summary.counts == ["train": 8, "test": 3])
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["edges"], "no temporary folder left")
    let readme = try String(contentsOfFile: out + "/README.txt", encoding: .utf8)
    #expect(readme.contains("aligned format") && readme.contains("Ground truth"))

    let pairs = try PairedDataset.load(path: out, size: 32, channels: 1)
    #expect(pairs.count == 8 && pairs.names == (0..<8).map { String(format: "%06d.png", $0) })
    let bases = try TranslationFashion.bases(in: out + "/train")
    let garments = try TranslationFashion.garments(pairs.names.map { bases[$0]!.index }, split: "train", size: 32)
    let a = pairs.side(.a)
    let b = pairs.side(.b)
    var edgeFractions: [Double] = []
    for n in 0..<8 {
      #expect(try image(b, n) == garments[n], "pair \(n): B is the garment")
      let edges = try image(a, n)
      #expect(edges == EdgeMap.of(garments[n]), "pair \(n): A is its edge map")
      #expect(edges != garments[n])
      #expect(Set(edges.pixels).isSubset(of: [0, 255]))
      edgeFractions.append(Double(edges.pixels.filter { $0 == 0 }.count) / Double(edges.pixels.count))
    }
    // Measured for seed 5: edge pixels are 9.5 % ... 16.9 % of the image (outlines of 28x28
    // garments at 32x32); the bounds (3 %, 40 %) say "lines, neither nothing nor a filled shape",
    // a factor 3 below the smallest and 2.4 above the largest measured.
    #expect(edgeFractions.allSatisfy { $0 > 0.03 && $0 < 0.4 }, "\(edgeFractions)")
    let swapped = try PairedDataset.load(path: out, size: 32, channels: 1, direction: .bToA)
    #expect(try image(swapped.side(.a), 2) == garments[2] && swapped.side(.b).bytes == a.bytes)
    let test = try PairedDataset.load(path: out, split: "test", size: 32, channels: 1)
    let testBases = try TranslationFashion.bases(in: out + "/test")
    let testGarment = try TranslationFashion.garments([testBases[test.names[1]]!.index], split: "t10k", size: 32)[0]
    #expect(try image(test.side(.b), 1) == testGarment)

    // The same seed writes the same bytes; another seed other garments.
    let again = (dir.path as NSString).appendingPathComponent("again")
    try TranslationFashion.write(.edges, to: again, size: 32, train: 8, test: 3, seed: 5)
    #expect(try PairedDataset.load(path: again, size: 32, channels: 1).bytes == pairs.bytes)
    let other = (dir.path as NSString).appendingPathComponent("other")
    try TranslationFashion.write(.edges, to: other, size: 32, train: 8, test: 0, seed: 6)
    #expect(try PairedDataset.load(path: other, size: 32, channels: 1).bytes != pairs.bytes)
  }

  @Test("edge maps: a flat image has none; a square's outline is one pixel wide; dark lines on white")
  func edgeMap() throws {
    let flat = try makeImage(width: 8, height: 8, channels: 1) { _, _, _ in 90 }
    #expect(EdgeMap.of(flat).pixels.allSatisfy { $0 == 255 })
    // A bright 6x6 square on black in a 12x12 image: gradients peak on both sides of its border;
    // the pixels on both sides of the border tie, and non-maximum suppression keeps the first.
    let square = try makeImage(width: 12, height: 12, channels: 1) { x, y, _ in
      (3..<9).contains(x) && (3..<9).contains(y) ? 200 : 0
    }
    let edges = EdgeMap.of(square)
    let edgeColumns = (0..<12).filter { edges[$0, 6, 0] == 0 }
    #expect(edgeColumns == [2, 8], "row 6 crosses the square's left and right edges once each: \(edgeColumns)")
    let edgeRows = (0..<12).filter { edges[6, $0, 0] == 0 }
    #expect(edgeRows == [2, 8], "column 6 crosses its top and bottom once each: \(edgeRows)")
    #expect(edges[6, 6, 0] == 255 && edges[0, 0, 0] == 255, "inside and far outside stay white")
  }

  @Test("colour: trainA gray and trainB tinted from different garments; testB/x is testA/x tinted, exactly")
  func colour() throws {
    let dir = try ScratchFolder()
    let out = (dir.path as NSString).appendingPathComponent("colour")
    let summary = try TranslationFashion.write(.colour, to: out, size: 32, train: 6, test: 4, seed: 1)
    #expect(summary.counts == ["trainA": 6, "trainB": 6, "testA": 4, "testB": 4])
    #expect(try String(contentsOfFile: out + "/README.txt", encoding: .utf8).contains("testA/x.png and testB/x.png"))
    let train = try UnpairedDataset.load(path: out, size: 32, cache: nil)
    #expect(train.a.count == 6 && train.b.count == 6)
    let basesA = try TranslationFashion.bases(in: out + "/trainA")
    let basesB = try TranslationFashion.bases(in: out + "/trainB")
    #expect(Set(basesA.values.map(\.index)).isDisjoint(with: basesB.values.map(\.index)), "unpaired: no shared garment")
    let garmentsB = try TranslationFashion.garments(train.namesB.map { basesB[$0]!.index }, split: "train", size: 32)
    for n in 0..<6 {
      let label = basesB[train.namesB[n]]!.label
      #expect(
        try image(train.b, n) == TranslationFashion.tint(garmentsB[n], colour: TranslationFashion.classTints[label]))
      let gray = try image(train.a, n)
      #expect(
        gray.pixels.enumerated().allSatisfy { $0.offset % 3 == 0 || $0.element == gray.pixels[$0.offset / 3 * 3] })
    }
    let test = try UnpairedDataset.load(path: out, split: "test", size: 32, cache: nil)
    #expect(test.namesA == test.namesB)
    let testBases = try TranslationFashion.bases(in: out + "/testA")
    for n in 0..<4 {
      let label = testBases[test.namesA[n]]!.label
      let tinted = TranslationFashion.tint(try image(test.a, n), colour: TranslationFashion.classTints[label])
      #expect(try image(test.b, n) == tinted, "test pair \(n) is one garment, gray and tinted")
    }
  }

  @Test("classes: trainA/testA hold one class, trainB/testB another, per bases.txt and the idx labels")
  func classes() throws {
    let dir = try ScratchFolder()
    let out = (dir.path as NSString).appendingPathComponent("classes")
    let summary = try TranslationFashion.write(.classes, to: out, size: 16, train: 5, test: 2, seed: 3, classes: (1, 3))
    #expect(summary.classes == [1, 3] && summary.counts == ["trainA": 5, "trainB": 5, "testA": 2, "testB": 2])
    let labels = try IDX.readLabels("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")
    for (folder, label) in [("trainA", 1), ("trainB", 3)] {
      let bases = try TranslationFashion.bases(in: out + "/" + folder)
      #expect(bases.count == 5 && bases.values.allSatisfy { $0.label == label && Int(labels[$0.index]) == label })
    }
    let test = try UnpairedDataset.load(path: out, split: "test", size: 16, channels: 1, cache: nil)
    #expect(test.a.count == 2 && test.b.count == 2 && test.a.size == 16)
    let bad = expectKallimaError {
      try TranslationFashion.write(.classes, to: out + "2", train: 1, test: 0, seed: 0, classes: (4, 4))
    }
    #expect(bad?.description.contains("use two different Fashion-MNIST labels") == true)
  }

  @Test("attributes: CelebA-format list reloads; every image is render(base, its attributes), exactly")
  func attributes() throws {
    let dir = try ScratchFolder()
    let out = (dir.path as NSString).appendingPathComponent("attributes")
    try TranslationFashion.write(.attributes, to: out, size: 32, train: 16, test: 2, seed: 9)
    let all = GarmentAttribute.allCases.map(\.name)
    #expect(all == ["Red", "Inverted", "Thick"])
    let set = try AttributeDataset.loadAttributes(
      list: out + "/train/list_attr_celeba.txt", images: out + "/train/images", attributes: all, size: 32, cache: nil)
    #expect(set.images.count == 16 && set.conditions.vocabulary.names == ["red", "inverted", "thick"])
    let bases = try TranslationFashion.bases(in: out + "/train")
    let garments = try TranslationFashion.garments(set.names.map { bases[$0]!.index }, split: "train", size: 32)
    var combinations = Set<[Float]>()
    for n in 0..<16 {
      let vector = Array(set.conditions.vector(n))
      combinations.insert(vector)
      let on = Set(GarmentAttribute.allCases.filter { vector[$0.rawValue] == 1 })
      #expect(try image(set.images, n) == TranslationFashion.render(garments[n], on), "image \(n): \(on)")
    }
    // 16 draws of 3 fair bits: seed 9 gives all 8 combinations (measured), so attributes vary jointly;
    // at least 5 keeps the test about "joint", not about this seed's luck.
    #expect(combinations.count >= 5, "\(combinations)")
    let test = try AttributeDataset.loadAttributes(
      list: out + "/test/list_attr_celeba.txt", images: out + "/test/images", attributes: ["Thick"], size: 32,
      cache: nil)
    #expect(test.images.count == 2)
  }

  @Test("render: each attribute's edit, in a fixed order whatever the set; reproducible")
  func render() throws {
    let base = try TranslationFashion.garments([0], split: "train", size: 32)[0]
    let plain = TranslationFashion.render(base, [])
    #expect(plain == base.rgb())
    let red = TranslationFashion.render(base, [.red])
    #expect(
      (0..<(32 * 32)).allSatisfy {
        red.pixels[3 * $0 + 1] == base.pixels[$0] / 4 && red.pixels[3 * $0] == base.pixels[$0]
      })
    let inverted = TranslationFashion.render(base, [.inverted])
    #expect((0..<(32 * 32)).allSatisfy { inverted.pixels[3 * $0] == 255 - base.pixels[$0] })
    let thick = TranslationFashion.render(base, [.thick]).luma()
    #expect(zip(thick.pixels, base.pixels).allSatisfy { $0 >= $1 }, "a dilation never darkens")
    #expect(thick.pixels.filter { $0 > 0 }.count > base.pixels.filter { $0 > 0 }.count, "and it grows the garment")
    let everything = TranslationFashion.render(base, [.thick, .red, .inverted])
    #expect(everything == TranslationFashion.render(base, [.inverted, .thick, .red]))
    #expect(everything.pixels[0] == 255 && everything.pixels[1] == 63, "black background -> white -> red (255, 63, 63)")
    #expect(GarmentAttribute(name: "thick") == .thick && GarmentAttribute(name: "Bold") == nil)
  }

  @Test("the target must be new or empty; a failed write leaves nothing behind; bad sizes and counts are rejected")
  func atomicAndChecked() throws {
    let dir = try ScratchFolder()
    let taken = try dir.write([1], to: "taken/file")
    let exists = expectKallimaError {
      try TranslationFashion.write(
        .edges, to: (taken as NSString).deletingLastPathComponent, train: 1, test: 0, seed: 0)
    }
    #expect(exists?.description.contains("already exists and is not an empty folder") == true)
    // More sneakers than t10k holds: the train part is written, then the test pick fails.
    let failed = (dir.path as NSString).appendingPathComponent("failed")
    let tooMany = expectKallimaError {
      try TranslationFashion.write(.classes, to: failed, train: 2, test: 5000, seed: 0)
    }
    #expect(tooMany?.description.contains("5000 images asked from") == true, "\(String(describing: tooMany))")
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["taken"], "no partial set, no temp folder")
    let size = expectKallimaError {
      try TranslationFashion.write(.edges, to: failed, size: 2, train: 1, test: 0, seed: 0)
    }
    #expect(size?.description.contains("size is 2") == true)
    let none = expectKallimaError { try TranslationFashion.write(.edges, to: failed, train: 0, test: 0, seed: 0) }
    #expect(none?.description.contains("write at least 1 train image") == true)
  }
}
