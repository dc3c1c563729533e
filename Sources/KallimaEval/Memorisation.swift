import Foundation
import KallimaCore

/// The memorisation check of SPEC §6: a generator that copies its training set scores a
/// perfect FID, so each sample is compared with its nearest training images — in pixel
/// space, mirrored training images included (a mirrored copy is still a copy).
public enum Memorisation {
  public struct Match: Sendable {
    /// Index of the training image.
    public var index: Int
    /// Whether the match is the mirrored training image.
    public var mirrored: Bool
    /// Root-mean-square pixel difference (pixels in [−1, 1]).
    public var distance: Float
  }

  /// For each of `samples` [S, D], its `k` nearest rows of `training` [M, D] (or of their
  /// mirror images: rows are images of `width` pixels), by Euclidean distance computed on the
  /// device as ‖a‖² + ‖b‖² − 2a·b (one GEMM per direction).
  public static func nearest(
    samples: [Float], count s: Int, training: Tensor, width: Int, k: Int, on backend: Backend
  ) throws -> [[Match]] {
    let (m, d) = (training.shape[0], training.count / max(training.shape[0], 1))
    guard s >= 1, samples.count == s * d, k >= 1, width >= 1, d % width == 0 else {
      throw KallimaError.shapeMismatch(
        op: "nearest", message: "\(samples.count) sample values for \(s) images of \(d) values (width \(width))")
    }
    let train = try training.reshaped([m, d])
    // ‖b‖² for every training row, once.
    let squares = try backend.makeTensor([m, d])
    try backend.activation_fwd(.square, x: train, y: squares)
    let ones = try backend.makeTensor([d, 1], values: [Float](repeating: 1, count: d))
    let trainNorms = try backend.makeTensor([m, 1])
    try backend.matmul(squares, transposeA: false, ones, transposeB: false, c: trainNorms, alpha: 1, beta: 0)
    let bNorm = try backend.read(trainNorms)
    var best = [[Match]](repeating: [], count: s)
    for mirrored in [false, true] {
      // Comparing mirrored samples with the training set equals comparing samples with
      // mirrored training images.
      let query = mirrored ? mirror(samples, width: width) : samples
      let q = try backend.makeTensor([s, d], values: query)
      let dots = try backend.makeTensor([s, m])
      try backend.matmul(q, transposeA: false, train, transposeB: true, c: dots, alpha: 1, beta: 0)
      let dot = try backend.read(dots)
      for i in 0..<s {
        let aNorm = query[(i * d)..<((i + 1) * d)].reduce(Float(0)) { $0 + $1 * $1 }
        var row = best[i]
        for j in 0..<m {
          let sq = max(aNorm + bNorm[j] - 2 * dot[i * m + j], 0)
          let rms = (sq / Float(d)).squareRoot()
          if row.count < k || rms < row[row.count - 1].distance {
            row.append(Match(index: j, mirrored: mirrored, distance: rms))
            row.sort { $0.distance < $1.distance }
            if row.count > k { row.removeLast() }
          }
        }
        best[i] = row
      }
    }
    return best
  }

  /// Images stored as rows of `width` pixels (any number of images and channels), each row
  /// reversed: the images mirrored left-right.
  public static func mirror(_ images: [Float], width: Int) -> [Float] {
    var out = images
    let rows = images.count / width
    for r in 0..<rows {
      for x in 0..<width { out[r * width + x] = images[r * width + width - 1 - x] }
    }
    return out
  }

  /// min / quartiles / max of the nearest distances, for the printed distribution.
  public static func summary(_ distances: [Float]) -> (min: Float, q1: Float, median: Float, q3: Float, max: Float) {
    let s = distances.sorted()
    func at(_ p: Double) -> Float { s[min(s.count - 1, Int(p * Double(s.count - 1) + 0.5))] }
    return (s.first ?? 0, at(0.25), at(0.5), at(0.75), s.last ?? 0)
  }
}
