import Dispatch
import Foundation
import KallimaCore
import KallimaData
import KallimaGAN

/// FID from image folders, pytorch-fid statistics files and generators, as pytorch-fid
/// (`python -m pytorch_fid A B`) computes it: Inception pool3 features of every image,
/// their mean and covariance (`FeatureStatistics`), and the Fréchet distance between the
/// two Gaussians (`FrechetDistance`).
///
/// Inputs:
/// - a path ending in `.npz`: pytorch-fid statistics (`mu`, `sigma`; the sample count is
///   not stored there, so no too-few-samples warning can come from such a file);
/// - a folder: every .png/.jpg/.jpeg below it (recursively, sorted by path), decoded to
///   8-bit RGB (gray copied to R, G, B; alpha composited on black);
/// - a generator (`Sampler`): N images from seeded latents, quantised to 8 bits first.
///
/// Image sizes. pytorch-fid needs every image of a folder to have one size (it batches
/// them); images of the first image's size pass unchanged, square or not, exactly as there.
/// Kallima also accepts other sizes when the first image is square: those images are
/// brought to the first image's size by `ImageResize.resizeAndCenterCrop` (shorter side to
/// that size, area filter when shrinking, bilinear when growing, centre crop), and the
/// result's notes say how many were. pytorch-fid would refuse such a folder, so an FID
/// computed from one is not comparable with a pytorch-fid number.
///
/// Memory. Images are decoded and run through Inception in chunks (at most 500 images, and
/// at most 2²⁶ input floats = 256 MiB per chunk); only the pool3 features are kept, on the
/// host as float32 ([N, 2048]: 400 MiB for 50 000 images), and the statistics are computed
/// from them in Double at the end (`FeatureStatistics(features:count:dimension:)`).
public enum FIDPipeline {
  /// What happens to an image before the statistics, in one line.
  public static func preprocessing(_ network: FeatureExtractor) -> String {
    "decode → RGB uint8 → /255 → \(network.networkPreprocessing); generated images: tanh output quantised to "
      + "uint8 (round((x+1)/2·255), clamped) first"
  }

  /// Where pytorch-fid's weights come from.
  public static let weightsURL =
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"

  /// Statistics and what was done to get them.
  public struct Statistics: Sendable {
    public var statistics: FeatureStatistics
    /// Images the statistics come from; nil for an .npz file.
    public var count: Int?
    /// One line on the source, e.g. "folder real/: 10000 images 64×64".
    public var source: String
    /// Things to know (resized images, ...), one sentence each.
    public var notes: [String]
    /// The features themselves, [count, d] row-major, when computed from images (nil for
    /// an .npz file): KID and precision/recall need them, not just the statistics.
    public var features: [Float]? = nil
    /// Inception's 1008 logits per image, [count, 1008], when asked for (the Inception Score).
    public var logits: [Float]? = nil
  }

  /// FID between two inputs and how it was computed.
  public struct Comparison: Sendable {
    public var distance: FrechetDistance.Result
    public var first: Statistics
    public var second: Statistics
    public var value: Double { distance.value }
  }

  // MARK: Weights

