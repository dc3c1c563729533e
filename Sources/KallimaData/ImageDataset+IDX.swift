import Dispatch
import Foundation
import KallimaCore

extension ImageDataset {
  /// idx3 images (and optional idx1 labels) resized to `size`; see `load`. With a cache, an
  /// unchanged idx3 file is mapped from its cache entry (the labels, small, are read again).
  static func loadIDX(
    images path: String, labels labelsPath: String?, size: Int, channels: Int, limit: Int?, cache: DatasetCache?
  ) throws -> ImageDataset {
    if try ImageIO.format(of: path) != nil {
      throw KallimaError.io(path: path, message: "is a single image, not a dataset; pass the folder that contains it")
    }
    var cacheNotes: [String] = []
    if let cache {
      let key = DatasetCache.Key(idx: path, size: size, channels: channels, limit: limit)
      switch cache.lookup(key) {
      case .hit(let dataset):
        return dataset.labelled(
          try readLabels(labelsPath, images: path, imageCount: dataset.report.candidates, keep: dataset.count))
      case .miss: break
      case .rebuilt(let reason): cacheNotes.append(reason)
      }
      var decoded = try decodeIDX(images: path, labels: labelsPath, size: size, channels: channels, limit: limit)
      decoded.report.notes += cacheNotes
      do {
        let entry = try cache.entry(for: key)
        defer { entry.discard() }
        try entry.append(decoded.bytes)
        return try entry.finish(report: decoded.report, channels: channels, size: size).labelled(decoded.labels)
      } catch let failure as DatasetCache.WriteFailure {
        decoded.report.notes.append(
          "could not write the dataset cache (\(failure)); decoded in memory, and the next run decodes again")
        return decoded
      }
    }
    return try decodeIDX(images: path, labels: labelsPath, size: size, channels: channels, limit: limit)
  }

  /// The labels of the first `keep` of `imageCount` images, from the idx1 file (nil without one).
  private static func readLabels(_ labelsPath: String?, images path: String, imageCount: Int, keep: Int) throws
    -> [Int]?
  {
    guard let labelsPath else { return nil }
    let raw = try IDX.readLabels(labelsPath)
    guard raw.count == imageCount else {
      throw KallimaError.io(
        path: labelsPath,
        message: "holds \(raw.count) labels but \(path) holds \(imageCount) images; use the labels file that "
          + "belongs to these images, or remove it")
    }
    return raw.prefix(keep).map(Int.init)
  }

  /// Inflates, parses and resizes the idx3 file.
  private static func decodeIDX(images path: String, labels labelsPath: String?, size: Int, channels: Int, limit: Int?)
    throws -> ImageDataset
  {
    let idx = try IDX.parseImages(try Gzip.read(path), path: path)
    let count = min(idx.count, limit ?? idx.count)
    let labels = try readLabels(labelsPath, images: path, imageCount: idx.count, keep: count)
    guard count > 0 else {
      throw KallimaError.io(path: path, message: "the idx3 file holds no images; download it again")
    }
    var notes: [String] = []
    if idx.rows != size || idx.columns != size {
      let how = min(idx.rows, idx.columns) < size ? "up (bilinear)" : "down (area average)"
      notes.append(
        "idx images are \(idx.columns)x\(idx.rows) and were resized \(how) to \(size)x\(size); unlike folder "
          + "images they are never skipped for being small")
    }
    if channels == 3 { notes.append("idx images are gray; the gray value was copied into R, G and B") }

    let stride = channels * size * size
    var samples = Data(count: count * stride)
    let resize = idx.rows == size && idx.columns == size
      ? nil : ImageResize.Plan(width: idx.columns, height: idx.rows, size: size)
    samples.withUnsafeMutableBytes { raw in
      let out = raw.bindMemory(to: UInt8.self)
      // Work in blocks so each task is large enough to outweigh the scheduling.
      let block = 256
      DispatchQueue.concurrentPerform(iterations: (count + block - 1) / block) { b in
        for n in (b * block)..<min(count, (b + 1) * block) {
          var image = idx.image(n)
          if let resize { image = resize.apply(image) }
          if channels == 3 { image = image.rgb() }
          appendPlanar(image, to: out, at: n * stride)
        }
      }
    }
    let report = Report(
      source: .idx(images: path, labels: labelsPath), size: size, candidates: idx.count, examined: count,
      loaded: count, skipped: [], notes: notes)
    return ImageDataset(count: count, channels: channels, size: size, bytes: samples, labels: labels, report: report)
  }
}
