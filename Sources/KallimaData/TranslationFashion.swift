import Foundation
import KallimaCore

/// Synthetic image-to-image translation sets made from Fashion-MNIST, each with a ground truth
/// the project computes itself, so a trained translator can be scored exactly:
///
/// - `edges`: pix2pix pairs in the aligned format, A = the garment's edge map (`edgeMap`), B =
///   the garment (like edges2shoes). Ground truth of A's translation: B.
/// - `colour`: CycleGAN domains, A = gray garments, B = garments tinted by class (`tint`). Train
///   A and B come from different garments (unpaired); testA/x.png and testB/x.png are the same
///   garment, so the translation of a test image can be compared with its partner.
/// - `classes`: CycleGAN domains, A = one Fashion-MNIST class, B = another (default sneaker and
///   ankle boot). No ground truth pairing (as horse2zebra).
/// - `attributes`: StarGAN images with binary attributes (`GarmentAttribute`: red, inverted,
///   thick) in CelebA's list_attr_celeba.txt format; `render` makes any garment under any
///   attribute set, so every translation has a ground truth; `bases.txt` gives each file's garment.
///
/// Train images come from Fashion-MNIST's training file, test images from its t10k file, so the
/// splits never share a garment. Garments are picked by a Philox-seeded shuffle: the same seed
/// writes the same set. Images are resized from 28 to `size` with `ImageResize` (bilinear up,
/// area down), as `ImageDataset.load` resizes idx images. Every set also gets a README.txt that
/// describes its layout and ground truth, and `translation-fashion.json` (the `Summary`).
/// Everything is written into a temporary sibling folder renamed to the target at the end, so a
/// killed run leaves no half-written set under that name.
public enum TranslationFashion {
  /// Which set `write` makes (`kallima make-translation-data --kind`).
  public enum Kind: String, Codable, CaseIterable, Sendable {
    case edges
    case colour
    case classes
    case attributes
  }

  /// The folder with Fashion-MNIST's four idx files.
  public static let defaultSource = "/usr/share/datasets/fashion-mnist"

  /// What `write` made; also stored as `translation-fashion.json` in the folder.
  public struct Summary: Codable, Equatable, Sendable {
    public var kind: Kind
    public var folder: String
    public var size: Int
    public var seed: UInt64
    public var source: String
    /// Images (pairs for edges) per split: ["train": 100, "test": 20]; for unpaired sets per
    /// domain folder: ["trainA": 50, "trainB": 50, ...].
    public var counts: [String: Int]
    /// The class pair of a `classes` set (Fashion-MNIST labels); nil otherwise.
    public var classes: [Int]?
  }

