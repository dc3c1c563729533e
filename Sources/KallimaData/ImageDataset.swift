import Foundation
import KallimaCore

/// A set of square training images on the host as 8-bit samples, ready to upload (whole, or
/// batch by batch when the set is streamed).
///
/// Layout: `bytes` is NCHW, `count * channels * size * size` samples; image n, channel c,
/// row y, column x is at `((n * channels + c) * size + y) * size + x`. Training maps a sample
/// v to v / 127.5 - 1 (`DataOrder.unit`), so 0 -> -1 and 255 -> 1 (the tanh range of a DCGAN
/// generator's output); the device gather converts, so the set takes one byte per sample.
/// For a cached folder, `bytes` maps the cache file (the page cache holds what is in use).
public struct ImageDataset: Sendable {
  public let count: Int
  /// 1 (gray) or 3 (RGB).
  public let channels: Int
  /// Images are `size` x `size`.
  public let size: Int
  /// NCHW 8-bit samples.
  public let bytes: Data
  /// One class index per image, when the source has labels (idx with an idx1 file beside it).
  public let labels: [Int]?
  /// What was loaded and what was skipped, with reasons.
  public internal(set) var report: Report

  /// Samples of one image.
  public var imageBytes: Int { channels * size * size }

  /// NCHW in [-1, 1] (`DataOrder.unit` of every sample): the values training sees, made on
  /// request (4 bytes a sample).
  public var pixels: [Float] {
    bytes.withUnsafeBytes { raw in raw.bindMemory(to: UInt8.self).map(DataOrder.unit) }
  }

  /// Loads images from `path`, which is one of:
  ///
  /// - a folder, searched recursively for `.png`, `.jpg` and `.jpeg` files (extension
  ///   case-insensitive; the decoder is then chosen by the file's magic bytes), in sorted path
  ///   order and decoded in parallel. Each image is brought to `size` x `size` by
  ///   `ImageResize.resizeAndCenterCrop` (shorter side to `size`, centre crop). Files that do not
  ///   decode, and images whose shorter side is below `size`, are skipped, never upscaled, and
  ///   listed in `report`. Channels: 3 unless `channels: 1` asks for gray (BT.601 luma).
  /// - an idx3 images file (`train-images-idx3-ubyte`, plain or `.gz`). Labels come from the
  ///   idx1 file whose name replaces `images-idx3` by `labels-idx1`, if it exists.
  /// - a folder holding `train-images-idx3-ubyte(.gz)`, with labels from
  ///   `train-labels-idx1-ubyte(.gz)` if present.
  ///
  /// idx images are exempt from the too-small rule: they are resized to `size` by the same filter
  /// (so Fashion-MNIST's 28x28 becomes 32x32 bilinearly, or 16x16 by area averaging), and the
  /// report's notes say so. Channels: 1 unless `channels: 3` asks for gray copied into R, G, B.
  ///
  /// `limit` keeps the first `limit` usable images (in path order for folders, file order for idx).
  /// Throws `KallimaError.io` when the path is missing, a folder holds no image files, or no image
  /// is usable; `KallimaError.invalidArgument` for a bad `size`, `channels` or `limit`.
  ///
  /// Folders and idx files are cached (see `DatasetCache`): a second load of an unchanged
  /// source at the same size, channels and limit maps the decoded images from the cache
  /// instead of decoding (for Fashion-MNIST at 32x32: 2.2 s of inflating and resizing).
  public static func load(
    path: String, size: Int, channels: Int?, limit: Int? = nil, cache: DatasetCache? = .standard
  ) throws -> ImageDataset {
    let op = "ImageDataset.load"
    guard size > 0 else {
      throw KallimaError.invalidArgument(op: op, message: "size is \(size); it must be at least 1 (e.g. 64)")
    }
    if let channels, channels != 1, channels != 3 {
      throw KallimaError.invalidArgument(op: op, message: "channels is \(channels); use 1 (gray) or 3 (RGB)")
    }
    if let limit, limit < 1 {
      throw KallimaError.invalidArgument(op: op, message: "limit is \(limit); it must be at least 1, or absent for all")
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw KallimaError.io(
        path: path,
        message: "no such file or folder; pass a folder of .png/.jpg images, an idx3 images file, "
          + "or a folder holding train-images-idx3-ubyte.gz")
    }
    guard isDirectory.boolValue else {
      return try loadIDX(
        images: path, labels: labelsBeside(path), size: size, channels: channels ?? 1, limit: limit, cache: cache)
    }
    for name in ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"] {
      let images = (path as NSString).appendingPathComponent(name)
      if FileManager.default.fileExists(atPath: images) {
        let labels = ["train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz"]
          .map { (path as NSString).appendingPathComponent($0) }
          .first { FileManager.default.fileExists(atPath: $0) }
        return try loadIDX(
          images: images, labels: labels, size: size, channels: channels ?? 1, limit: limit, cache: cache)
      }
    }
    return try loadFolder(path, size: size, channels: channels ?? 3, limit: limit, cache: cache)
  }

  /// The same images with `labels` (a cached idx set gets its labels from the idx1 file).
  func labelled(_ labels: [Int]?) -> ImageDataset {
    ImageDataset(count: count, channels: channels, size: size, bytes: bytes, labels: labels, report: report)
  }

  init(count: Int, channels: Int, size: Int, bytes: Data, labels: [Int]?, report: Report) {
    self.count = count
    self.channels = channels
    self.size = size
    self.bytes = bytes
    self.labels = labels
    self.report = report
  }

  /// The idx1 file named like `images` with `images-idx3` replaced by `labels-idx1`, plain or .gz.
  static func labelsBeside(_ images: String) -> String? {
    let url = URL(fileURLWithPath: images)
    let name = url.lastPathComponent
    guard name.contains("images-idx3") else { return nil }
    var stem = name.replacingOccurrences(of: "images-idx3", with: "labels-idx1")
    if stem.hasSuffix(".gz") { stem.removeLast(3) }
    return [stem, stem + ".gz"]
      .map { url.deletingLastPathComponent().appendingPathComponent($0).path }
      .first { FileManager.default.fileExists(atPath: $0) }
  }

  /// Writes one interleaved (HWC) 8-bit image as planar (CHW) samples at `offset`.
  static func appendPlanar(_ image: RGBImage, to samples: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
    let plane = image.width * image.height
    let c = image.channels
    image.pixels.withUnsafeBufferPointer { src in
      for channel in 0..<c {
        let base = offset + channel * plane
        for i in 0..<plane { samples[base + i] = src[i * c + channel] }
      }
    }
  }
}
