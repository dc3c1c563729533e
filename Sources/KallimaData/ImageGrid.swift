import KallimaCore

/// Tiles a batch of images into one picture, as torchvision's `make_grid` / `save_image` do.
public enum ImageGrid {
  /// Lays out `count` images of `channels` x `size` x `size`, given NCHW in [-1, 1], in rows of
  /// `min(columns, count)` images, separated and surrounded by `padding` black pixels.
  ///
  /// The result is `cols * (size + padding) + padding` wide and `rows * (size + padding) + padding`
  /// high, with `rows = ceil(count / cols)`; image k sits at column `k % cols`, row `k / cols`, its
  /// top-left corner at `(padding + col * (size + padding), padding + row * (size + padding))`.
  /// Values map to 8 bits as round((v + 1) * 127.5), clamped to 0...255; unused cells stay black.
  /// The image has `channels` channels (1 gray or 3 RGB).
  public static func png(
    images: [Float], count: Int, channels: Int, size: Int, columns: Int = 8, padding: Int = 2
  ) throws -> RGBImage {
    let op = "ImageGrid"
    guard count > 0, size > 0, columns > 0, padding >= 0 else {
      throw KallimaError.invalidArgument(
        op: op, message: "count \(count), size \(size), columns \(columns) must be positive and padding \(padding) not negative")
    }
    guard channels == 1 || channels == 3 else {
      throw KallimaError.invalidArgument(op: op, message: "channels is \(channels); use 1 (gray) or 3 (RGB)")
    }
    guard images.count == count * channels * size * size else {
      throw KallimaError.shapeMismatch(
        op: op, message: "\(images.count) values for \(count)x\(channels)x\(size)x\(size) (NCHW); expected "
          + "\(count * channels * size * size)")
    }
    let cols = min(columns, count)
    let rows = (count + cols - 1) / cols
    let width = cols * (size + padding) + padding
    let height = rows * (size + padding) + padding
    var out = [UInt8](repeating: 0, count: width * height * channels)
    for k in 0..<count {
      let left = padding + (k % cols) * (size + padding)
      let top = padding + (k / cols) * (size + padding)
      for c in 0..<channels {
        for y in 0..<size {
          for x in 0..<size {
            let v = images[((k * channels + c) * size + y) * size + x]
            let byte = UInt8(max(0, min(255, ((v + 1) * 127.5).rounded())))
            out[((top + y) * width + left + x) * channels + c] = byte
          }
        }
      }
    }
    return RGBImage(unchecked: width, height, channels, out)
  }

  /// Builds the grid with `png(images:count:channels:size:columns:padding:)` and writes it as a
  /// PNG, atomically (temporary file in the same folder, then rename).
  public static func writePNG(
    images: [Float], count: Int, channels: Int, size: Int, columns: Int = 8, padding: Int = 2, to path: String
  ) throws {
    let grid = try png(images: images, count: count, channels: channels, size: size, columns: columns, padding: padding)
    try ImageIO.writePNG(grid, to: path)
  }
}
