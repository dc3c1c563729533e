import Foundation
import KallimaCore

/// Paired-image fidelity of a translation (pix2pix's and CycleGAN's paired test sets: the
/// translated image against its ground truth): mean absolute error, PSNR and SSIM, per image
/// and averaged over the images. Host code in Double: they run once per evaluation.
///
/// Inputs are two batches [N, C, H, W] of Float in [−1, 1] (Kallima's image range); every
/// metric sees the intensities (x + 1) / 2 in [0, 1], data range 1. Values outside [−1, 1]
/// are not clamped (a tanh output never is).
public enum ImageFidelity {
  /// Per-image values, in batch order, and their means.
  public struct Scores: Sendable, Equatable {
    /// mean |a − b| over C, H, W, on [0, 1] intensities.
    public var l1: [Double]
    /// 10·log10(1 / MSE) in dB; +∞ for identical images.
    public var psnr: [Double]
    /// Mean structural similarity (Wang et al. 2004), averaged over channels; 1 for identical images.
    public var ssim: [Double]

    public var meanL1: Double { mean(l1) }
    /// The mean of the per-image PSNRs (+∞ if any pair is identical).
    public var meanPSNR: Double { mean(psnr) }
    public var meanSSIM: Double { mean(ssim) }

    private func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
  }

  /// SSIM's constants (Wang et al. 2004, §III-C): Gaussian window σ 1.5 truncated at 3.5σ
  /// (11 taps, as scipy/scikit-image), K1 0.01, K2 0.03, data range 1.
  public static let ssimSigma = 1.5
  public static let ssimRadius = 5
  public static let ssimK1 = 0.01
  public static let ssimK2 = 0.03

  /// L1, PSNR and SSIM of each pair (a[i], b[i]); both [N, C, H, W] as `shape` says.
  public static func scores(_ a: [Float], _ b: [Float], shape: Shape) throws -> Scores {
    try check(a, b, shape, "image fidelity")
    let (n, plane) = (shape[0], shape[1] * shape[2] * shape[3])
    var scores = Scores(l1: [], psnr: [], ssim: [])
    for i in 0..<n {
      let x = unit(a[(i * plane)..<((i + 1) * plane)])
      let y = unit(b[(i * plane)..<((i + 1) * plane)])
      scores.l1.append(l1(x, y))
      scores.psnr.append(psnr(x, y))
      scores.ssim.append(try ssim(x, y, channels: shape[1], height: shape[2], width: shape[3]))
    }
    return scores
  }

  /// Per-image mean absolute error on [0, 1] intensities.
  public static func l1(_ a: [Float], _ b: [Float], shape: Shape) throws -> [Double] {
    try check(a, b, shape, "l1")
    return perImage(a, b, shape) { l1($0, $1) }
  }

  /// Per-image PSNR in dB with data range 1 (+∞ where the images are identical).
  public static func psnr(_ a: [Float], _ b: [Float], shape: Shape) throws -> [Double] {
    try check(a, b, shape, "psnr")
    return perImage(a, b, shape) { psnr($0, $1) }
  }

  /// Per-image SSIM as scikit-image's `structural_similarity(a, b, channel_axis=0,
  /// gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)`: per
  /// channel, local means, variances and covariance under the 11x11 Gaussian window
  /// (population, not sample, statistics), SSIM = (2μxμy + C1)(2σxy + C2) /
  /// ((μx² + μy² + C1)(σx² + σy² + C2)) with C1 = 0.01², C2 = 0.03², averaged over the
  /// positions whose window lies inside the image (a valid-region convolution, as
  /// scikit-image crops the 5-pixel border), then over channels. H and W must be >= 11.
  public static func ssim(_ a: [Float], _ b: [Float], shape: Shape) throws -> [Double] {
    try check(a, b, shape, "ssim")
    let (n, plane) = (shape[0], shape[1] * shape[2] * shape[3])
    return try (0..<n).map { i in
      try ssim(
        unit(a[(i * plane)..<((i + 1) * plane)]), unit(b[(i * plane)..<((i + 1) * plane)]), channels: shape[1],
        height: shape[2], width: shape[3])
    }
  }

  // MARK: One image ([C, H, W] in [0, 1], Double)

  static func l1(_ x: [Double], _ y: [Double]) -> Double {
    zip(x, y).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(x.count)
  }