  /// `$KALLIMA_INCEPTION_WEIGHTS`, else ~/.cache/kallima/pt_inception-2015-12-05.safetensors.
  public static func defaultWeightsPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
    if let path = environment["KALLIMA_INCEPTION_WEIGHTS"], !path.isEmpty { return path }
    let home = environment["HOME"] ?? NSHomeDirectory()
    return (home as NSString).appendingPathComponent(".cache/kallima/pt_inception-2015-12-05.safetensors")
  }

  /// The FID Inception with the weights in `path` (safetensors); a missing file is an error
  /// that says how to make one.
  public static func inception(backend: Backend, weightsFile path: String) throws -> InceptionV3 {
    guard FileManager.default.fileExists(atPath: path) else {
      throw KallimaError.io(
        path: path,
        message: "no Inception weights here. Download pytorch-fid's pt_inception-2015-12-05-6726825d.pth from "
          + "\(weightsURL) and convert it: `python Scripts/convert_inception_weights.py "
          + "pt_inception-2015-12-05-6726825d.pth \(path)` (or pass --inception-weights FILE, or set "
          + "KALLIMA_INCEPTION_WEIGHTS)")
    }
    return try InceptionV3(backend: backend, weightsFile: path)
  }

  // MARK: Statistics

  /// Statistics of `path`: an .npz file of pytorch-fid statistics, or a folder of images
  /// (the first `limit` files in path order when `limit` is given). `batch` is the
  /// Inception batch size.
  public static func statistics(
    ofImagesAt path: String, inception: FeatureExtractor, batch: Int = 8, limit: Int? = nil, logits: Bool = false
  ) throws -> Statistics {
    if path.lowercased().hasSuffix(".npz") { return try statistics(ofNPZ: path) }
    let op = "FID"
    guard batch >= 1 else { throw KallimaError.invalidArgument(op: op, message: "batch is \(batch); it must be at least 1") }
    if let limit, limit < 2 {
      throw KallimaError.invalidArgument(op: op, message: "limit is \(limit); a covariance needs at least 2 images")
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw KallimaError.io(path: path, message: "no such folder or file; pass a folder of .png/.jpg images or a pytorch-fid .npz")
    }
    guard isDirectory.boolValue else {
      throw KallimaError.io(path: path, message: "is a file but not an .npz; pass a folder of .png/.jpg images or a pytorch-fid .npz")
    }
    var files = try imageFiles(in: path)
    if let limit { files = Array(files.prefix(limit)) }
    guard files.count >= 2 else {
      throw KallimaError.io(
        path: path,
        message: files.isEmpty
          ? "contains no .png, .jpg or .jpeg files (searched recursively); FID needs images"
          : "contains only one image file; a covariance needs at least 2 images")
    }
    let first = try decode(files[0])
    let (width, height) = (first.width, first.height)
    let chunk = chunkSize(batch: batch, imageFloats: 3 * width * height)
    let net = try inception.extractor(batch: batch, height: height, width: width)
    var features: [Float] = []
    var allLogits: [Float] = []
    let logitsOutput = try logitsOutputName(inception, wanted: logits)
    features.reserveCapacity(files.count * inception.featureDimension)
    var resized = 0
    for start in stride(from: 0, to: files.count, by: chunk) {
      let names = Array(files[start..<min(files.count, start + chunk)])
      var outcomes = [Result<(RGBImage, Bool), Error>?](repeating: nil, count: names.count)
      outcomes.withUnsafeMutableBufferPointer { slots in
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
          slots[i] = Result { try prepare(names[i], width: width, height: height) }
        }
      }
      var pixels = [Float](repeating: 0, count: names.count * 3 * width * height)
      for (i, outcome) in outcomes.enumerated() {
        let (image, wasResized) = try outcome!.get()
        if wasResized { resized += 1 }
        planarUnit(image, into: &pixels, at: i * 3 * width * height)
      }
      let out = try runInception(
        net, outputs: [inception.featureOutput] + logitsOutput, pixels: pixels, count: names.count, height: height, width: width)
      features += out[0]
      if logits { allLogits += out[1] }
    }
    var notes: [String] = []
    if resized > 0 {
      notes.append(
        "\(resized) of \(files.count) images were not \(width)×\(height) (the first image's size) and were resized and "
          + "centre-cropped to it; pytorch-fid refuses mixed sizes, so this FID is not comparable with its numbers")
    }
    return Statistics(
      statistics: try FeatureStatistics(features: features, count: files.count, dimension: inception.featureDimension),
      count: files.count, source: "folder \(path): \(files.count) images \(width)×\(height)", notes: notes,
      features: features, logits: logits ? allLogits : nil)
  }

  /// pytorch-fid statistics from an .npz file (`mu`, `sigma`); no network needed.
  public static func statistics(ofNPZ path: String) throws -> Statistics {
    Statistics(
      statistics: try FeatureStatistics(npzPath: path), count: nil,
      source: "statistics \(path) (pytorch-fid .npz: mu and sigma, sample count not stored)", notes: [])
  }

  /// Statistics of `count` images from `sampler`'s generator (eval mode), latents
  /// `Sampler.latents(count:nz:seed:)` (so the images do not depend on the batch size),
  /// generated `sampler.count` at a time. Each image is quantised as the reference
  /// pipelines save samples, q = clamp(round((x + 1)/2·255), 0, 255), and fed as q/255;
  /// gray images are copied to R, G, B.
  public static func statistics(
    ofGenerator sampler: Sampler, count: Int, seed: UInt64, inception: FeatureExtractor, batch: Int = 8,
    logits: Bool = false
  ) throws -> Statistics {
    let op = "FID"
    guard count >= 2 else { throw KallimaError.invalidArgument(op: op, message: "need at least 2 samples, got \(count)") }
    guard batch >= 1 else { throw KallimaError.invalidArgument(op: op, message: "batch is \(batch); it must be at least 1") }
    let (c, size) = (sampler.imageShape[0], sampler.imageShape[1])
    let latents = Sampler.latents(count: count, nz: sampler.nz, seed: seed)
    let net = try inception.extractor(batch: batch, height: size, width: size)
    let plane = size * size
    let chunk = max(sampler.count, chunkSize(batch: batch, imageFloats: 3 * plane) / sampler.count * sampler.count)
    var features: [Float] = []
    var allLogits: [Float] = []
    let logitsOutput = try logitsOutputName(inception, wanted: logits)
    features.reserveCapacity(count * inception.featureDimension)
    // Quantised RGB images pile up in `pixels` and go through Inception `chunk` at a time.
    var pixels: [Float] = []
    var pending = 0
    func flush() throws {
      guard pending > 0 else { return }
      let out = try runInception(
        net, outputs: [inception.featureOutput] + logitsOutput, pixels: pixels, count: pending, height: size, width: size)
      features += out[0]
      if logits { allLogits += out[1] }
      (pixels, pending) = ([], 0)
    }
    try sampler.forEachBatch(latents: latents) { images, k in
      for i in 0..<k {
        for ch in 0..<3 {
          let src = (i * c + (c == 1 ? 0 : ch)) * plane
          pixels += images[src..<(src + plane)].lazy.map(quantise)
        }
      }
      pending += k
      if pending >= chunk { try flush() }
    }
    try flush()
    return Statistics(
      statistics: try FeatureStatistics(features: features, count: count, dimension: inception.featureDimension),
      count: count, source: "generator: \(count) samples \(size)×\(size), latent seed \(seed)", notes: [],
      features: features, logits: logits ? allLogits : nil)
  }

  /// A tanh output x in [−1, 1] as an 8-bit sample over 255.
  public static func quantise(_ x: Float) -> Float {
    (min(max(((x + 1) / 2 * 255).rounded(), 0), 255)) / 255
  }

  /// FID between two sets of statistics on `path` (pytorch-fid's value on `.host`).
  public static func compare(_ a: Statistics, _ b: Statistics, path: FrechetDistance.Path = .host) throws -> Comparison {
    Comparison(distance: try FrechetDistance.compute(a.statistics, b.statistics, path: path), first: a, second: b)
  }

  // MARK: Helpers

  /// Images per chunk: a multiple of `batch`, at most 500 images (rounded up to one batch)
  /// and at most 2²⁶ floats of input.
  static func chunkSize(batch: Int, imageFloats: Int) -> Int {
    let byMemory = max(1, (1 << 26) / imageFloats)
    return max(batch, min(500, byMemory) / batch * batch)
  }

  /// Image files under `folder`, recursively, sorted by path.
  static func imageFiles(in folder: String) throws -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: folder) else {
      throw KallimaError.io(path: folder, message: "cannot list the folder; check its permissions")
    }
    var files: [String] = []
    while let relative = walker.nextObject() as? String {
      guard ImageDataset.imageExtensions.contains((relative as NSString).pathExtension.lowercased()) else { continue }
      files.append((folder as NSString).appendingPathComponent(relative))
    }
    return files.sorted()
  }

  static func decode(_ file: String) throws -> RGBImage {
    let image = try ImageIO.read(file)
    return image.channels == 3 ? image : try RGBImage(
      width: image.width, height: image.height, channels: 3, pixels: image.pixels.flatMap { [$0, $0, $0] })
  }

  /// `file` decoded at width×height, and whether it had to be resized.
  static func prepare(_ file: String, width: Int, height: Int) throws -> (RGBImage, Bool) {
    let image = try decode(file)
    if image.width == width, image.height == height { return (image, false) }
    guard width == height else {
      throw KallimaError.io(
        path: file,
        message: "is \(image.width)×\(image.height) but the first image is \(width)×\(height); FID needs images of one "
          + "size (Kallima resizes others only when the first image is square)")
    }
    return (try ImageResize.resizeAndCenterCrop(image, size: width), true)
  }

  /// Writes an interleaved RGB image as planar values v/255 at `offset`.
  static func planarUnit(_ image: RGBImage, into pixels: inout [Float], at offset: Int) {
    let plane = image.width * image.height
    image.pixels.withUnsafeBufferPointer { src in
      pixels.withUnsafeMutableBufferPointer { dst in
        for c in 0..<3 {
          for i in 0..<plane { dst[offset + c * plane + i] = Float(src[i * 3 + c]) / 255 }
        }
      }
    }
  }

  /// pool3 features of `count` images [count, 3, height, width] in [0, 1], read back.
  static func runInception(
    _ net: FeatureNetwork, outputs: [String], pixels: [Float], count: Int, height: Int, width: Int
  ) throws -> [[Float]] {
    let images = try net.backend.makeTensor([count, 3, height, width], values: pixels)
    let out = try net.map(images, outputs: outputs)
    return try outputs.map { try net.backend.read(out[$0]!) }
  }

  /// [InceptionV3.logits] when logits are wanted (Inception only: the Inception Score is
  /// defined on its 1008 classes), else [].
  static func logitsOutputName(_ network: FeatureExtractor, wanted: Bool) throws -> [String] {
    guard wanted else { return [] }
    guard network is InceptionV3 else {
      throw KallimaError.invalidArgument(
        op: "Inception Score", message: "needs the Inception network's logits; use --features inception")
    }
    return [InceptionV3.logits]
  }
}
