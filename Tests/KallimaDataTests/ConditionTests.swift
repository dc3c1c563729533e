import Foundation
import KallimaCore
import KallimaData
import Testing

/// Writes an 8x8 RGB PNG whose every sample is `value`, so a loaded image can be told apart
/// by its first sample.
private func flatPNG(_ dir: ScratchFolder, _ relative: String, value: Int, side: Int = 8) throws {
  try ImageIO.writePNG(try makeImage(width: side, height: side) { _, _, _ in value }, to: try dir.file(relative))
}

/// The first sample of each image of `dataset` (its identifying value for `flatPNG` images).
private func firstSamples(_ dataset: ImageDataset) -> [Int] {
  (0..<dataset.count).map { Int(dataset.bytes[dataset.bytes.startIndex + $0 * dataset.imageBytes]) }
}

private func message(_ error: KallimaError?) -> String { error.map(\.description) ?? "(no error)" }

/// A .npy file of float32 values, written by hand as numpy does (version 1.0, `<f4`, C order).
private func float32NPY(shape: [Int], values: [Float]) -> Data {
  let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
  var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
  header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
  var out = Data([
    0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8),
  ])
  out.append(contentsOf: Array(header.utf8))
  for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
  return out
}

@Suite("Conditioned datasets: ImageFolder, metadata.jsonl, idx labels, embeddings")
struct ConditionTests {
  @Test(
    "ImageFolder: class = first folder under the root, sorted; root images skipped and counted; cache hit pairs alike")
  func imageFolderClasses() throws {
    let dir = try ScratchFolder()
    try flatPNG(dir, "data/dog/c.png", value: 30)
    try flatPNG(dir, "data/cat/a.png", value: 10)
    try flatPNG(dir, "data/cat/deep/b.png", value: 20)
    try flatPNG(dir, "data/stray.png", value: 40)
    try flatPNG(dir, "data/bird/tiny.png", value: 50, side: 4)  // too small for size 8: skipped by the loader
    let root = (dir.path as NSString).appendingPathComponent("data")
    let cache = DatasetCache(directory: URL(fileURLWithPath: dir.path).appendingPathComponent("cache"))
    for pass in 0..<2 {
      let (dataset, set) = try ImageDataset.loadConditioned(
        path: root, size: 8, channels: 3, condition: .class, cache: cache)
      #expect(set.vocabulary == (try ConditionVocabulary(kind: .class, names: ["bird", "cat", "dog"])), "pass \(pass)")
      #expect(dataset.count == 3 && set.count == 3)
      #expect(firstSamples(dataset) == [10, 20, 30], "cat/a, cat/deep/b, dog/c in path order; pass \(pass)")
      #expect(set.classIndices == [1, 1, 2] && dataset.labels == [1, 1, 2])
      #expect(set.captions == ["cat", "cat", "dog"])
      #expect(set.vectors == [0, 1, 0, 0, 1, 0, 0, 0, 1])
      let c = try #require(dataset.report.conditioning)
      #expect(c.skipped == 1 && c.conditioned == 3 && c.skippedExamples.first?.hasPrefix("stray.png") == true)
      #expect(dataset.report.description.contains("1 skipped without a condition"), "\(dataset.report)")
      #expect(dataset.report.description.contains("stray.png"), "\(dataset.report)")
    }
  }

  @Test("A folder with no subfolders and no metadata has no classes; tags need metadata.jsonl")
  func noClasses() throws {
    let dir = try ScratchFolder()
    try flatPNG(dir, "a.png", value: 1)
    let classes = expectKallimaError {
      _ = try ImageDataset.loadConditioned(path: dir.path, size: 8, channels: 3, condition: .class, cache: nil)
    }
    #expect(message(classes).contains("no metadata.jsonl and no subfolders"), "\(message(classes))")
    let tags = expectKallimaError {
      _ = try ImageDataset.loadConditioned(path: dir.path, size: 8, channels: 3, condition: .tags, cache: nil)
    }
    #expect(message(tags).contains("metadata.jsonl") && message(tags).contains("\"tags\""), "\(message(tags))")
    let empty = try ScratchFolder()
    let none = expectKallimaError {
      _ = try ImageDataset.loadConditioned(path: empty.path, size: 8, channels: 3, condition: .class, cache: nil)
    }
    #expect(message(none).contains("contains no .png"), "the plain loader's message: \(message(none))")
  }

