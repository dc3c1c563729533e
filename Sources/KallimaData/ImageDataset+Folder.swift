import Dispatch
import Foundation
import KallimaCore

extension ImageDataset {
  /// File extensions (compared lowercased) that a folder search picks up.
  public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

  /// Image files under `folder`, recursively, sorted by path.
  public static func imageFiles(in folder: String) throws -> [String] {
    try relativeImagePaths(in: folder).map { (folder as NSString).appendingPathComponent($0) }
  }

  /// Image files under `folder` as paths relative to it, sorted (the order of the full paths:
  /// they share one prefix).
  static func relativeImagePaths(in folder: String) throws -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: folder) else {
      throw KallimaError.io(path: folder, message: "cannot list the folder; check its permissions")
    }
    var files: [String] = []
    while let relative = walker.nextObject() as? String {
      guard imageExtensions.contains((relative as NSString).pathExtension.lowercased()) else { continue }
      files.append(relative)
    }
    return files.sorted()
  }

  private enum Outcome {
    case image(RGBImage)
    case skipped(Report.Reason)
  }

  /// A folder of PNG/JPEG files; see `load`. With a cache, an unchanged folder is mapped
  /// from its cache file; otherwise the files are decoded into a new cache file, chunk by
  /// chunk, and the result is mapped from it. Without a cache (or when the cache cannot be
  /// written), the decoded set is held in memory.
  static func loadFolder(_ folder: String, size: Int, channels: Int, limit: Int?, cache: DatasetCache?) throws
    -> ImageDataset
  {
    let files = try imageFiles(in: folder)
    guard !files.isEmpty else {
      throw KallimaError.io(
        path: folder,
        message: "contains no .png, .jpg or .jpeg files (searched recursively); put images there, or pass an "
          + "idx3 file or a folder holding train-images-idx3-ubyte.gz")
    }
    var notes = channels == 1 ? ["converted to gray with BT.601 luma (299 R + 587 G + 114 B) / 1000"] : []
    if let cache {
      let key = DatasetCache.Key(folder: folder, files: files, size: size, channels: channels, limit: limit)
      switch cache.lookup(key) {
      case .hit(let dataset): return dataset
      case .miss: break
      case .rebuilt(let reason): notes.append(reason)
      }
      do {
        let entry = try cache.entry(for: key)
        defer { entry.discard() }
        let report = try decode(folder, files: files, size: size, channels: channels, limit: limit, notes: notes) {
          try entry.append($0)
        }
        return try entry.finish(report: report, channels: channels, size: size)
      } catch let failure as DatasetCache.WriteFailure {
        notes.append("could not write the dataset cache (\(failure)); decoded in memory, and the next run decodes again")
      }
    }
    var samples = Data()
    let report = try decode(folder, files: files, size: size, channels: channels, limit: limit, notes: notes) {
      samples.append($0)
    }
    return ImageDataset(count: report.loaded, channels: channels, size: size, bytes: samples, labels: nil, report: report)
  }

  /// Decodes `files` chunk by chunk, handing each chunk's NCHW samples to `sink` in path
  /// order; returns the report. Throws when no file is usable.
  private static func decode(
    _ folder: String, files: [String], size: Int, channels: Int, limit: Int?, notes: [String],
    into sink: (Data) throws -> Void
  ) throws -> Report {
    let stride = channels * size * size
    var skipped: [Report.Skipped] = []
    var loaded = 0
    var examined = 0
    // Chunks (at most 1024 files and about 32 MB of images, at least 64 files) bound the
    // decoded intermediates and let `limit` stop early; within a chunk files decode in
    // parallel on every core, and results are taken in path order.
    let most = min(1024, max(64, (32 << 20) / stride))
    while examined < files.count, loaded < (limit ?? Int.max) {
      let want = limit.map { $0 - loaded } ?? Int.max
      let chunk = Array(files[examined..<min(files.count, examined + min(most, max(64, want)))])
      var outcomes = [Outcome?](repeating: nil, count: chunk.count)
      outcomes.withUnsafeMutableBufferPointer { slots in
        DispatchQueue.concurrentPerform(iterations: chunk.count) { i in
          slots[i] = prepare(chunk[i], size: size, channels: channels)
        }
      }
      var samples = Data()
      for (file, outcome) in zip(chunk, outcomes) {
        guard loaded < (limit ?? Int.max) else { break }
        examined += 1
        switch outcome! {
        case .image(let image):
          let offset = samples.count
          samples.count += stride
          samples.withUnsafeMutableBytes { appendPlanar(image, to: $0.bindMemory(to: UInt8.self), at: offset) }
          loaded += 1
        case .skipped(let reason):
          skipped.append(Report.Skipped(path: file, reason: reason))
        }
      }
      try sink(samples)
    }
    let report = Report(
      source: .folder(folder), size: size, candidates: files.count, examined: examined, loaded: loaded,
      skipped: skipped, notes: notes)
    guard loaded > 0 else {
      throw KallimaError.io(
        path: folder,
        message: "none of the \(files.count) image files is usable (\(report.unreadableCount) unreadable, "
          + "\(report.tooSmallCount) smaller than \(size) on the shorter side); fix or replace them, or ask for a "
          + "smaller size\n\(report)")
    }
    return report
  }

  /// Decodes, checks and resizes one file (runs on a worker thread).
  private static func prepare(_ file: String, size: Int, channels: Int) -> Outcome {
    let decoded: RGBImage
    do {
      decoded = try ImageIO.read(file)
    } catch let error as KallimaError {
      if case .io(_, let message) = error { return .skipped(.unreadable(message)) }
      return .skipped(.unreadable(error.description))
    } catch {
      return .skipped(.unreadable("\(error)"))
    }
    guard min(decoded.width, decoded.height) >= size else {
      return .skipped(.tooSmall(width: decoded.width, height: decoded.height))
    }
    do {
      let square = try ImageResize.resizeAndCenterCrop(decoded, size: size)
      return .image(channels == 1 ? square.luma() : square)
    } catch {
      return .skipped(.unreadable("\(error)"))
    }
  }
}
