import Foundation
import KallimaCore

/// Reading and writing single image files.
///
/// Decoded images are always 8-bit RGB (`channels == 3`), row-major interleaved (see `RGBImage`).
public enum ImageIO {
  /// The container a file's first bytes announce.
  public enum Format: Equatable, Sendable {
    case png, jpeg
  }

  /// The format announced by the first bytes of `path` (PNG: `89 50 4E 47 0D 0A 1A 0A`,
  /// JPEG: `FF D8 FF`), or nil for anything else. The file name's extension plays no part.
  public static func format(of path: String) throws -> Format? {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
      throw KallimaError.io(path: path, message: "is a folder, not an image file; pass a .png or .jpg file")
    }
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw KallimaError.io(path: path, message: missingOrUnreadable(path))
    }
    defer { try? handle.close() }
    let head = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
    if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
    if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return .jpeg }
    return nil
  }

  /// Decodes a PNG or a JPEG, chosen by the file's magic bytes, to 8-bit RGB.
  ///
  /// PNG: every color type and bit depth (palette, gray, gray+alpha, RGB, RGBA; 1 to 16 bits)
  /// through libpng's simplified API; 16-bit samples are scaled to 8 bits
  /// (v * 255 / 65535, rounded); alpha is composited on black (libpng blends in linear light,
  /// so fully opaque pixels keep their value and fully transparent ones become 0).
  /// JPEG: baseline and progressive through libjpeg; gray becomes R = G = B; CMYK/YCCK
  /// convert to RGB; a truncated file is an error.
  public static func read(_ path: String) throws -> RGBImage {
    switch try format(of: path) {
    case .png: return try CShim.readPNG(path)
    case .jpeg: return try CShim.readJPEG(path)
    case nil:
      throw KallimaError.io(
        path: path, message: "not a PNG or JPEG (the first bytes match neither signature); convert it or remove it")
    }
  }

  /// Writes an 8-bit PNG (gray if `image.channels == 1`, else RGB), atomically: a temporary file
  /// in the same folder is renamed over `path` once complete.
  public static func writePNG(_ image: RGBImage, to path: String) throws {
    try AtomicFile.write(to: path) { try CShim.writePNG(image, to: $0, reportedAs: path) }
  }

  /// Writes a JPEG (gray or RGB) at `quality` 1...100, atomically. Lossy: reading it back gives
  /// values near, not equal to, the input. Kallima writes PNG; this exists for tests and tools.
  public static func writeJPEG(_ image: RGBImage, to path: String, quality: Int = 95) throws {
    guard (1...100).contains(quality) else {
      throw KallimaError.invalidArgument(op: "ImageIO.writeJPEG", message: "quality is \(quality); use 1...100")
    }
    try AtomicFile.write(to: path) {
      try CShim.writeJPEG(
        image.pixels, width: image.width, height: image.height, components: image.channels, quality: quality,
        to: $0, reportedAs: path)
    }
  }

  /// Writes CMYK samples (4 per pixel, row-major interleaved, stored as given with an Adobe
  /// marker, i.e. in Photoshop's inverted convention where 255 means no ink) as a JPEG.
  /// For testing CMYK decoding.
  public static func writeCMYKJPEG(_ cmyk: [UInt8], width: Int, height: Int, to path: String, quality: Int = 95) throws {
    guard width > 0, height > 0, cmyk.count == width * height * 4 else {
      throw KallimaError.invalidArgument(
        op: "ImageIO.writeCMYKJPEG", message: "\(cmyk.count) samples for \(width)x\(height)x4")
    }
    try AtomicFile.write(to: path) {
      try CShim.writeJPEG(cmyk, width: width, height: height, components: 4, quality: quality, to: $0, reportedAs: path)
    }
  }

  static func missingOrUnreadable(_ path: String) -> String {
    FileManager.default.fileExists(atPath: path)
      ? "cannot open the file; check its permissions"
      : "no such file; check the path"
  }
}