  @Test("limit counts images before conditioning; the report says how many remain")
  func limitBeforeConditioning() throws {
    let dir = try ScratchFolder()
    for (name, value) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] { try flatPNG(dir, "\(name).png", value: value) }
    _ = try dir.write(
      Array("{\"file_name\": \"a.png\", \"text\": \"x\"}\n{\"file_name\": \"c.png\", \"text\": \"y\"}\n".utf8),
      to: "metadata.jsonl")
    let (dataset, set) = try ImageDataset.loadConditioned(
      path: dir.path, size: 8, channels: 3, limit: 2, condition: .text, cache: nil)
    #expect(firstSamples(dataset) == [1] && set.captions == ["x"] && set.vocabulary.names == ["x"])
    #expect(
      dataset.report.description.contains(
        "limit 2 counts images before conditioning: 1 of them had no condition, so 1 remain"),
      "\(dataset.report)")
  }

  /// a, b, c with full lines; d without a line; e with a line lacking every column; and a line
  /// naming a file that does not exist.
  private func metadataFolder() throws -> ScratchFolder {
    let dir = try ScratchFolder()
    for (name, value) in [("a", 10), ("b", 20), ("c", 30), ("d", 40), ("e", 50)] {
      try flatPNG(dir, "\(name).png", value: value)
    }
    // Subfolder names must not count as classes when metadata exists.
    try flatPNG(dir, "sub/f.png", value: 60)
    let lines = [
      #"{"file_name": "a.png", "label": "Cat", "tags": ["Blue Hair", "red eyes"], "text": "A red, red shirt!"}"#,
      #"{"file_name": "./b.png", "label": "dog", "tags": "red eyes , smile,", "text": "dog"}"#,
      "",
      #"{"file_name": "c.png", "label": "Cat", "tags": [], "text": "..."}"#,
      #"{"file_name": "e.png", "label": null}"#,
      #"{"file_name": "ghost.png", "label": "zebra", "tags": ["zebra"], "text": "zebra"}"#,
    ]
    _ = try dir.write(Array((lines.joined(separator: "\r\n") + "\n").utf8), to: "metadata.jsonl")
    return dir
  }

  @Test(
    "metadata.jsonl string labels: sorted distinct labels of all lines; images without a label skipped; stray lines noted"
  )
  func metadataLabels() throws {
    let dir = try metadataFolder()
    let (dataset, set) = try ImageDataset.loadConditioned(
      path: dir.path, size: 8, channels: 3, condition: .class, cache: nil)
    #expect(set.vocabulary.names == ["Cat", "dog", "zebra"])
    #expect(firstSamples(dataset) == [10, 20, 30])
    #expect(set.classIndices == [0, 1, 0] && set.captions == ["Cat", "dog", "Cat"])
    let c = try #require(dataset.report.conditioning)
    #expect(c.skipped == 3, "d (no line), e (null label), sub/f (no line): \(c.skippedExamples)")
    #expect(
      c.notes.contains { $0.contains("1 metadata line names no image") && $0.contains("metadata.jsonl:6") },
      "\(c.notes)")
  }

  @Test("metadata.jsonl integer labels: classes 0...max")
  func integerLabels() throws {
    let dir = try ScratchFolder()
    try flatPNG(dir, "a.png", value: 1)
    try flatPNG(dir, "b.png", value: 2)
    _ = try dir.write(
      Array("{\"file_name\": \"a.png\", \"label\": 3}\n{\"file_name\": \"b.png\", \"label\": 0}\n".utf8),
      to: "metadata.jsonl")
    let (_, set) = try ImageDataset.loadConditioned(path: dir.path, size: 8, channels: 3, condition: .class, cache: nil)
    #expect(set.vocabulary.names == ["0", "1", "2", "3"] && set.classIndices == [3, 0])
    #expect(set.vectors == [0, 0, 0, 1, 1, 0, 0, 0])
  }

  @Test("metadata.jsonl tags, as an array and as a comma-separated string: lowercased multi-hot; empty tags skipped")
  func metadataTags() throws {
    let dir = try metadataFolder()
    let (dataset, set) = try ImageDataset.loadConditioned(
      path: dir.path, size: 8, channels: 3, condition: .tags, cache: nil)
    #expect(set.vocabulary.names == ["blue hair", "red eyes", "smile"], "tags of the loaded images only")
    #expect(firstSamples(dataset) == [10, 20])
    #expect(set.vectors == [1, 1, 0, 0, 1, 1])
    #expect(set.captions == ["blue hair, red eyes", "red eyes, smile"])
    #expect(try set.vocabulary.encode("Smile, RED EYES") == [0, 1, 1])
    #expect(set.vocabulary.describe(Array(set.vector(1))) == "red eyes, smile")
    #expect(dataset.report.conditioning?.skippedExamples.contains { $0.hasPrefix("c.png: empty 'tags'") } == true)
  }

  @Test("metadata.jsonl text: bag of words, v[w] = count / words, exact")
  func metadataText() throws {
    let dir = try metadataFolder()
    let (dataset, set) = try ImageDataset.loadConditioned(
      path: dir.path, size: 8, channels: 3, condition: .text, cache: nil)
    #expect(set.vocabulary.names == ["a", "dog", "red", "shirt"])
    #expect(firstSamples(dataset) == [10, 20], "c's text '...' has no words")
    // "A red, red shirt!" -> a, red, red, shirt: 1/4, 2/4, 1/4 (exact in Float).
    #expect(Array(set.vector(0)) == [0.25, 0, 0.5, 0.25])
    #expect(Array(set.vector(1)) == [0, 1, 0, 0])
    #expect(set.captions == ["A red, red shirt!", "dog"])
    #expect(try set.vocabulary.encode("dog, a dog") == [1 / 3, 2 / 3, 0, 0])
    #expect(set.vocabulary.describe(Array(set.vector(0))) == "a red shirt")
    let unknown = expectKallimaError { _ = try set.vocabulary.encode("a blue shirt") }
    #expect(
      message(unknown).contains("unknown word 'blue'") && message(unknown).contains("a, dog, red, shirt"),
      "\(message(unknown))")
  }

  @Test("Nested metadata.jsonl: file_name is relative to its own folder; metadata beats subfolder classes")
  func nestedMetadata() throws {
    let dir = try ScratchFolder()
    try flatPNG(dir, "x/one.png", value: 1)
    try flatPNG(dir, "x/y/two.png", value: 2)
    try flatPNG(dir, "z/three.png", value: 3)
    _ = try dir.write(
      Array("{\"file_name\": \"one.png\", \"label\": \"b\"}\n{\"file_name\": \"y/two.png\", \"label\": \"a\"}\n".utf8),
      to: "x/metadata.jsonl")
    _ = try dir.write(Array("{\"file_name\": \"z/three.png\", \"label\": \"b\"}\n".utf8), to: "metadata.jsonl")
    let (dataset, set) = try ImageDataset.loadConditioned(
      path: dir.path, size: 8, channels: 3, condition: .class, cache: nil)
    #expect(set.vocabulary.names == ["a", "b"], "labels, not the folder names x and z")
    #expect(firstSamples(dataset) == [1, 2, 3] && set.captions == ["b", "a", "b"])
  }

  @Test("Malformed metadata lines are one error naming file:line for each, with what to fix")
  func malformedLines() throws {
    let dir = try ScratchFolder()
    try flatPNG(dir, "a.png", value: 1)
    let lines = [
      "not json",  // 1
      "[1, 2]",  // 2
      #"{"label": "a"}"#,  // 3
      #"{"file_name": "a.png", "label": 1.5}"#,  // 4
      #"{"file_name": "a.png", "label": "x"}"#,  // 5 (first good line for a.png)
      #"{"file_name": "./a.png", "label": "y"}"#,  // 6 duplicate
      #"{"file_name": 7}"#,  // 7
      #"{"file_name": "../a.png"}"#,  // 8
    ]
    let path = try dir.write(Array(lines.joined(separator: "\n").utf8), to: "metadata.jsonl")
    let error = expectKallimaError {
      _ = try ImageDataset.loadConditioned(path: dir.path, size: 8, channels: 3, condition: .class, cache: nil)
    }
    let text = message(error)
    for line in [1, 2, 3, 4, 6, 7, 8] { #expect(text.contains("\(path):\(line):"), "line \(line): \(text)") }
    #expect(!text.contains("\(path):5:"), "\(text)")
    #expect(text.contains("7 malformed lines") && text.contains("not valid JSON") && text.contains("no \"file_name\""))
    #expect(text.contains("\"label\" 1.5 is not a class index") && text.contains("already described on \(path):5"))
    // Tags of the wrong type; more than 10 problems are counted, not all shown.
    let many = (0..<13).map { #"{"file_name": "f\#($0).png", "tags": [1]}"# }
    _ = try dir.write(Array(many.joined(separator: "\n").utf8), to: "metadata.jsonl")
    let tags = message(
      expectKallimaError {
        _ = try ImageDataset.loadConditioned(path: dir.path, size: 8, channels: 3, condition: .tags, cache: nil)
      })
    #expect(
      tags.contains("13 malformed lines") && tags.contains("and 3 more") && tags.contains("\(path):10:"), "\(tags)")
    #expect(!tags.contains("\(path):11:"), "\(tags)")
    // An integer label too large to be a class index (it would make a vocabulary of 0...label).
    _ = try dir.write(Array("{\"file_name\": \"a.png\", \"label\": 123456789012}\n".utf8), to: "metadata.jsonl")
    let huge = message(
      expectKallimaError {
        _ = try ImageDataset.loadConditioned(path: dir.path, size: 8, channels: 3, condition: .class, cache: nil)
      })
    #expect(huge.contains("\(path):1:") && huge.contains("would make over 1048576 classes"), "\(huge)")
    // Mixed label types.
    _ = try dir.write(
      Array("{\"file_name\": \"a.png\", \"label\": 1}\n{\"file_name\": \"b.png\", \"label\": \"b\"}\n".utf8),
      to: "metadata.jsonl")
    let mixed = message(
      expectKallimaError {
        _ = try ImageDataset.loadConditioned(path: dir.path, size: 8, channels: 3, condition: .class, cache: nil)
      })
    #expect(mixed.contains("\(path):2:") && mixed.contains("one type for all labels"), "\(mixed)")
  }

  @Test("idx: Fashion-MNIST labels with Fashion-MNIST's names (first 100 of the installed set)")
  func fashionMNISTLabels() throws {
    let images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
    let (dataset, set) = try ImageDataset.loadConditioned(
      path: images, size: 28, channels: nil, limit: 100, condition: .class)
    let labels = try IDX.readLabels("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").prefix(100).map(
      Int.init)
    #expect(dataset.count == 100 && set.count == 100)
    #expect(set.vocabulary.names == ImageDataset.fashionMNISTClasses && set.vocabulary.names[9] == "Ankle boot")
    #expect(set.classIndices == labels && set.captions == labels.map { ImageDataset.fashionMNISTClasses[$0] })
    #expect(set.captions[0] == "Ankle boot", "Fashion-MNIST's first training label is 9")
    #expect(dataset.report.description.contains("Fashion-MNIST's"), "\(dataset.report)")
    let text = expectKallimaError {
      _ = try ImageDataset.loadConditioned(path: images, size: 28, channels: nil, limit: 10, condition: .text)
    }
    #expect(message(text).contains("class labels only"), "\(message(text))")
  }

  @Test("idx: classes.txt beside the images names the classes; otherwise 0...K-1")
  func classesFile() throws {
    let dir = try ScratchFolder()
    let images = try IDX.Images(count: 4, rows: 2, columns: 2, pixels: (0..<16).map { UInt8($0 * 10) })
    let path = try dir.write(IDX.encode(images), to: "train-images-idx3-ubyte")
    _ = try dir.write(IDX.encode(labels: [2, 0, 1, 2]), to: "train-labels-idx1-ubyte")
    let (_, numbered) = try ImageDataset.loadConditioned(path: dir.path, size: 2, channels: nil, condition: .class)
    #expect(numbered.vocabulary.names == ["0", "1", "2"] && numbered.classIndices == [2, 0, 1, 2])
    _ = try dir.write(Array("circle\nsquare\ntriangle\n\n".utf8), to: "classes.txt")
    let (dataset, named) = try ImageDataset.loadConditioned(
      path: path, size: 2, channels: nil, limit: 3, condition: .class)
    #expect(
      named.vocabulary.names == ["circle", "square", "triangle"] && named.captions == ["triangle", "circle", "square"])
    #expect(dataset.report.conditioning?.notes.first?.contains("classes.txt") == true)
    _ = try dir.write(Array("circle\nsquare\n".utf8), to: "classes.txt")
    let short = expectKallimaError {
      _ = try ImageDataset.loadConditioned(path: path, size: 2, channels: nil, condition: .class)
    }
    #expect(message(short).contains("names 2 classes but the labels go up to 2"), "\(message(short))")
    let unlabelled = try dir.write(IDX.encode(images), to: "other/test-images-idx3-ubyte")
    let noLabels = message(
      expectKallimaError {
        _ = try ImageDataset.loadConditioned(path: unlabelled, size: 2, channels: nil, condition: .class)
      })
    #expect(noLabels.contains("no idx1 labels file beside it"), "\(noLabels)")
  }

  @Test("Embeddings .npy (float32 and float64): rows in sorted path order before skipping; wrong row count names both")
  func embeddings() throws {
    let dir = try ScratchFolder()
    try flatPNG(dir, "imgs/a.png", value: 10)
    _ = try dir.write([1, 2, 3], to: "imgs/b.png")  // unreadable: skipped by the loader, keeps its row
    try flatPNG(dir, "imgs/c.png", value: 30)
    let root = (dir.path as NSString).appendingPathComponent("imgs")
    let values: [Float] = [0.5, -1, 2.25, 3, -0.125, 8]
    let f32 = try dir.file("e32.npy")
    try float32NPY(shape: [3, 2], values: values).write(to: URL(fileURLWithPath: f32))
    let f64 = try dir.file("e64.npy")
    try NPY.encode(try NPYArray(shape: [3, 2], values: values.map(Double.init))).write(to: URL(fileURLWithPath: f64))
    for file in [f32, f64] {
      let (dataset, set) = try ImageDataset.loadConditioned(
        path: root, size: 8, channels: 3, condition: .embedding, embeddings: file, cache: nil)
      #expect(firstSamples(dataset) == [10, 30])
      #expect(
        set.vocabulary.kind == .embedding && set.vocabulary.width == 2 && set.vectors == [0.5, -1, -0.125, 8], "\(file)"
      )
      #expect(set.captions == ["row 0", "row 2"])
    }
    let wrong = try dir.file("e4.npy")
    try float32NPY(shape: [4, 2], values: Array(repeating: 0, count: 8)).write(to: URL(fileURLWithPath: wrong))
    let rows = message(
      expectKallimaError {
        _ = try ImageDataset.loadConditioned(
          path: root, size: 8, channels: 3, condition: .embedding, embeddings: wrong, cache: nil)
      })
    #expect(rows.contains("4 rows") && rows.contains("3 image files"), "\(rows)")
    let missing = message(
      expectKallimaError {
        _ = try ImageDataset.loadConditioned(path: root, size: 8, channels: 3, condition: .embedding, cache: nil)
      })
    #expect(missing.contains("needs an embeddings .npy file"), "\(missing)")
    // A 1-D array, and integers: standalone .npy errors name the file, without an npz member.
    let flat = try dir.file("flat.npy")
    try float32NPY(shape: [3], values: [1, 2, 3]).write(to: URL(fileURLWithPath: flat))
    let shape = message(
      expectKallimaError {
        _ = try ImageDataset.loadConditioned(
          path: root, size: 8, channels: 3, condition: .embedding, embeddings: flat, cache: nil)
      })
    #expect(shape.contains(flat) && shape.contains("2-D array [images, E]"), "\(shape)")
    var ints = float32NPY(shape: [3, 2], values: Array(repeating: 0, count: 6))
    ints.replaceSubrange(ints.range(of: Data("<f4".utf8))!, with: Data("<i4".utf8))
    let intPath = try dir.file("ints.npy")
    try ints.write(to: URL(fileURLWithPath: intPath))
    let dtype = message(expectKallimaError { _ = try NPY.read(intPath) })
    #expect(dtype.contains(intPath) && dtype.contains("'<i4'") && !dtype.contains("member"), "\(dtype)")
  }

  @Test("Vocabulary: encode/describe round trips, index input, unknown names listed, Codable checks its fields")
  func vocabulary() throws {
    let classes = try ConditionVocabulary(kind: .class, names: ["cat", "Dog", "10"])
    #expect(try classes.encode("DOG") == [0, 1, 0])
    #expect(try classes.encode("0") == [1, 0, 0])
    #expect(try classes.encode("10") == [0, 0, 1], "a name that looks like an index is the name")
    for name in classes.names { #expect(classes.describe(try classes.encode(name)) == name) }
    let unknown = message(expectKallimaError { _ = try classes.encode("bird") })
    #expect(unknown.contains("unknown class 'bird'") && unknown.contains("cat, Dog, 10"), "\(unknown)")
    #expect(message(expectKallimaError { _ = try classes.encode("3") }).contains("unknown class '3'"))

    let tags = try ConditionVocabulary(kind: .tags, names: ["blue hair", "red eyes", "smile"])
    #expect(tags.describe(try tags.encode(" smile ,Blue Hair")) == "blue hair, smile")
    #expect(message(expectKallimaError { _ = try tags.encode("smile, frown") }).contains("unknown tag 'frown'"))
    #expect(message(expectKallimaError { _ = try tags.encode(" , ") }).contains("no tags"))

    let embedding = try ConditionVocabulary(kind: .embedding, names: [], width: 4)
    #expect(embedding.describe([1, 2, 3, 4]) == "embedding")
    #expect(message(expectKallimaError { _ = try embedding.encode("x") }).contains("vector of 4 values"))
    #expect(classes.describe([1, 2]).contains("2 values"))

    let json = try JSONEncoder().encode(tags)
    #expect(try JSONDecoder().decode(ConditionVocabulary.self, from: json) == tags)
    let bad = Data(#"{"kind": "tags", "names": ["a", "a"], "width": 2}"#.utf8)
    #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(ConditionVocabulary.self, from: bad) }
    #expect(throws: KallimaError.self) { _ = try ConditionVocabulary(kind: .class, names: ["a"], width: 2) }
  }

  @Test("A report stored before conditioning existed still decodes (the dataset cache holds reports)")
  func reportBackwardsCompatible() throws {
    let old =
      #"{"source": {"folder": {"_0": "/x"}}, "size": 8, "candidates": 1, "examined": 1, "loaded": 1, "skipped": [], "notes": []}"#
    let report = try JSONDecoder().decode(ImageDataset.Report.self, from: Data(old.utf8))
    #expect(report.conditioning == nil && report.loaded == 1)
  }
}
