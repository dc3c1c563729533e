import Foundation
import KallimaCore

/// Images with a target-domain label each, for multi-domain translation (StarGAN: Choi et al.,
/// "StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation",
/// CVPR 2018): binary attributes (CelebA) as multi-hot 0/1 vectors of a `tags` vocabulary, or one
/// domain per folder as one-hot vectors of a `class` vocabulary.
public struct AttributeDataset: Sendable {
  /// The images, NCHW (see `ImageDataset`).
  public var images: ImageDataset
  /// One vector per image, same order: attributes multi-hot (1 = has it), domains one-hot.
  public var conditions: ConditionSet
  /// Per image, its file: the name as the attribute file writes it, or the path relative to the
  /// domain folder ("smiling/12.png").
  public var names: [String]

  /// StarGAN's default CelebA selection (`--selected_attrs` in its main.py).
  public static let starGANAttributes = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]

  /// CelebA-style attributes: `list` is an attribute file (see `AttributeList`), `images` the folder
  /// its file names are relative to (CelebA's `img_align_celeba`). The conditions are a `tags`
  /// vocabulary whose names are the `selected` attributes lowercased, in the order given (so
  /// `ConditionVocabulary.encode("black_hair, male")` works as for any tags); vector entry a is 1
  /// when the file says 1 for attribute a and 0 for -1. An image with none of the selected
  /// attributes is kept (its vector is all zeros, its caption empty).
  ///
  /// Images come in the attribute file's line order; `limit` keeps the first `limit` lines. Every
  /// kept line's image must exist: a missing one is reported by `list:line` like the file's other
  /// problems (all of them in one error, up to 10 shown). Images that exist but do not decode are
  /// skipped and listed in the report. Resizing as `ImageDataset.load` (shorter side to `size`,
  /// centre crop: for CelebA's 178x218 that is StarGAN's CenterCrop(178) then Resize, done in one
  /// filter; images smaller than `size` are skipped), `channels` default 3.
  public static func loadAttributes(
    list: String, images: String, attributes selected: [String] = starGANAttributes, size: Int,
    channels: Int? = nil, limit: Int? = nil, cache: DatasetCache? = .standard
  ) throws -> AttributeDataset {
    let op = "AttributeDataset.loadAttributes"
    if let limit, limit < 1 {
      throw KallimaError.invalidArgument(op: op, message: "limit is \(limit); it must be at least 1, or absent for all")
    }
    let attributes = try AttributeList.read(list)
    let columns = try attributes.columns(of: selected)
    let tags = selected.map { $0.lowercased() }
    if Set(tags).count != tags.count {
      throw KallimaError.invalidArgument(
        op: op, message: "the selected attributes \(selected.joined(separator: " ")) repeat when lowercased; pick one")
    }
    guard PairedDataset.isFolder(images) else {
      throw KallimaError.io(
        path: images, message: "no such folder; pass the folder of the images \(list) names (CelebA: img_align_celeba)")
    }
    let rows = Array(0..<min(attributes.files.count, limit ?? Int.max))
    let relatives = try ImageDataset.relativeImagePaths(in: images)
    let order = Dictionary(uniqueKeysWithValues: relatives.enumerated().map { ($1, $0) })
    var problems: [String] = []
    for n in rows where order[normalised(attributes.files[n])] == nil {
      problems.append("\(attributes.location(n)): image '\(attributes.files[n].prefix(60))' not found in \(images)")
    }
    guard problems.isEmpty else {
      throw AttributeList.report(
        problems, path: list,
        what: "in the attribute file (images not found; add them, or remove their lines, or pass the right folder)")
    }
    // The kept lines' images, loaded as a sorted prefix of the folder (cached as any folder),
    // then picked in line order.
    let last = rows.map { order[normalised(attributes.files[$0])]! }.max()!
    let loaded = try ImageDataset.load(
      path: images, size: size, channels: channels ?? 3, limit: last + 1 == relatives.count ? nil : last + 1,
      cache: cache)
    guard case .folder = loaded.report.source, loaded.report.candidates == relatives.count else {
      throw KallimaError.io(
        path: images, message: "changed while loading, or holds an idx file; pass a folder of .png/.jpg images")
    }
    let skipped = Set(loaded.report.skipped.map(\.path))
    var position: [Int: Int] = [:]  // folder order -> index in `loaded`
    for i in 0..<loaded.report.examined
    where !skipped.contains((images as NSString).appendingPathComponent(relatives[i])) {
      position[i] = position.count
    }
    var picked: [Int] = []
    var kept: [Int] = []
    var unreadable: [String] = []
    for n in rows {
      if let p = position[order[normalised(attributes.files[n])]!] {
        picked.append(p)
        kept.append(n)
      } else {
        unreadable.append("\(attributes.location(n)): \(attributes.files[n]) (unreadable or smaller than \(size))")
      }
    }
    guard !kept.isEmpty else {
      throw KallimaError.io(
        path: images, message: "none of the \(rows.count) images \(list) names is usable\n\(loaded.report)")
    }
    let vocabulary = try ConditionVocabulary(kind: .tags, names: tags)
    var vectors = [Float](repeating: 0, count: kept.count * tags.count)
    var captions: [String] = []
    for (k, n) in kept.enumerated() {
      var on: [String] = []
      for (a, column) in columns.enumerated() where attributes.value(n, column) {
        vectors[k * tags.count + a] = 1
        on.append(tags[a])
      }
      captions.append(on.joined(separator: ", "))
    }
    let conditions = try ConditionSet(vocabulary: vocabulary, count: kept.count, vectors: vectors, captions: captions)
    var report = loaded.report
    var notes = ["vocabulary: the selected attributes lowercased, in the order given: \(tags.joined(separator: ", "))"]
    if kept.count < attributes.files.count {
      notes.append(
        "\(kept.count) of the \(attributes.files.count) lines used"
          + (limit.map { " (limit \($0))" } ?? "")
          + (unreadable.isEmpty ? "" : ", \(unreadable.count) with an image that is unreadable or too small"))
    }
    let unlisted = relatives.count - attributes.files.count
    if unlisted > 0 { notes.append("\(unlisted) image files in \(images) have no line in \(list) and are not used") }
    report.loaded = kept.count
    report.conditioning = ImageDataset.Report.Conditioning(
      kind: .tags, source: "\(list) attributes \(selected.joined(separator: " "))", conditioned: kept.count,
      skipped: unreadable.count, skippedExamples: Array(unreadable.prefix(10)), notes: notes)
    let dataset = loaded.keeping(picked, labels: nil, report: report)
    return AttributeDataset(images: dataset, conditions: conditions, names: kept.map { attributes.files[$0] })
  }

  /// One domain per subfolder (torchvision ImageFolder: the domain is the first path component
  /// under `path`, domains sorted by name, images directly in `path` ignored): a `class`
  /// vocabulary of the domain names and one-hot vectors (StarGAN's RaFD layout). Needs at least
  /// two domains. A `metadata.jsonl` in the folder is not read; domains come from folders only.
  /// Images in sorted path order; resizing, `channels` (default 3), `limit` and caching as
  /// `ImageDataset.load`.
  public static func loadDomains(
    path: String, size: Int, channels: Int? = nil, limit: Int? = nil, cache: DatasetCache? = .standard
  ) throws -> AttributeDataset {
    guard PairedDataset.isFolder(path) else {
      throw KallimaError.io(
        path: path, message: "no such folder; pass a folder with one subfolder of images per domain")
    }
    let relatives = try ImageDataset.relativeImagePaths(in: path)
    let domainOf = relatives.map { relative -> String? in
      let parts = relative.split(separator: "/")
      return parts.count >= 2 ? String(parts[0]) : nil
    }
    let domains = Set(domainOf.compactMap { $0 }).sorted()
    guard domains.count >= 2 else {
      throw KallimaError.io(
        path: path,
        message: "has \(domains.isEmpty ? "no subfolders with images" : "one domain subfolder (\(domains[0]))"); "
          + "multi-domain translation needs at least two: put each domain's images in a subfolder named after it "
          + "(path/smiling/1.png, path/neutral/2.png)")
    }
    let loaded = try ImageDataset.load(path: path, size: size, channels: channels ?? 3, limit: limit, cache: cache)
    guard case .folder = loaded.report.source, loaded.report.candidates == relatives.count else {
      throw KallimaError.io(
        path: path, message: "changed while loading, or holds an idx file; pass a folder of domain subfolders")
    }
    let skipped = Set(loaded.report.skipped.map(\.path))
    let loadedFiles = (0..<loaded.report.examined).filter {
      !skipped.contains((path as NSString).appendingPathComponent(relatives[$0]))
    }
    var picked: [Int] = []
    var indices: [Int] = []
    var rootImages = 0
    let index = Dictionary(uniqueKeysWithValues: domains.enumerated().map { ($1, $0) })
    for (position, file) in loadedFiles.enumerated() {
      guard let domain = domainOf[file] else {
        rootImages += 1
        continue
      }
      picked.append(position)
      indices.append(index[domain]!)
    }
    guard !picked.isEmpty else {
      throw KallimaError.io(path: path, message: "none of the loaded images is in a domain subfolder\n\(loaded.report)")
    }
    let vocabulary = try ConditionVocabulary(kind: .class, names: domains)
    var vectors = [Float](repeating: 0, count: picked.count * domains.count)
    for (n, i) in indices.enumerated() { vectors[n * domains.count + i] = 1 }
    let conditions = try ConditionSet(
      vocabulary: vocabulary, count: picked.count, vectors: vectors, captions: indices.map { domains[$0] },
      classIndices: indices)
    var report = loaded.report
    report.conditioning = ImageDataset.Report.Conditioning(
      kind: .class, source: "domain subfolders (ImageFolder, sorted)", conditioned: picked.count, skipped: rootImages,
      skippedExamples: [],
      notes: rootImages > 0 ? ["\(rootImages) images directly in \(path), not in a domain subfolder, are not used"] : []
    )
    let dataset = loaded.keeping(picked, labels: indices, report: report)
    return AttributeDataset(
      images: dataset, conditions: conditions, names: picked.map { relatives[loadedFiles[$0]] })
  }

  /// A file name as the attribute file writes it, as a path relative to the image folder
  /// ("./a.jpg" -> "a.jpg").
  static func normalised(_ name: String) -> String {
    name.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
  }
}

