import Foundation
import KallimaCore
import KallimaData
import KallimaGAN

/// A translation run's data: the training set on the device (8-bit, gathered, flipped and
/// cropped there) and the held-out images on the host for sample grids and evaluation.
public struct TranslationDataSplit {
  /// What the trainer gathers from.
  public var training: TranslationData
  /// Images per epoch (pix2pix and StarGAN: the set; CycleGAN: the larger domain, as the
  /// reference's unaligned dataset).
  public var epochImages: Int
  public var channelsA: Int
  public var channelsB: Int
  /// StarGAN: what each label column means.
  public var vocabulary: ConditionVocabulary?
  /// Held-out inputs [N, C_A, S, S] in [−1, 1] at the networks' size.
  public var testA: [Float]
  public var testCount: Int
  /// pix2pix: the held-out targets; CycleGAN: test B images (the partner of each test A
  /// image when the files pair by name, see `testPairs`); nil for StarGAN.
  public var testB: [Float]?
  public var testBCount: Int
  /// CycleGAN: whether testA/x and testB/x show the same content (the project's colour set),
  /// so translations have a ground truth.
  public var testPairs: Bool
  /// StarGAN: the held-out images' label rows [N, L].
  public var testLabels: [Float]?
  /// Which split the held-out images come from ("test", "val", or "train" when there is no
  /// held-out split, said in the notes).
  public var testSplit: String
  /// Lines for the log: counts, skipped files, substitutions.
  public var notes: [String]
  /// What identifies the training data (counts and names), checked on resume.
  public var fingerprint: String
  /// CycleGAN and StarGAN: training images at the networks' size with a class each, for the
  /// evaluation's classifier (A = 0 and B = 1; a domain; or an attribute combination, bit a
  /// = attribute a), and the number of classes. nil: no classifier (too many combinations).
  public var classifier: (images: [Float], labels: [Int], classes: Int)? = nil
  /// StarGAN on the project's attribute set (`kallima make-translation-data --kind
  /// attributes`): held-out image i as it truly looks under a target label row, NCHW in
  /// [−1, 1] (its garment rendered with those attributes).
  public var groundTruth: ((_ image: Int, _ target: [Float]) -> [Float])? = nil
}

