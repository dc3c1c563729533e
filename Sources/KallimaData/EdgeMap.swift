import Foundation

/// Line drawings of images: the A side of the synthetic edges -> garment set, in the spirit of
/// edges2shoes (whose edges come from HED, Xie and Tu, ICCV 2015, then are thinned): thin dark
/// lines on white.
///
/// Method (Canny's first stages, Canny, PAMI 1986, without the Gaussian blur and hysteresis):
/// 1. Sobel gradients gx, gy of the gray image (3x3; borders replicate the edge pixel), magnitude
///    m = sqrt(gx² + gy²).
/// 2. Non-maximum suppression: a pixel keeps m only when it is at least its neighbour ahead along
///    the gradient direction (quantised to 0, 45, 90, 135 degrees, folded to point right or down)
///    and above the one behind, so lines are one pixel wide even where a sharp step gives the
///    pixels on both of its sides the same magnitude (the first of the two is kept).
/// 3. Threshold: an edge pixel has m >= `threshold` x the largest m of the image (a relative
///    threshold, so dim and bright garments draw alike). A flat image has no edges.
/// Edge pixels are 0 (black), the rest 255 (white).
public enum EdgeMap {
  /// The fraction of the image's strongest gradient an edge must reach.
  public static let threshold: Float = 0.2

  /// The edge map of `image` (gray, or RGB converted by BT.601 luma): one channel, same size.
  public static func of(_ image: RGBImage) -> RGBImage {
    let gray = image.luma()
    let (w, h) = (gray.width, gray.height)
    var gx = [Float](repeating: 0, count: w * h)
    var gy = gx
    var magnitude = gx
    gray.pixels.withUnsafeBufferPointer { p in
      func at(_ x: Int, _ y: Int) -> Float { Float(p[min(h - 1, max(0, y)) * w + min(w - 1, max(0, x))]) }
      for y in 0..<h {
        for x in 0..<w {
          let sx =
            (at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1))
            - (at(x - 1, y - 1) + 2 * at(x - 1, y) + at(x - 1, y + 1))
          let sy =
            (at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1))
            - (at(x - 1, y - 1) + 2 * at(x, y - 1) + at(x + 1, y - 1))
          gx[y * w + x] = sx
          gy[y * w + x] = sy
          magnitude[y * w + x] = (sx * sx + sy * sy).squareRoot()
        }
      }
    }
    let strongest = magnitude.max() ?? 0
    var out = [UInt8](repeating: 255, count: w * h)
    guard strongest > 0 else { return RGBImage(unchecked: w, h, 1, out) }
    func m(_ x: Int, _ y: Int) -> Float { x < 0 || y < 0 || x >= w || y >= h ? 0 : magnitude[y * w + x] }
    let cutoff = threshold * strongest
    for y in 0..<h {
      for x in 0..<w {
        let v = magnitude[y * w + x]
        guard v >= cutoff else { continue }
        // Direction of the gradient, folded to [0, 180) degrees and quantised to 4 bins.
        var angle = atan2Degrees(gy[y * w + x], gx[y * w + x])
        if angle < 0 { angle += 180 }
        let (dx, dy): (Int, Int)
        switch angle {
        case ..<22.5, 157.5...: (dx, dy) = (1, 0)
        case 22.5..<67.5: (dx, dy) = (1, 1)
        case 67.5..<112.5: (dx, dy) = (0, 1)
        default: (dx, dy) = (-1, 1)
        }
        if v >= m(x + dx, y + dy), v > m(x - dx, y - dy) { out[y * w + x] = 0 }
      }
    }
    return RGBImage(unchecked: w, h, 1, out)
  }

  /// atan2 in degrees, (-180, 180]. Image y grows downward, as do the neighbour offsets it picks.
  static func atan2Degrees(_ y: Float, _ x: Float) -> Float {
    Float(atan2(Double(y), Double(x)) * 180 / Double.pi)
  }
}
