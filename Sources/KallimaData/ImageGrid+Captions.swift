import KallimaCore

/// Sample grids with a caption under each row: one row per class (or per text prompt) of a conditional GAN,
/// the same latent z down each column, the row's label printed beneath it in `BitmapFont.standard`.
extension ImageGrid {
  /// Grids at least this many pixels wide draw captions at scale 2 (10x14-pixel glyphs); narrower ones at
  /// scale 1, so a caption stays legible on a large grid without crowding a small one.
  public static let captionScale2MinimumWidth = 300

  /// The scale `captionedPNG` draws captions at on a grid `width` pixels wide.
  public static func captionScale(gridWidth width: Int) -> Int { width >= captionScale2MinimumWidth ? 2 : 1 }

  /// Blank rows (per caption scale) under a caption, before the next row of images.
  public static let captionGap = 3

  /// Lays out `rows * columns` images of `channels` x `size` x `size`, given NCHW in [-1, 1], as `png` does
  /// (image k at row `k / columns`, column `k % columns`; same value mapping; `padding` black pixels between
  /// and around the cells), and under each row a caption strip with `captions[row]`.
  ///
  /// Layout, with s = `captionScale(gridWidth:)` and strip height
  /// h = `(BitmapFont.lineHeight + captionGap) * s`:
  /// - width `columns * (size + padding) + padding`, the same as `png`'s;
  /// - height `rows * (size + h + padding) + padding`;
  /// - row r's images have their top edge at `padding + r * (size + h + padding)`, left edges as in `png`;
  /// - its caption strip is the h rows directly below them (the font's blank top row keeps the text off the
  ///   images), black, with the caption in white (255 in every channel) starting at x = `padding`, on one
  ///   line. A caption wider than `width - 2 * padding` is shortened with `BitmapFont.truncated` ("...").
  ///   The strip's last `captionGap * s` rows stay black, so a caption sits closer to its own row
  ///   (the font's one blank row) than to the next one (that gap, the font's blank row and the padding).
  ///
  /// Gray images (`channels == 1`) give a gray grid, RGB images an RGB grid.
  public static func captionedPNG(
    images: [Float], rows: Int, columns: Int, channels: Int, size: Int, captions: [String], padding: Int = 2
  ) throws -> RGBImage {
    let op = "ImageGrid.captionedPNG"
    guard rows > 0, columns > 0, size > 0, padding >= 0 else {
      throw KallimaError.invalidArgument(
        op: op, message: "rows \(rows), columns \(columns), size \(size) must be positive and padding \(padding) "
          + "not negative")
    }
    guard channels == 1 || channels == 3 else {
      throw KallimaError.invalidArgument(op: op, message: "channels is \(channels); use 1 (gray) or 3 (RGB)")
    }
    guard captions.count == rows else {
      throw KallimaError.invalidArgument(
        op: op, message: "\(captions.count) captions for \(rows) rows; pass one caption per row (\"\" for none)")
    }
    let expected = rows * columns * channels * size * size
    guard images.count == expected else {
      throw KallimaError.shapeMismatch(
        op: op, message: "\(images.count) values for \(rows) rows x \(columns) columns of \(channels)x\(size)x\(size) "
          + "images (NCHW); expected \(expected)")
    }
    // Every row is full, so png's layout has exactly `columns` columns and `rows` rows; its row bands are
    // copied below with a caption strip inserted after each.
    let plain = try png(
      images: images, count: rows * columns, channels: channels, size: size, columns: columns, padding: padding)
    let width = plain.width
    let font = BitmapFont.standard
    let scale = captionScale(gridWidth: width)
    let strip = (BitmapFont.lineHeight + captionGap) * scale
    let band = size + strip + padding
    let height = rows * band + padding
    let rowBytes = width * channels
    var out = [UInt8](repeating: 0, count: height * rowBytes)
    for r in 0..<rows {
      let plainTop = padding + r * (size + padding)
      let top = padding + r * band
      out.replaceSubrange(
        (top * rowBytes)..<((top + size) * rowBytes),
        with: plain.pixels[(plainTop * rowBytes)..<((plainTop + size) * rowBytes)])
      let text = font.truncated(captions[r], toWidth: width - 2 * padding, scale: scale)
      let mask = font.render(text, scale: scale)
      for y in 0..<mask.height {
        for x in 0..<mask.width where mask.pixels[y * mask.width + x] != 0 {
          let base = ((top + size + y) * width + padding + x) * channels
          for c in 0..<channels { out[base + c] = mask.pixels[y * mask.width + x] }
        }
      }
    }
    return RGBImage(unchecked: width, height, channels, out)
  }

  /// Builds the grid with `captionedPNG(images:rows:columns:channels:size:captions:padding:)` and writes it
  /// as a PNG, atomically (temporary file in the same folder, then rename).
  public static func writeCaptionedPNG(
    images: [Float], rows: Int, columns: Int, channels: Int, size: Int, captions: [String], padding: Int = 2,
    to path: String
  ) throws {
    let grid = try captionedPNG(
      images: images, rows: rows, columns: columns, channels: channels, size: size, captions: captions,
      padding: padding)
    try ImageIO.writePNG(grid, to: path)
  }
}