extension TranslationRun {
  /// Loads `options.data` for the method.
  public static func loadData(_ options: TranslationOptions, backend: Backend) throws -> TranslationDataSplit {
    guard let path = options.data else {
      throw KallimaError.invalidArgument(
        op: "data", message: "give --data: a dataset folder (or build one with kallima make-translation-data)")
    }
    var load = options.resolvedLoadSize
    var crop = load == options.size ? nil : options.size
    let seed = options.seed &+ 0xDA7A
    var notes: [String] = []
    func upload(_ bytes: Data, _ shape: Shape) throws -> Tensor {
      let t = try backend.makeByteTensor(shape)
      try bytes.withUnsafeBytes { try backend.write(bytes: $0, to: t, offset: 0) }
      return t
    }
    func floats(_ d: ImageDataset, limit: Int) -> [Float] { Array(d.pixels.prefix(limit * d.imageBytes)) }
    switch options.method {
    case .pix2pix:
      let direction = PairedDataset.Direction(rawValue: options.direction) ?? .aToB
      let train = try PairedDataset.load(
        path: path, split: nil, size: load, channels: options.channels, direction: direction, limit: options.limit)
      notes.append("train: \(train.count) pairs (\(train.report))")
      let tensor = try upload(train.bytes, [train.count, 2 * train.channels, load, load])
      var test: PairedDataset?
      var split = "train"
      // A held-out split of either layout (test/ or A/test/); its problems are reported.
      let held = ["test", "val"].first { s in
        [s, "A/" + s].contains { PairedDataset.isFolder((path as NSString).appendingPathComponent($0)) }
      }
      if let held {
        test = try PairedDataset.load(
          path: path, split: held, size: options.size, channels: train.channels, direction: direction,
          limit: options.evalImages)
        split = held
      } else {
        test = try PairedDataset.load(
          path: path, split: nil, size: options.size, channels: train.channels, direction: direction,
          limit: options.evalImages)
        notes.append("no test/ or val/ split: grids and evaluation use the first training pairs")
      }
      let t = test!
      let n = min(t.count, options.evalImages)
      return TranslationDataSplit(
        training: .paired(tensor, seed: seed, flip: options.flip, crop: crop), epochImages: train.count,
        channelsA: train.channels, channelsB: train.channels, vocabulary: nil, testA: floats(t.side(.a), limit: n),
        testCount: n, testB: floats(t.side(.b), limit: n), testBCount: n, testPairs: true, testLabels: nil,
        testSplit: split, notes: notes, fingerprint: "pairs \(train.count) " + DatasetNames.digest(train.names))
    case .cyclegan:
      let train: UnpairedDataset
      do {
        train = try UnpairedDataset.load(path: path, split: "train", size: load, channels: options.channels, limit: options.limit)
      } catch where options.loadSize == nil && load > options.size {
        // Folder images are never scaled up: images at the networks' size train uncropped.
        train = try UnpairedDataset.load(path: path, split: "train", size: options.size, channels: options.channels, limit: options.limit)
        notes.append("the images are smaller than the default load size \(load): loaded at \(options.size), no random crop (--load-size \(options.size))")
        (load, crop) = (options.size, nil)
      }
      notes.append("train: \(train.a.count) A and \(train.b.count) B images")
      let a = try upload(train.a.bytes, [train.a.count, train.a.channels, load, load])
      let b = try upload(train.b.bytes, [train.b.count, train.b.channels, load, load])
      var test: UnpairedDataset
      var split = "test"
      if ["testA", "testB"].allSatisfy({ PairedDataset.isFolder((path as NSString).appendingPathComponent($0)) }) {
        test = try UnpairedDataset.load(path: path, split: "test", size: options.size, channels: train.a.channels, limit: options.evalImages)
      } else {
        test = try UnpairedDataset.load(path: path, split: "train", size: options.size, channels: train.a.channels, limit: options.evalImages)
        split = "train"
        notes.append("no testA/ and testB/: grids and evaluation use the first training images")
      }
      // The project's colour set pairs testA/x.png with testB/x.png (the same garment).
      let pairs = test.namesA == test.namesB && split == "test"
      let atSize = load == options.size
        ? train : try UnpairedDataset.load(path: path, split: "train", size: options.size, channels: train.a.channels, limit: options.limit)
      let cap = 2000
      let classifier = (
        floats(atSize.a, limit: cap) + floats(atSize.b, limit: cap),
        [Int](repeating: 0, count: min(cap, atSize.a.count)) + [Int](repeating: 1, count: min(cap, atSize.b.count)), 2)
      let (na, nb) = (min(test.a.count, options.evalImages), min(test.b.count, options.evalImages))
      return TranslationDataSplit(
        training: .unpaired(a: a, b: b, seed: seed, flip: options.flip, crop: crop),
        epochImages: max(train.a.count, train.b.count), channelsA: train.a.channels, channelsB: train.b.channels,
        vocabulary: nil, testA: floats(test.a, limit: na), testCount: na, testB: floats(test.b, limit: nb), testBCount: nb,
        testPairs: pairs, testLabels: nil, testSplit: split, notes: notes,
        fingerprint: "A \(train.a.count) B \(train.b.count) " + DatasetNames.digest(train.namesA + train.namesB),
        classifier: classifier)
    case .stargan:
      let set: AttributeDataset
      do {
        set = try loadAttributes(path, options: options, size: load)
      } catch where options.loadSize == nil && load > options.size {
        set = try loadAttributes(path, options: options, size: options.size)
        notes.append("the images are smaller than the load size \(load): loaded at \(options.size), no random crop")
        (load, crop) = (options.size, nil)
      }
      notes.append("train: \(set.images.count) images, labels \(set.conditions.vocabulary.names.joined(separator: ", "))")
      let images = try upload(set.images.bytes, [set.images.count, set.images.channels, load, load])
      let width = set.conditions.vocabulary.width
      let labels = try backend.makeTensor([set.images.count, width, 1, 1], values: set.conditions.vectors)
      // Held out: a test/ folder beside the training images when there is one, else the
      // first images (StarGAN's CelebA split holds out the first 2000 the same way).
      // The training images at the networks' size (for the classifier, and as the held-out
      // images when there is no test/), loaded once.
      let atSize = load == options.size ? set : try loadAttributes(path, options: options, size: options.size)
      var test = atSize
      var split = "train"
      let testPath = (path as NSString).appendingPathComponent("test")
      if PairedDataset.isFolder(testPath) {
        test = try loadAttributes(testPath, options: options, size: options.size)
        split = "test"
      } else {
        notes.append("no test/ folder: grids and evaluation use the first training images")
      }
      let n = min(test.images.count, options.evalImages)
      let cap = min(atSize.images.count, 4000)
      var classifier: (images: [Float], labels: [Int], classes: Int)?
      if set.conditions.vocabulary.kind == .class {
        classifier = (floats(atSize.images, limit: cap), Array((atSize.conditions.classIndices ?? []).prefix(cap)), width)
      } else if width <= 6 {
        // Multi-label: one class per combination of attributes (bit a = attribute a).
        let combos = (0..<cap).map { i in
          (0..<width).reduce(0) { $0 | (atSize.conditions.vectors[i * width + $1] > 0.5 ? 1 << $1 : 0) }
        }
        classifier = (floats(atSize.images, limit: cap), combos, 1 << width)
      } else {
        notes.append("\(width) attributes: no attribute classifier (at most 6, one class per combination)")
      }
      let truth = split == "test" && test.images.channels == 3
        ? try? attributeGroundTruth(path, names: Array(test.names.prefix(n)), vocabulary: set.conditions.vocabulary, size: options.size)
        : nil
      if truth != nil { notes.append("held-out ground truth: the garments of test/bases.txt rendered under each target") }
      return TranslationDataSplit(
        training: .labelled(images, labels: labels, seed: seed, flip: options.flip, crop: crop),
        epochImages: set.images.count, channelsA: set.images.channels, channelsB: set.images.channels,
        vocabulary: set.conditions.vocabulary, testA: floats(test.images, limit: n), testCount: n, testB: nil,
        testBCount: 0, testPairs: false, testLabels: Array(test.conditions.vectors.prefix(n * width)), testSplit: split,
        notes: notes, fingerprint: "images \(set.images.count) " + set.conditions.fingerprint, classifier: classifier,
        groundTruth: truth)
    }
  }