  static func psnr(_ x: [Double], _ y: [Double]) -> Double {
    let mse = zip(x, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(x.count)
    return mse == 0 ? .infinity : 10 * log10(1 / mse)
  }

  /// The normalised 1-D Gaussian, exp(−t²/2σ²) for t = −5…5 (scipy's gaussian_filter taps).
  static let gaussianTaps: [Double] = {
    let raw = (-ssimRadius...ssimRadius).map { t in exp(-0.5 * Double(t * t) / (ssimSigma * ssimSigma)) }
    let total = raw.reduce(0, +)
    return raw.map { $0 / total }
  }()

  static func ssim(_ x: [Double], _ y: [Double], channels: Int, height h: Int, width w: Int) throws -> Double {
    let k = 2 * ssimRadius + 1
    guard h >= k, w >= k else {
      throw KallimaError.invalidArgument(
        op: "ssim", message: "SSIM's \(k)x\(k) window needs images of at least \(k)x\(k), got \(h)x\(w)")
    }
    let (c1, c2) = (ssimK1 * ssimK1, ssimK2 * ssimK2)
    let (oh, ow) = (h - k + 1, w - k + 1)
    var total = 0.0
    for c in 0..<channels {
      let px = Array(x[(c * h * w)..<((c + 1) * h * w)])
      let py = Array(y[(c * h * w)..<((c + 1) * h * w)])
      let ux = blur(px, h, w)
      let uy = blur(py, h, w)
      let uxx = blur(zip(px, px).map(*), h, w)
      let uyy = blur(zip(py, py).map(*), h, w)
      let uxy = blur(zip(px, py).map(*), h, w)
      var sum = 0.0
      for i in 0..<(oh * ow) {
        let (vx, vy, vxy) = (uxx[i] - ux[i] * ux[i], uyy[i] - uy[i] * uy[i], uxy[i] - ux[i] * uy[i])
        sum += ((2 * ux[i] * uy[i] + c1) * (2 * vxy + c2)) / ((ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2))
      }
      total += sum / Double(oh * ow)
    }
    return total / Double(channels)
  }

  /// Valid-region separable Gaussian filtering of an h x w plane: (h − 10) x (w − 10).
  static func blur(_ p: [Double], _ h: Int, _ w: Int) -> [Double] {
    let taps = gaussianTaps
    let k = taps.count
    let ow = w - k + 1
    var rows = [Double](repeating: 0, count: h * ow)
    for r in 0..<h {
      for j in 0..<ow {
        var s = 0.0
        for t in 0..<k { s += taps[t] * p[r * w + j + t] }
        rows[r * ow + j] = s
      }
    }
    let oh = h - k + 1
    var out = [Double](repeating: 0, count: oh * ow)
    for i in 0..<oh {
      for j in 0..<ow {
        var s = 0.0
        for t in 0..<k { s += taps[t] * rows[(i + t) * ow + j] }
        out[i * ow + j] = s
      }
    }
    return out
  }

  /// Per-image mean absolute difference of neighbouring pixels on [0, 1] intensities: the
  /// mean of |v[y][x+1] − v[y][x]| and |v[y+1][x] − v[y][x]| over every horizontal and
  /// vertical neighbour pair of every channel. Blur lowers it, so the ratio of a translation's to its target's says how sharp
  /// the translation is (1: as sharp as the truth; pix2pix's L1-only outputs fall below 1).
  public static func sharpness(_ images: [Float], shape: Shape) throws -> [Double] {
    try check(images, images, shape, "sharpness")
    let (c, h, w) = (shape[1], shape[2], shape[3])
    return (0..<shape[0]).map { i in
      let x = unit(images[(i * c * h * w)..<((i + 1) * c * h * w)])
      var total = 0.0
      var terms = 0
      for ch in 0..<c {
        for y in 0..<h {
          for col in 0..<w {
            let v = x[(ch * h + y) * w + col]
            if col + 1 < w { total += abs(x[(ch * h + y) * w + col + 1] - v); terms += 1 }
            if y + 1 < h { total += abs(x[(ch * h + y + 1) * w + col] - v); terms += 1 }
          }
        }
      }
      return terms == 0 ? 0 : total / Double(terms)
    }
  }

  // MARK: Helpers

  static func unit(_ v: ArraySlice<Float>) -> [Double] { v.map { (Double($0) + 1) / 2 } }

  static func perImage(_ a: [Float], _ b: [Float], _ shape: Shape, _ f: ([Double], [Double]) -> Double) -> [Double] {
    let plane = shape[1] * shape[2] * shape[3]
    return (0..<shape[0]).map { i in
      f(unit(a[(i * plane)..<((i + 1) * plane)]), unit(b[(i * plane)..<((i + 1) * plane)]))
    }
  }

  static func check(_ a: [Float], _ b: [Float], _ shape: Shape, _ op: String) throws {
    guard shape.rank == 4, shape.dims.allSatisfy({ $0 > 0 }) else {
      throw KallimaError.shapeMismatch(op: op, message: "images must be a batch [N, C, H, W], got \(shape)")
    }
    guard a.count == shape.count, b.count == shape.count else {
      throw KallimaError.shapeMismatch(
        op: op, message: "\(a.count) and \(b.count) values for two batches of \(shape) (\(shape.count) values each)")
    }
  }
}
