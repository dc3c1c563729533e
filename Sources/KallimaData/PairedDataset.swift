import Dispatch
import Foundation
import KallimaCore

/// Image pairs for paired image-to-image translation (pix2pix: Isola et al., "Image-to-Image
/// Translation with Conditional Adversarial Networks", CVPR 2017): an input image A and its
/// target B, same size and channels.
///
/// Layout: `bytes` is [count, 2C, size, size] 8-bit samples: pair n holds A's C planes, then
/// B's C planes, so sample (n, c, y, x) is at `((n * 2C + c) * size + y) * size + x`, with
/// c < C for A and c >= C for B. One device gather with one crop and flip per pair then moves
/// A and B identically. "A" and "B" are after `direction`: with `.bToA` the A planes hold what
/// the files call B (pix2pix's `--direction BtoA`). Training maps v to v / 127.5 - 1 as for
/// `ImageDataset`.
public struct PairedDataset: Sendable {
  /// Which half of a pair is the input. pix2pix's `--direction`.
  public enum Direction: String, Codable, CaseIterable, Sendable {
    /// A (the left half, or the `A/` folder) is the input, B the target.
    case aToB = "AtoB"
    /// B is the input, A the target.
    case bToA = "BtoA"
  }

  /// Which half of the pairs `side(_:)` returns.
  public enum Side: Sendable {
    case a
    case b
  }

  public let count: Int
  /// 1 (gray) or 3 (RGB), of each half.
  public let channels: Int
  /// Both halves are `size` x `size`.
  public let size: Int
  /// Per pair, the file it came from, relative to the folder it was found in (the split folder of the
  /// aligned format; the A folder for paired folders), in load order (sorted by path).
  public let names: [String]
  /// [count, 2C, size, size] 8-bit samples, A's planes then B's per pair.
  public let bytes: Data
  /// The direction the pairs were loaded with.
  public let direction: Direction
  /// What was loaded and what was skipped, with reasons.
  public internal(set) var report: ImageDataset.Report

  /// Samples of one half (C planes).
  public var halfBytes: Int { channels * size * size }
  /// Samples of one pair (2C planes).
  public var pairBytes: Int { 2 * halfBytes }

  init(
    count: Int, channels: Int, size: Int, names: [String], bytes: Data, direction: Direction,
    report: ImageDataset.Report
  ) {
    self.count = count
    self.channels = channels
    self.size = size
    self.names = names
    self.bytes = bytes
    self.direction = direction
    self.report = report
  }

  /// One half of every pair as an `ImageDataset` (NCHW, C planes per image), e.g. to measure a
  /// translation against the targets. Copies the samples.
  public func side(_ side: Side) -> ImageDataset {
    let half = halfBytes
    var out = Data(count: count * half)
    out.withUnsafeMutableBytes { dst in
      bytes.withUnsafeBytes { src in
        for n in 0..<count {
          dst.baseAddress!.advanced(by: n * half).copyMemory(
            from: src.baseAddress!.advanced(by: n * pairBytes + (side == .a ? 0 : half)), byteCount: half)
        }
      }
    }
    return ImageDataset(count: count, channels: channels, size: size, bytes: out, labels: nil, report: report)
  }

