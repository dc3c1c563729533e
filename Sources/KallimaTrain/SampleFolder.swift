import Foundation
import KallimaCore
import KallimaData
import KallimaGAN

/// Generated images as one PNG each (`sample_00000.png`, …), the layout FID tools
/// (pytorch-fid, clean-fid, torch-fidelity) and people expect.
public enum SampleFolder {
  /// The file name of image `index` of `total`: five digits, more when `total` needs them,
  /// so the names sort in generation order.
  public static func fileName(index: Int, total: Int) -> String {
    let digits = max(5, String(max(total - 1, 0)).count)
    let number = String(index)
    return "sample_" + String(repeating: "0", count: max(digits - number.count, 0)) + number + ".png"
  }

  /// Generates one image per latent vector of `latents`, `sampler.count` per device run (one
  /// read per batch), writes each to `folder` (created if needed) as an 8-bit PNG with the
  /// grid's quantisation (round((v + 1)·127.5), clamped), and returns the first `keep`
  /// images (NCHW in [−1, 1]) for a grid. `progress` gets the number written after each batch.
  @discardableResult
  public static func write(
    sampler: Sampler, latents: [Float], conditions: [Float]? = nil, to folder: String, keep: Int = 0,
    progress: (Int) -> Void = { _ in }
  ) throws -> [Float] {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let (channels, size) = (sampler.imageShape[0], sampler.imageShape[1])
    let perImage = sampler.imageShape.count
    let total = latents.count / max(sampler.nz, 1)
    var kept: [Float] = []
    var written = 0
    try sampler.forEachBatch(latents: latents, conditions: conditions) { images, count in
      // Each file is written atomically and fsync'd (ImageIO.writePNG); the fsyncs wait on
      // the disk, so the batch's files are written in parallel.
      let failure = FirstError()
      DispatchQueue.concurrentPerform(iterations: count) { i in
        do {
          let image = Array(images[(i * perImage)..<((i + 1) * perImage)])
          let png = try ImageGrid.png(images: image, count: 1, channels: channels, size: size, columns: 1, padding: 0)
          let name = fileName(index: written + i, total: total)
          try ImageIO.writePNG(png, to: URL(fileURLWithPath: folder).appendingPathComponent(name).path)
        } catch {
          failure.record(error)
        }
      }
      if let error = failure.error { throw error }
      kept += images.prefix(max(min(keep - written, count), 0) * perImage)
      written += count
      progress(written)
    }
    return kept
  }
}

/// The first error thrown by any of several threads.
final class FirstError: @unchecked Sendable {
  private let lock = NSLock()
  private var first: Error?

  func record(_ error: Error) {
    lock.lock()
    defer { lock.unlock() }
    if first == nil { first = error }
  }

  var error: Error? {
    lock.lock()
    defer { lock.unlock() }
    return first
  }
}