  /// Writes the `kind` set into `folder`, which must not exist or be empty. `train` and `test`
  /// count pairs (edges), images per domain (colour, classes) or images (attributes). `classes`
  /// is the label pair of a `classes` set (default 7 sneaker and 9 ankle boot).
  @discardableResult
  public static func write(
    _ kind: Kind, to folder: String, size: Int = 32, train: Int, test: Int, seed: UInt64,
    classes: (Int, Int) = (7, 9), source: String = defaultSource
  ) throws -> Summary {
    let op = "TranslationFashion.write"
    guard (4...512).contains(size) else {
      throw KallimaError.invalidArgument(op: op, message: "size is \(size); use 4...512 (e.g. 32)")
    }
    guard train >= 1, test >= 0 else {
      throw KallimaError.invalidArgument(
        op: op, message: "train is \(train) and test \(test); write at least 1 train image (test may be 0)")
    }
    if kind == .classes {
      guard (0..<10).contains(classes.0), (0..<10).contains(classes.1), classes.0 != classes.1 else {
        throw KallimaError.invalidArgument(
          op: op, message: "classes \(classes.0) and \(classes.1): use two different Fashion-MNIST labels 0...9")
      }
    }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
      let contents = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? ["?"]
      guard isDirectory.boolValue, contents.isEmpty else {
        throw KallimaError.io(path: folder, message: "already exists and is not an empty folder; choose a new --out")
      }
    }
    let trainSource = try Source(folder: source, split: "train", size: size)
    let testSource = test > 0 ? try Source(folder: source, split: "t10k", size: size) : nil
    let url = URL(fileURLWithPath: folder).standardizedFileURL
    var summary = Summary(
      kind: kind, folder: url.path, size: size, seed: seed, source: source, counts: [:],
      classes: kind == .classes ? [classes.0, classes.1] : nil)
    try writeAtomically(url) { temporary in
      switch kind {
      case .edges:
        summary.counts = try writeEdges(temporary, train: (trainSource, train), test: (testSource, test), seed: seed)
      case .colour:
        summary.counts = try writeColour(temporary, train: (trainSource, train), test: (testSource, test), seed: seed)
      case .classes:
        summary.counts = try writeClasses(
          temporary, train: (trainSource, train), test: (testSource, test), seed: seed, classes: classes)
      case .attributes:
        summary.counts = try writeAttributes(
          temporary, train: (trainSource, train), test: (testSource, test), seed: seed)
      }
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try encoder.encode(summary).write(
        to: URL(fileURLWithPath: (temporary as NSString).appendingPathComponent("translation-fashion.json")))
      try Data(wrapped(readme(summary)).utf8).write(
        to: URL(fileURLWithPath: (temporary as NSString).appendingPathComponent("README.txt")))
    }
    return summary
  }

  /// Fashion-MNIST images of one split, resized to `size`, with their labels.
  struct Source {
    let images: IDX.Images
    let labels: [UInt8]
    let size: Int
    let resize: ImageResize.Plan?
    /// The idx3 file, for the summary and messages.
    let path: String

    init(folder: String, split: String, size: Int) throws {
      let candidates = ["\(split)-images-idx3-ubyte.gz", "\(split)-images-idx3-ubyte"]
        .map { (folder as NSString).appendingPathComponent($0) }
      guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
        throw KallimaError.io(
          path: folder,
          message: "has no \(split)-images-idx3-ubyte(.gz); pass the Fashion-MNIST folder with its four idx files")
      }
      images = try IDX.readImages(path)
      guard let labelsPath = ImageDataset.labelsBeside(path) else {
        throw KallimaError.io(path: path, message: "has no idx1 labels file beside it; the garments need their labels")
      }
      labels = try IDX.readLabels(labelsPath)
      guard labels.count == images.count, labels.allSatisfy({ $0 < 10 }) else {
        throw KallimaError.io(
          path: labelsPath,
          message: "holds \(labels.count) labels (some above 9?) for \(images.count) images; "
            + "this is not Fashion-MNIST")
      }
      self.size = size
      self.path = path
      resize =
        size == images.rows && size == images.columns
        ? nil : ImageResize.Plan(width: images.columns, height: images.rows, size: size)
    }

    /// Garment `index`, gray, `size` x `size`.
    func image(_ index: Int) -> RGBImage {
      let raw = images.image(index)
      return resize?.apply(raw) ?? raw
    }

    /// Indices of images (with a label in `labels`, when given), shuffled by `seed` and `stream`
    /// (Fisher–Yates over Philox draws), first `count` of them. Throws when there are fewer.
    func pick(_ count: Int, seed: UInt64, stream: UInt64, labels wanted: Set<UInt8>? = nil) throws -> [Int] {
      var pool = wanted.map { w in labels.indices.filter { w.contains(labels[$0]) } } ?? Array(labels.indices)
      guard pool.count >= count else {
        throw KallimaError.invalidArgument(
          op: "TranslationFashion.write",
          message: "\(count) images asked from \(path), which has \(pool.count)"
            + (wanted.map { " with label \($0.sorted().map(String.init).joined(separator: " or "))" } ?? "")
            + "; ask for fewer")
      }
      shuffle(&pool, seed: seed, stream: stream, first: count)
      return Array(pool.prefix(count))
    }
  }

  /// Partial Fisher–Yates: the first `first` entries become a uniform sample, in random order.
  /// Draw i is Philox block (seed, stream << 32 | i), a multiply-shift of 32 bits (bias below
  /// pool size / 2^32).
  static func shuffle(_ pool: inout [Int], seed: UInt64, stream: UInt64, first: Int) {
    for i in 0..<min(first, max(0, pool.count - 1)) {
      let word = Philox.block(seed: seed, counter: stream << 32 | UInt64(i)).0
      let j = i + Int((UInt64(word) * UInt64(pool.count - i)) >> 32)
      pool.swapAt(i, j)
    }
  }

  /// Runs `body` on a fresh temporary sibling of `url`, then renames it to `url` (replacing an
  /// empty folder); removes the temporary folder on any failure.
  static func writeAtomically(_ url: URL, _ body: (String) throws -> Void) throws {
    let parent = url.deletingLastPathComponent().path
    if !PairedDataset.isFolder(parent) {
      do {
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
      } catch {
        throw KallimaError.io(path: url.path, message: "cannot create its folder \(parent): \(error.localizedDescription)")
      }
    }
    let temporary = url.deletingLastPathComponent()
      .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
    try? FileManager.default.removeItem(atPath: temporary)
    try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
    var success = false
    defer { if !success { try? FileManager.default.removeItem(atPath: temporary) } }
    try body(temporary)
    if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(atPath: url.path) }
    guard rename(temporary, url.path) == 0 else {
      throw KallimaError.io(
        path: url.path, message: "could not rename \(temporary) to it: \(String(cString: strerror(errno)))")
    }
    success = true
  }

  /// "000042.png": `n` zero-padded to at least 6 digits.
  static func fileName(_ n: Int) -> String {
    let digits = String(n)
    return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".png"
  }

  /// Writes `image` as a PNG at `folder/name`, creating `folder`.
  static func writePNG(_ image: RGBImage, _ folder: String, _ name: String) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let path = (folder as NSString).appendingPathComponent(name)
    try CShim.writePNG(image, to: path, reportedAs: path)
  }

  /// `text` with each line longer than `width` broken at spaces (for README.txt).
  static func wrapped(_ text: String, width: Int = 100) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { paragraph -> String in
      var lines: [String] = []
      var line = ""
      for word in paragraph.split(separator: " ") {
        if !line.isEmpty, line.count + 1 + word.count > width {
          lines.append(line)
          line = ""
        }
        line += (line.isEmpty ? "" : " ") + word
      }
      lines.append(line)
      return lines.joined(separator: "\n")
    }.joined(separator: "\n")
  }

  /// The README.txt of a set: its layout and how to use its ground truth.
  static func readme(_ summary: Summary) -> String {
    let counts = summary.counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    var text = """
      Synthetic image-to-image translation set '\(summary.kind.rawValue)' made by `kallima make-translation-data` \
      from Fashion-MNIST (\(summary.source)): train images from its training file, test images from t10k, \
      so no garment is in both. Images are \(summary.size)x\(summary.size) PNG, resized from 28x28 (bilinear up, \
      area down). Seed \(summary.seed); the same seed writes the same set. Counts: \(counts).


      """
    switch summary.kind {
    case .edges:
      text += """
        Layout: pix2pix's aligned format. train/NNNNNN.png and test/NNNNNN.png are each A|B side by side \
        (width = 2 x height, A on the left). A is the garment's edge map (Sobel gradient, thinned by \
        non-maximum suppression, thresholded at \(Int(EdgeMap.threshold * 100)) % of the image's strongest \
        gradient; dark lines on white, as edges2shoes); B is the garment. Train with direction AtoB (edges -> \
        garment). Ground truth: the translation of A should be B (L1 between the output and B). \
        bases.txt in train/ and test/ gives each file's garment: '<file> <index in the Fashion-MNIST \
        file> <label>'.

        """
    case .colour:
      text += """
        Layout: CycleGAN's. trainA/ holds gray garments, trainB/ garments tinted with their class's colour \
        (RGB = gray x colour / 255; colours per Fashion-MNIST label 0..9: \
        \(TranslationFashion.classTints.map { "(\($0.0),\($0.1),\($0.2))" }.joined(separator: " "))). \
        trainA and trainB are different garments: the training data is unpaired. \
        Ground truth: testA/x.png and testB/x.png are the SAME garment (gray and tinted), so A->B of \
        testA/x.png should equal testB/x.png and B->A of testB/x.png should equal testA/x.png; measure L1 over \
        the test pairs. bases.txt in each folder gives each file's garment: '<file> <index in the \
        Fashion-MNIST file> <label>'.

        """
    case .classes:
      let (a, b) = (summary.classes?[0] ?? 7, summary.classes?[1] ?? 9)
      text += """
        Layout: CycleGAN's. trainA/ and testA/ hold Fashion-MNIST class \(a) \
        (\(ImageDataset.fashionMNISTClasses[a])), trainB/ and testB/ class \(b) \
        (\(ImageDataset.fashionMNISTClasses[b])). Unpaired: there is no pixel ground truth; judge a translation by a \
        classifier or by Frechet distance to the other domain. bases.txt in each folder gives each \
        file's garment: '<file> <index in the Fashion-MNIST file> <label>'.

        """
    case .attributes:
      text += """
        Layout: CelebA's, per split: train/list_attr_celeba.txt and test/list_attr_celeba.txt (line 1 the image \
        count, line 2 the attribute names \(GarmentAttribute.allCases.map(\.name).joined(separator: " ")), then \
        '<file> <1 or -1 per attribute>'), images in train/images/ and test/images/. Attributes: Red = tinted \
        red (R = v, G = B = v / 4), Inverted = 255 - v, Thick = 3x3 dilation (grey-level maximum); applied to the \
        gray garment in the order Thick, Inverted, Red. bases.txt in each split gives each file's garment: \
        '<file> <index in the Fashion-MNIST file> <label>'. Ground truth: the garment under any attribute set is \
        TranslationFashion.render(base, attributes), so translating a file to target attributes has an exact \
        answer: render its base garment with those attributes.

        """
    }
    return text
  }
}