  /// Loads pairs from `path`, in one of two layouts (tried in this order):
  ///
  /// - paired folders (what pix2pix's `combine_A_and_B.py` takes): `path/A/` and `path/B/`, each
  ///   optionally split into `train/`, `val/`, `test/`; images are matched by their path relative to
  ///   `A/<split>` and `B/<split>` with the extension dropped (`A/train/1.jpg` pairs with
  ///   `B/train/1.png`). A file on one side without a partner on the other is an error (up to 10
  ///   named, then a count), as is a name that appears twice on one side (`1.jpg` and `1.png`).
  /// - the aligned format of pix2pix's datasets (facades, edges2shoes, maps): each file is A and B
  ///   side by side, width = 2 x height, A on the left (`aligned_dataset.py`). Files are in
  ///   `path/<split>` when `path` has a `train`, `val` or `test` subfolder, else in `path` itself
  ///   (searched recursively). A decodable file whose width is not twice its height is an error
  ///   naming the file.
  ///
  /// `split` ("train", "test", "val") picks the subfolder when the layout has them; nil means
  /// "train" when there is one. Each half is brought to `size` x `size` with
  /// `ImageResize.resizeAndCenterCrop` (the same filter `ImageDataset.load` uses); unlike
  /// `ImageDataset.load`, halves smaller than `size` are scaled up (bilinear), since pix2pix loads
  /// at 286 from 256 images and then crops, and the report's notes count them. Files that do not
  /// decode are skipped and listed in `report`. Channels: 3 unless `channels: 1` asks for gray
  /// (BT.601 luma). `limit` keeps the first `limit` usable pairs in path order.
  public static func load(
    path: String, split: String? = nil, size: Int, channels: Int? = nil, direction: Direction = .aToB,
    limit: Int? = nil
  ) throws -> PairedDataset {
    let op = "PairedDataset.load"
    guard size > 0 else {
      throw KallimaError.invalidArgument(op: op, message: "size is \(size); it must be at least 1 (e.g. 256)")
    }
    if let channels, channels != 1, channels != 3 {
      throw KallimaError.invalidArgument(op: op, message: "channels is \(channels); use 1 (gray) or 3 (RGB)")
    }
    if let limit, limit < 1 {
      throw KallimaError.invalidArgument(op: op, message: "limit is \(limit); it must be at least 1, or absent for all")
    }
    guard isFolder(path) else {
      throw KallimaError.io(
        path: path,
        message: FileManager.default.fileExists(atPath: path)
          ? "is a file; pass the dataset folder (holding train/ with A|B images side by side, or A/ and B/)"
          : "no such folder; pass a pix2pix dataset folder (train/, test/ with A|B images side by side, or A/ and B/)")
    }
    let a = (path as NSString).appendingPathComponent("A")
    let b = (path as NSString).appendingPathComponent("B")
    if isFolder(a) || isFolder(b) {
      guard isFolder(a), isFolder(b) else {
        throw KallimaError.io(
          path: path,
          message: "has an \(isFolder(a) ? "A" : "B") folder but no \(isFolder(a) ? "B" : "A") folder; paired folders "
            + "need both A/ and B/, with partner images under the same names")
      }
      return try loadFolders(
        root: path, a: a, b: b, split: split, size: size, channels: channels ?? 3, direction: direction, limit: limit)
    }
    let folder = try splitFolder(path, split: split, layout: "aligned A|B images")
    return try loadAligned(folder, size: size, channels: channels ?? 3, direction: direction, limit: limit)
  }

  public static func isFolder(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
  }

  /// The splits pix2pix datasets use.
  static let splits = ["train", "val", "test"]

  /// `root/split` when `root` has split subfolders (`split` nil: train), else `root` itself.
  static func splitFolder(_ root: String, split: String?, layout: String) throws -> String {
    let present = splits.filter { isFolder((root as NSString).appendingPathComponent($0)) }
    if present.isEmpty {
      if let split, split != "train" {
        throw KallimaError.io(
          path: root,
          message: "has no \(split)/ subfolder (no train/, val/ or test/ at all, so the folder itself is the one "
            + "split); put the \(split) \(layout) in \(root)/\(split)/, or load without a split")
      }
      return root
    }
    let wanted = split ?? "train"
    guard present.contains(wanted) else {
      throw KallimaError.io(
        path: root,
        message: "has no \(wanted)/ subfolder (found \(present.map { $0 + "/" }.joined(separator: ", "))); "
          + "ask for one of those splits, or put the \(layout) in \(root)/\(wanted)/")
    }
    return (root as NSString).appendingPathComponent(wanted)
  }

  /// "a.png, b.png, ... (and N more)" for errors: at most 10 names.
  static func listing(_ names: [String]) -> String {
    names.prefix(10).joined(separator: ", ") + (names.count > 10 ? " (and \(names.count - 10) more)" : "")
  }

  /// One decoded file: its halves (already split), or why it was skipped.
  enum Decoded {
    case pair(RGBImage, RGBImage, upscaled: Bool)
    case skipped(ImageDataset.Report.Reason)
    /// A decodable aligned file whose width is not twice its height.
    case notSideBySide(width: Int, height: Int)
  }

