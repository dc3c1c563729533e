import Foundation
import KallimaCore

extension ImageDataset {
  /// Images with one condition each. Images without a condition are skipped and counted
  /// (report), so the returned dataset and condition set have the same count and order.
  ///
  /// Where conditions come from:
  /// - a folder with `metadata.jsonl` (Hugging Face imagefolder, see `ImageFolderMetadata`; also in
  ///   subfolders): `class` reads `label` (vocabulary: the sorted distinct string labels of all
  ///   lines, or 0...max for integer labels), `tags` reads `tags`, `text` reads `text` (vocabulary:
  ///   the sorted tags or words of the loaded images). Images without a line, without the column,
  ///   or with no tags/words are skipped; lines naming no image file are counted in a note.
  /// - a folder without metadata, `class` only: torchvision ImageFolder, the class is the first
  ///   path component under the root (`root/cat/x.png`), classes sorted by name (as torchvision
  ///   does) over the subfolders that hold images; images directly in the root are skipped.
  /// - idx images with their idx1 labels, `class` only: names from `classes.txt` beside the images
  ///   file (one per line), else Fashion-MNIST's when the path contains "fashion-mnist" and there
  ///   are 10 classes, else "0"..."K-1".
  /// - `embedding`: `embeddings` is a .npy file (float32 or float64, [images, E]) whose rows follow
  ///   the image order before any skipping (sorted image paths for a folder, file order for idx).
  ///
  /// `limit` counts images as `load` does, before conditioning: images among them without a
  /// condition are dropped, so fewer may remain (the report says so). Other arguments as `load`.
  public static func loadConditioned(
    path: String, size: Int, channels: Int?, limit: Int? = nil, condition: ConditionKind,
    embeddings: String? = nil, cache: DatasetCache? = .standard
  ) throws -> (ImageDataset, ConditionSet) {
    let op = "ImageDataset.loadConditioned"
    if condition == .embedding, embeddings == nil {
      throw KallimaError.invalidArgument(
        op: op, message: "condition embedding needs an embeddings .npy file ([images, E], one row per image)")
    }
    if condition != .embedding, let embeddings {
      throw KallimaError.invalidArgument(
        op: op,
        message: "an embeddings file (\(embeddings)) is only read with condition embedding, not \(condition.rawValue)")
    }
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    let idxFolder = ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]
      .contains { FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent($0)) }
    guard exists, isDirectory.boolValue, !idxFolder else {
      // A missing path is reported by `load`.
      let dataset = try load(path: path, size: size, channels: channels, limit: limit, cache: cache)
      return try conditionIDX(dataset, kind: condition, embeddings: embeddings)
    }
    return try conditionFolder(
      path, size: size, channels: channels, limit: limit, kind: condition, embeddings: embeddings, cache: cache)
  }

  /// One candidate image's condition before the vocabulary is known.
  private enum Pending {
    case none(String)
    case name(String)
    case number(Int)
    case tags([String])
    case text(String, [String])
    case row(Int)
  }

  private static func conditionFolder(
    _ folder: String, size: Int, channels: Int?, limit: Int?, kind: ConditionKind, embeddings: String?,
    cache: DatasetCache?
  ) throws -> (ImageDataset, ConditionSet) {
    let relatives = try relativeImagePaths(in: folder)
    if relatives.isEmpty {  // `load` says what a folder must hold
      _ = try load(path: folder, size: size, channels: channels, limit: limit, cache: cache)
    }
    // Conditions are read (and checked) before any image is decoded.
    var pending: [Pending]
    var source: String
    var notes: [String] = []
    var classNames: [String]? = nil
    var embeddingRows: NPYArray? = nil
    let metadataFiles = kind == .embedding ? [] : ImageFolderMetadata.files(in: folder)
    if kind == .embedding {
      let rows = try readEmbeddings(embeddings!, candidates: relatives.count, what: "image files under \(folder)")
      embeddingRows = rows
      pending = relatives.indices.map { .row($0) }
      source = "embeddings \(embeddings!) (\(rows.shape[1]) values per image)"
    } else if !metadataFiles.isEmpty {
      let metadata = try ImageFolderMetadata.read(root: folder, files: metadataFiles, kind: kind)
      let column = ImageFolderMetadata.column(for: kind)
      source =
        metadataFiles.count == 1
        ? "\(metadataFiles[0]) column '\(column)'" : "\(metadataFiles.count) metadata.jsonl files, column '\(column)'"
      pending = relatives.map { relative in
        guard let row = metadata.rows[relative] else { return .none("no metadata.jsonl line") }
        switch row.value {
        case nil: return .none("no '\(column)' on \(row.location)")
        case .name(let s): return .name(s)
        case .number(let n): return .number(n)
        case .tags(let tags): return tags.isEmpty ? .none("empty 'tags' on \(row.location)") : .tags(tags)
        case .text(let s):
          let words = ConditionVocabulary.words(in: s)
          return words.isEmpty ? .none("no words in 'text' on \(row.location)") : .text(s, words)
        }
      }
      if kind == .class {
        let values = metadata.rows.values.compactMap(\.value)
        let numbers = values.compactMap { if case .number(let n) = $0 { return n } else { return nil } }
        if let top = numbers.max() {
          classNames = (0...top).map(String.init)
          notes.append("integer labels: classes are 0...\(top)")
        } else {
          classNames = Set(values.compactMap { if case .name(let s) = $0 { return s } else { return nil } }).sorted()
        }
      }
      let known = Set(relatives)
      let strays = metadata.rows.filter { !known.contains($0.key) }.map(\.value.location).sorted()
      if !strays.isEmpty {
        notes.append(
          "\(strays.count) metadata line\(strays.count == 1 ? " names" : "s name") no image file found under the folder "
            + "(e.g. \(strays.prefix(3).joined(separator: ", ")))")
      }
    } else if kind == .class {
      pending = relatives.map { relative in
        let parts = relative.split(separator: "/")
        return parts.count >= 2 ? .name(String(parts[0])) : .none("directly in the folder, not in a class subfolder")
      }
      classNames = Set(pending.compactMap { if case .name(let s) = $0 { return s } else { return nil } }).sorted()
      guard !(classNames ?? []).isEmpty else {
        throw KallimaError.io(
          path: folder,
          message: "has no metadata.jsonl and no subfolders with images, so no classes; put each class's images "
            + "in a subfolder named after it (torchvision ImageFolder: root/cat/1.png), or add a metadata.jsonl "
            + "with \"file_name\" and \"label\" per image")
      }
      source = "subfolder names (torchvision ImageFolder, classes sorted)"
    } else {
      throw KallimaError.io(
        path: folder,
        message: "has no metadata.jsonl, so no \(kind.rawValue) conditions; add a metadata.jsonl (Hugging Face "
          + "imagefolder) with one line per image such as {\"file_name\": \"a.png\", "
          + "\"\(ImageFolderMetadata.column(for: kind))\": \(kind == .tags ? #"["blue hair", "red eyes"]"# : #""a caption""#)}")
    }

    let dataset = try load(path: folder, size: size, channels: channels, limit: limit, cache: cache)
    // The loaded files: the sorted files' first `examined`, minus the skipped ones (also on a cache hit).
    let skippedPaths = Set(dataset.report.skipped.map(\.path))
    let loaded = relatives.indices.prefix(dataset.report.examined).filter {
      !skippedPaths.contains((folder as NSString).appendingPathComponent(relatives[$0]))
    }
    guard loaded.count == dataset.count, dataset.report.candidates == relatives.count else {
      throw KallimaError.io(
        path: folder,
        message: "changed while loading (\(relatives.count) image files listed, \(dataset.report.candidates) loaded); "
          + "load again once it is stable")
    }

    var kept: [Int] = []
    var skippedExamples: [String] = []
    var skipped = 0
    for (position, candidate) in loaded.enumerated() {
      if case .none(let why) = pending[candidate] {
        skipped += 1
        if skippedExamples.count < 10 { skippedExamples.append("\(relatives[candidate]): \(why)") }
      } else {
        kept.append(position)
      }
    }
    guard !kept.isEmpty else {
      throw KallimaError.io(
        path: folder,
        message: "none of the \(dataset.count) loaded images has a \(kind.rawValue) condition "
          + "(\(skippedExamples.prefix(3).joined(separator: "; "))); conditions come from \(source)")
    }
    let conditions = kept.map { pending[loaded[$0]] }
    if kind == .tags || kind == .text {
      let distinct = Set(
        conditions.flatMap {
          switch $0 {
          case .tags(let t): return t
          case .text(_, let w): return w
          default: return []
          }
        })
      try checkVectorSize(count: kept.count, width: distinct.count, kind: kind, folder: folder)
    }
    let vocabulary: ConditionVocabulary
    var vectors: [Float] = []
    var captions: [String] = []
    var classIndices: [Int]? = nil
    switch kind {
    case .class:
      vocabulary = try ConditionVocabulary(kind: .class, names: classNames!)
      let index = Dictionary(uniqueKeysWithValues: classNames!.enumerated().map { ($1, $0) })
      classIndices = conditions.map {
        switch $0 {
        case .name(let s): return index[s]!
        case .number(let n): return n
        default: preconditionFailure("class conditions are names or numbers")
        }
      }
      captions = classIndices!.map { classNames![$0] }
      vectors = oneHot(classIndices!, width: vocabulary.width)
    case .tags:
      let lists = conditions.map { if case .tags(let t) = $0 { return t } else { return [] } }
      vocabulary = try ConditionVocabulary(kind: .tags, names: Set(lists.joined()).sorted())
      let index = Dictionary(uniqueKeysWithValues: vocabulary.names.enumerated().map { ($1, $0) })
      vectors = [Float](repeating: 0, count: lists.count * vocabulary.width)
      for (n, tags) in lists.enumerated() { for tag in tags { vectors[n * vocabulary.width + index[tag]!] = 1 } }
      captions = lists.map { $0.joined(separator: ", ") }
    case .text:
      let texts = conditions.map { if case .text(let s, let w) = $0 { return (s, w) } else { return ("", []) } }
      vocabulary = try ConditionVocabulary(kind: .text, names: Set(texts.flatMap(\.1)).sorted())
      let index = Dictionary(uniqueKeysWithValues: vocabulary.names.enumerated().map { ($1, $0) })
      vectors = [Float](repeating: 0, count: texts.count * vocabulary.width)
      for (n, (_, words)) in texts.enumerated() {
        for word in words { vectors[n * vocabulary.width + index[word]!] += 1 }
        for w in Set(words) { vectors[n * vocabulary.width + index[w]!] /= Float(words.count) }
      }
      captions = texts.map(\.0)
    case .embedding:
      let rows = embeddingRows!
      let width = rows.shape[1]
      vocabulary = try ConditionVocabulary(kind: .embedding, names: [], width: width)
      for condition in conditions {
        guard case .row(let r) = condition else { continue }
        vectors += rows.values[(r * width)..<((r + 1) * width)].map(Float.init)
        captions.append("row \(r)")
      }
    }
    if let limit, skipped > 0, dataset.report.examined < dataset.report.candidates {
      notes.append(
        "limit \(limit) counts images before conditioning: \(skipped) of them had no condition, so \(kept.count) remain"
      )
    }
    let set = try ConditionSet(
      vocabulary: vocabulary, count: kept.count, vectors: vectors, captions: captions, classIndices: classIndices)
    var report = dataset.report
    report.conditioning = Report.Conditioning(
      kind: kind, source: source, conditioned: kept.count, skipped: skipped, skippedExamples: skippedExamples,
      notes: notes)
    let result = dataset.keeping(kept, labels: classIndices, report: report)
    return (result, set)
  }

  /// idx images: class from the idx1 labels, or embedding rows in file order.
  private static func conditionIDX(_ dataset: ImageDataset, kind: ConditionKind, embeddings: String?) throws
    -> (ImageDataset, ConditionSet)
  {
    guard case .idx(let imagesPath, let labelsPath) = dataset.report.source else {
      preconditionFailure("a file path loads as idx")
    }
    var report = dataset.report
    switch kind {
    case .tags, .text:
      throw KallimaError.invalidArgument(
        op: "ImageDataset.loadConditioned",
        message: "\(imagesPath) is an idx file, which carries class labels only; use --condition class, or a folder "
          + "of images with a metadata.jsonl holding \(kind.rawValue) for --condition \(kind.rawValue)")
    case .embedding:
      let rows = try readEmbeddings(embeddings!, candidates: report.candidates, what: "images in \(imagesPath)")
      let width = rows.shape[1]
      let set = try ConditionSet(
        vocabulary: try ConditionVocabulary(kind: .embedding, names: [], width: width), count: dataset.count,
        vectors: rows.values[0..<(dataset.count * width)].map(Float.init),
        captions: (0..<dataset.count).map { "row \($0)" })
      report.conditioning = Report.Conditioning(
        kind: .embedding, source: "embeddings \(embeddings!) (\(width) values per image)", conditioned: dataset.count,
        skipped: 0, skippedExamples: [], notes: [])
      return (dataset.keeping(Array(0..<dataset.count), labels: dataset.labels, report: report), set)
    case .class:
      guard let labelsPath, let labels = dataset.labels else {
        throw KallimaError.io(
          path: imagesPath,
          message: "has no idx1 labels file beside it (looked for "
            + "\(imagesPath.replacingOccurrences(of: "images-idx3", with: "labels-idx1"))), so no classes; put it there")
      }
      let all = try IDX.readLabels(labelsPath).map(Int.init)
      let classes = (all.max() ?? 0) + 1
      var notes: [String] = []
      let names: [String]
      let folder = (imagesPath as NSString).deletingLastPathComponent
      let classesFile = (folder as NSString).appendingPathComponent("classes.txt")
      if FileManager.default.fileExists(atPath: classesFile) {
        names = try readClassNames(classesFile, classes: classes)
        notes.append("class names from \(classesFile)")
      } else if imagesPath.lowercased().contains("fashion-mnist"), classes == 10 {
        names = fashionMNISTClasses
        notes.append(
          "class names are Fashion-MNIST's (the path says fashion-mnist and there are 10 classes); put a classes.txt "
            + "beside the images file to name them otherwise")
      } else {
        names = (0..<classes).map(String.init)
        notes.append(
          "classes are named 0...\(classes - 1); put a classes.txt (one name per line) beside \(imagesPath) to name them"
        )
      }
      let vocabulary = try ConditionVocabulary(kind: .class, names: names)
      let set = try ConditionSet(
        vocabulary: vocabulary, count: dataset.count, vectors: oneHot(labels, width: vocabulary.width),
        captions: labels.map { names[$0] }, classIndices: labels)
      report.conditioning = Report.Conditioning(
        kind: .class, source: "idx1 labels \(labelsPath)", conditioned: dataset.count, skipped: 0, skippedExamples: [],
        notes: notes)
      return (dataset.keeping(Array(0..<dataset.count), labels: labels, report: report), set)
    }
  }

  /// Fashion-MNIST's class names, label 0 to 9 (https://github.com/zalandoresearch/fashion-mnist).
  public static let fashionMNISTClasses = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
  ]

  /// `classes.txt`: one name per line, trailing blank lines ignored; at least `classes` names, distinct.
  static func readClassNames(_ path: String, classes: Int) throws -> [String] {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw KallimaError.io(path: path, message: "cannot be read as UTF-8 text (\(error.localizedDescription))")
    }
    var names = text.split(separator: "\n", omittingEmptySubsequences: false)
      .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    while names.last == "" { names.removeLast() }
    if let blank = names.firstIndex(of: "") {
      throw KallimaError.io(path: path, message: "line \(blank + 1) is blank; write one class name per line")
    }
    guard names.count >= classes else {
      throw KallimaError.io(
        path: path,
        message:
          "names \(names.count) classes but the labels go up to \(classes - 1); write one name per class, label 0 first"
      )
    }
    if Set(names).count != names.count {
      throw KallimaError.io(path: path, message: "names a class twice; class names must be distinct")
    }
    return names
  }

  /// The .npy rows of embeddings, checked: [candidates, E] with E >= 1, all finite.
  private static func readEmbeddings(_ path: String, candidates: Int, what: String) throws -> NPYArray {
    let array = try NPY.read(path)
    guard array.shape.count == 2, array.shape[1] >= 1 else {
      throw KallimaError.io(
        path: path, message: "has shape \(array.shape); embeddings must be a 2-D array [images, E] with E >= 1")
    }
    guard array.shape[0] == candidates else {
      throw KallimaError.io(
        path: path,
        message: "has \(array.shape[0]) rows but there are \(candidates) \(what); write one row per image, in sorted "
          + "path order for a folder (file order for idx), before any skipping")
    }
    if let bad = array.values.firstIndex(where: { !$0.isFinite }) {
      throw KallimaError.io(
        path: path, message: "row \(bad / array.shape[1]) holds \(array.values[bad]); embeddings must be finite")
    }
    return array
  }

  /// Condition vectors are dense (count × width floats): refuses tag and word sets over 2^28
  /// values (1 GiB), which a large caption vocabulary reaches quickly.
  static func checkVectorSize(count: Int, width: Int, kind: ConditionKind, folder: String) throws {
    let (values, overflow) = count.multipliedReportingOverflow(by: width)
    guard overflow || values > 1 << 28 else { return }
    let what = kind == .text ? "distinct words" : "distinct tags"
    throw KallimaError.io(
      path: folder,
      message: "\(count) images × \(width) \(what) make dense condition vectors of over 1 GiB; use --limit, fewer "
        + "distinct \(kind == .text ? "words" : "tags"), or precomputed embeddings (--condition embedding)")
  }

  private static func oneHot(_ indices: [Int], width: Int) -> [Float] {
    var vectors = [Float](repeating: 0, count: indices.count * width)
    for (n, i) in indices.enumerated() { vectors[n * width + i] = 1 }
    return vectors
  }

  /// The images at `positions` (any order, repeats allowed) with `labels` and `report`;
  /// shares `bytes` when every image is kept in order.
  func keeping(_ positions: [Int], labels: [Int]?, report: Report) -> ImageDataset {
    guard positions != Array(0..<count) else {
      return ImageDataset(count: count, channels: channels, size: size, bytes: bytes, labels: labels, report: report)
    }
    var kept = Data(count: positions.count * imageBytes)
    let stride = imageBytes
    kept.withUnsafeMutableBytes { out in
      bytes.withUnsafeBytes { all in
        for (k, n) in positions.enumerated() {
          out.baseAddress!.advanced(by: k * stride).copyMemory(
            from: all.baseAddress!.advanced(by: n * stride), byteCount: stride)
        }
      }
    }
    return ImageDataset(
      count: positions.count, channels: channels, size: size, bytes: kept, labels: labels, report: report)
  }
}