  /// The ground truth of the project's attribute set (nil for other data): each held-out
  /// file's garment (test/bases.txt, from Fashion-MNIST's t10k file) rendered under a target.
  static func attributeGroundTruth(_ path: String, names: [String], vocabulary: ConditionVocabulary, size: Int) throws
    -> ((Int, [Float]) -> [Float])?
  {
    let summaryPath = (path as NSString).appendingPathComponent("translation-fashion.json")
    guard let json = FileManager.default.contents(atPath: summaryPath),
      let summary = try? JSONDecoder().decode(TranslationFashion.Summary.self, from: json), summary.kind == .attributes
    else { return nil }
    let attributes = vocabulary.names.map { name in GarmentAttribute.allCases.first { $0.name.lowercased() == name } }
    guard attributes.allSatisfy({ $0 != nil }) else { return nil }
    let bases = try TranslationFashion.bases(in: (path as NSString).appendingPathComponent("test"))
    let indices = try names.map { name -> Int in
      guard let b = bases[(name as NSString).lastPathComponent] else {
        throw KallimaError.io(path: path, message: "test/bases.txt has no line for \(name)")
      }
      return b.index
    }
    let garments = try TranslationFashion.garments(indices, split: "t10k", size: size, source: summary.source)
    return { i, target in
      var set = Set<GarmentAttribute>()
      for (k, a) in attributes.enumerated() where target[k] > 0.5 { set.insert(a!) }
      let image = TranslationFashion.render(garments[i], set)
      return image.unitValues()
    }
  }

  /// StarGAN's data: a CelebA-style attribute file in the folder (or its `train/`), else one
  /// folder per domain.
  static func loadAttributes(_ path: String, options: TranslationOptions, size: Int) throws -> AttributeDataset {
    let root = PairedDataset.isFolder((path as NSString).appendingPathComponent("train"))
      ? (path as NSString).appendingPathComponent("train") : path
    let list = (root as NSString).appendingPathComponent("list_attr_celeba.txt")
    if FileManager.default.fileExists(atPath: list) {
      let selected = try options.attributes ?? AttributeList.read(list).names
      let images = PairedDataset.isFolder((root as NSString).appendingPathComponent("images"))
        ? (root as NSString).appendingPathComponent("images") : root
      return try AttributeDataset.loadAttributes(
        list: list, images: images, attributes: selected, size: size, channels: options.channels, limit: options.limit)
    }
    return try AttributeDataset.loadDomains(path: root, size: size, channels: options.channels, limit: options.limit)
  }
}

/// A short digest of file names (FNV-1a), for noticing a changed training set on resume.
enum DatasetNames {
  static func digest(_ names: [String]) -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for name in names {
      for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
      h = (h ^ 0x0A) &* 0x100_0000_01B3
    }
    return String(format: "%016llx", h)
  }
}