  /// Decodes `jobs` in parallel, in chunks (bounding memory), and packs the usable pairs in job
  /// order until `limit`. `decode` runs on worker threads.
  static func assemble(
    jobs: [String], names: [String], source: String, size: Int, channels: Int, direction: Direction, limit: Int?,
    notes: [String], decode: @escaping @Sendable (Int) -> Decoded
  ) throws -> PairedDataset {
    let half = channels * size * size
    var samples = Data()
    var kept: [String] = []
    var skipped: [ImageDataset.Report.Skipped] = []
    var wrongShape: [String] = []
    var upscaled = 0
    var examined = 0
    let most = max(64, min(1024, (32 << 20) / (2 * half)))
    while examined < jobs.count, kept.count < (limit ?? Int.max) {
      let range = examined..<min(jobs.count, examined + most)
      var outcomes = [Decoded?](repeating: nil, count: range.count)
      outcomes.withUnsafeMutableBufferPointer { slots in
        DispatchQueue.concurrentPerform(iterations: range.count) { slots[$0] = decode(range.lowerBound + $0) }
      }
      for (i, outcome) in zip(range, outcomes) {
        guard kept.count < (limit ?? Int.max) else { break }
        examined += 1
        switch outcome! {
        case .pair(let first, let second, let up):
          let (a, b) = direction == .aToB ? (first, second) : (second, first)
          let offset = samples.count
          samples.count += 2 * half
          samples.withUnsafeMutableBytes { raw in
            let out = raw.bindMemory(to: UInt8.self)
            ImageDataset.appendPlanar(channels == 1 ? a.luma() : a.rgb(), to: out, at: offset)
            ImageDataset.appendPlanar(channels == 1 ? b.luma() : b.rgb(), to: out, at: offset + half)
          }
          kept.append(names[i])
          if up { upscaled += 1 }
        case .skipped(let reason):
          skipped.append(ImageDataset.Report.Skipped(path: jobs[i], reason: reason))
        case .notSideBySide(let width, let height):
          wrongShape.append("\(jobs[i]) (\(width)x\(height))")
        }
      }
    }
    guard wrongShape.isEmpty else {
      throw KallimaError.io(
        path: source,
        message: "\(wrongShape.count) image\(wrongShape.count == 1 ? " is" : "s are") not A|B side by side (width must "
          + "be 2 x height, A on the left): \(listing(wrongShape)); combine A and B into one image per pair "
          + "(pix2pix's datasets/combine_A_and_B.py), or put them in A/ and B/ folders under matching names")
    }
    var allNotes = notes
    if channels == 1 { allNotes.append("converted to gray with BT.601 luma (299 R + 587 G + 114 B) / 1000") }
    if upscaled > 0 {
      allNotes.append(
        "\(upscaled) pair\(upscaled == 1 ? " was" : "s were") smaller than \(size) and scaled up (bilinear)")
    }
    if direction == .bToA { allNotes.append("direction BtoA: the A planes hold the B images and the B planes the A") }
    let report = ImageDataset.Report(
      source: .folder(source), size: size, candidates: jobs.count, examined: examined, loaded: kept.count,
      skipped: skipped, notes: allNotes)
    guard !kept.isEmpty else {
      throw KallimaError.io(
        path: source,
        message: "none of the \(jobs.count) image files is usable (\(report.unreadableCount) unreadable); fix or "
          + "replace them\n\(report)")
    }
    return PairedDataset(
      count: kept.count, channels: channels, size: size, names: kept, bytes: samples, direction: direction,
      report: report)
  }

  /// `image` resized to `size` (shorter side, centre crop), and whether that scaled it up.
  static func fit(_ image: RGBImage, size: Int) throws -> (RGBImage, Bool) {
    if image.width == size, image.height == size { return (image, false) }
    return (try ImageResize.resizeAndCenterCrop(image, size: size), min(image.width, image.height) < size)
  }

  /// Decodes one file for `assemble`, turning a decoder error into a skip reason.
  static func read(_ file: String) -> Read {
    do {
      return .success(try ImageIO.read(file))
    } catch let KallimaError.io(_, message) {
      return .failure(.unreadable(message))
    } catch {
      return .failure(.unreadable("\(error)"))
    }
  }

  /// A decoded file, or why it could not be decoded.
  enum Read {
    case success(RGBImage)
    case failure(ImageDataset.Report.Reason)
  }
}
