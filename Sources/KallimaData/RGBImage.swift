import KallimaCore

/// An 8-bit image in memory.
///
/// Layout: `pixels` is row-major and interleaved (HWC): the sample for column `x`, row `y`,
/// channel `c` is `pixels[(y * width + x) * channels + c]`. `channels` is 1 (gray) or 3 (RGB).
public struct RGBImage: Equatable, Sendable {
  public let width: Int
  public let height: Int
  /// 1 (gray) or 3 (RGB).
  public let channels: Int
  /// `height * width * channels` samples, row-major interleaved.
  public let pixels: [UInt8]

  /// Checks that the dimensions are positive, `channels` is 1 or 3, and `pixels` holds exactly
  /// `width * height * channels` samples.
  public init(width: Int, height: Int, channels: Int = 3, pixels: [UInt8]) throws {
    guard width > 0, height > 0 else {
      throw KallimaError.invalidArgument(
        op: "RGBImage", message: "size \(width)x\(height) is empty; width and height must be at least 1")
    }
    guard channels == 1 || channels == 3 else {
      throw KallimaError.invalidArgument(
        op: "RGBImage", message: "channels is \(channels); use 1 (gray) or 3 (RGB)")
    }
    guard pixels.count == width * height * channels else {
      throw KallimaError.invalidArgument(
        op: "RGBImage",
        message: "\(pixels.count) samples for \(width)x\(height)x\(channels); expected \(width * height * channels)")
    }
    self.init(unchecked: width, height, channels, pixels)
  }

  /// For code in this module that has already established the invariants.
  init(unchecked width: Int, _ height: Int, _ channels: Int, _ pixels: [UInt8]) {
    self.width = width
    self.height = height
    self.channels = channels
    self.pixels = pixels
  }

  /// The sample at column `x`, row `y`, channel `channel`.
  public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
    pixels[(y * width + x) * channels + channel]
  }

  /// One gray channel. An RGB image converts with the ITU-R BT.601 luma weights
  /// L = (299 R + 587 G + 114 B) / 1000, rounded (what PIL's `convert("L")` computes).
  public func luma() -> RGBImage {
    if channels == 1 { return self }
    var gray = [UInt8](repeating: 0, count: width * height)
    pixels.withUnsafeBufferPointer { rgb in
      for i in 0..<gray.count {
        let sum = 299 * Int(rgb[3 * i]) + 587 * Int(rgb[3 * i + 1]) + 114 * Int(rgb[3 * i + 2])
        gray[i] = UInt8((sum + 500) / 1000)
      }
    }
    return RGBImage(unchecked: width, height, 1, gray)
  }

  /// Three channels. A gray image copies its value into R, G and B.
  public func rgb() -> RGBImage {
    if channels == 3 { return self }
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
      let v = pixels[i]
      rgb[3 * i] = v
      rgb[3 * i + 1] = v
      rgb[3 * i + 2] = v
    }
    return RGBImage(unchecked: width, height, 3, rgb)
  }

  /// NCHW training values in [−1, 1] (`DataOrder.unit`, as the datasets convert), with
  /// `channels` channels (1: BT.601 luma, 3: gray repeated; nil: as the image has).
  public func unitValues(channels: Int? = nil) -> [Float] {
    let image = channels == 1 ? luma() : channels == 3 ? rgb() : self
    let (w, h, c) = (image.width, image.height, image.channels)
    var out = [Float](repeating: 0, count: c * w * h)
    for ch in 0..<c {
      for y in 0..<h { for x in 0..<w { out[(ch * h + y) * w + x] = DataOrder.unit(image.pixels[(y * w + x) * c + ch]) } }
    }
    return out
  }
}
