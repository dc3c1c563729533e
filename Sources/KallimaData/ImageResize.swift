import KallimaCore

/// Resizing images to the square inputs a GAN trains on.
public enum ImageResize {
  /// Scales `image` so its shorter side equals `size`, then crops the centre `size` x `size`.
  ///
  /// Filter: each axis is resampled on its own (separably, width first). When an axis shrinks,
  /// every output pixel is the area-weighted mean of the input pixels its footprint covers
  /// (a box filter: OpenCV's INTER_AREA, PIL's BOX); when it grows, it is bilinear with
  /// align_corners=False semantics (source coordinate (i + 0.5) * in / out - 0.5, clamped to
  /// the image, as PyTorch's `interpolate(mode="bilinear", align_corners=False)`). The
  /// resized longer side is floor(longer * size / shorter), as torchvision's `Resize(size)`.
  /// The crop starts at floor((resized - size) / 2) on each axis. Arithmetic is in Float and
  /// each output sample is rounded to the nearest integer once, at the end.
  ///
  /// Layout is kept: row-major interleaved, same `channels` as the input.
  public static func resizeAndCenterCrop(_ image: RGBImage, size: Int) throws -> RGBImage {
    guard size > 0 else {
      throw KallimaError.invalidArgument(op: "ImageResize", message: "size is \(size); it must be at least 1")
    }
    return Plan(width: image.width, height: image.height, size: size).apply(image)
  }

  /// The weights for one input size and output size, computed once and applied to every image
  /// of that size (an idx file's images all share one plan).
  struct Plan {
    let width: Int
    let height: Int
    let size: Int
    let columns: Axis
    let rows: Axis

    init(width: Int, height: Int, size: Int) {
      let (rw, rh) = width <= height ? (size, height * size / width) : (width * size / height, size)
      self.width = width
      self.height = height
      self.size = size
      columns = Axis(input: width, output: rw, first: (rw - size) / 2, count: size)
      rows = Axis(input: height, output: rh, first: (rh - size) / 2, count: size)
    }

    func apply(_ image: RGBImage) -> RGBImage {
      precondition(image.width == width && image.height == height, "ImageResize.Plan applied to another size")
      let (w, h, c) = (width, height, image.channels)
      let rowLength = size * c
      // Width pass: every input row, only the `size` output columns the crop keeps.
      var horizontal = [Float](repeating: 0, count: h * rowLength)
      image.pixels.withUnsafeBufferPointer { src in
        horizontal.withUnsafeMutableBufferPointer { dst in
          columns.withTaps { start, count, offset, weight in
            for y in 0..<h {
              let inRow = y * w * c
              for x in 0..<size {
                let first = inRow + start[x] * c
                for k in 0..<c {
                  var sum: Float = 0
                  var t = 0
                  while t < count[x] {
                    sum += weight[offset[x] + t] * Float(src[first + t * c + k])
                    t += 1
                  }
                  dst[y * rowLength + x * c + k] = sum
                }
              }
            }
          }
        }
      }
      // Height pass: only the `size` output rows the crop keeps.
      var out = [UInt8](repeating: 0, count: size * rowLength)
      horizontal.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
          rows.withTaps { start, count, offset, weight in
            for y in 0..<size {
              for j in 0..<rowLength {
                var sum: Float = 0
                var t = 0
                while t < count[y] {
                  sum += weight[offset[y] + t] * src[(start[y] + t) * rowLength + j]
                  t += 1
                }
                dst[y * rowLength + j] = UInt8(max(0, min(255, sum.rounded())))
              }
            }
          }
        }
      }
      return RGBImage(unchecked: size, size, c, out)
    }
  }

  /// One axis resampled from `input` to `output` samples, for output positions
  /// `first ..< first + count`: output i is the sum over t < counts[i] of
  /// weights[offsets[i] + t] * input[starts[i] + t]. Box (area) weights when shrinking or equal,
  /// bilinear when growing.
  struct Axis {
    var starts: [Int] = []
    var counts: [Int] = []
    var offsets: [Int] = []
    var weights: [Float] = []

    init(input: Int, output: Int, first: Int, count: Int) {
      let scale = Double(input) / Double(output)
      for o in first..<(first + count) {
        offsets.append(weights.count)
        if output <= input {
          // Footprint [o * scale, (o + 1) * scale) in input coordinates; weight = overlap / scale.
          let start = Double(o) * scale
          let end = Double(o + 1) * scale
          let lo = Int(start.rounded(.down))
          let hi = min(input, Int(end.rounded(.up)))
          starts.append(lo)
          counts.append(hi - lo)
          for i in lo..<hi {
            let overlap = min(end, Double(i + 1)) - max(start, Double(i))
            weights.append(Float(max(0, overlap) / scale))
          }
        } else {
          let source = max(0, (Double(o) + 0.5) * scale - 0.5)
          let lo = min(Int(source.rounded(.down)), input - 1)
          let t = Float(source - Double(lo))
          starts.append(lo)
          if lo + 1 < input {
            counts.append(2)
            weights += [1 - t, t]
          } else {
            counts.append(1)
            weights.append(1)
          }
        }
      }
    }

    func withTaps<R>(
      _ body: (UnsafeBufferPointer<Int>, UnsafeBufferPointer<Int>, UnsafeBufferPointer<Int>, UnsafeBufferPointer<Float>)
        -> R
    ) -> R {
      starts.withUnsafeBufferPointer { s in
        counts.withUnsafeBufferPointer { c in
          offsets.withUnsafeBufferPointer { o in weights.withUnsafeBufferPointer { w in body(s, c, o, w) } }
        }
      }
    }
  }
}
