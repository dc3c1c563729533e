import CKallima
import KallimaCore

/// Every call into the C shim's image and gzip functions, and the only place KallimaData
/// touches C pointers. Each wrapper copies the malloc'd result into a Swift array, frees it,
/// and turns a failure status into `KallimaError.io` carrying the library's message.
enum CShim {
  private static let messageCapacity = 512

  /// Runs `body` with a zeroed message buffer; on a non-zero status throws `.io` with
  /// "`what`: <library message>; `advice`".
  private static func call(
    _ path: String, _ what: String, _ advice: String, _ body: (UnsafeMutablePointer<CChar>, Int) -> Int32
  ) throws {
    var message = [CChar](repeating: 0, count: messageCapacity)
    let status = message.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
    guard status == 0 else {
      let text = String(cString: message)
      let detail = text.isEmpty ? "unknown error" : text
      throw KallimaError.io(path: path, message: "\(what): \(detail); \(advice)")
    }
  }

  private static func take(_ pointer: UnsafeMutablePointer<UInt8>?, count: Int) -> [UInt8] {
    defer { kallima_free(pointer) }
    guard let pointer, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
  }

  /// Any PNG as 8-bit RGB (alpha composited on black by libpng, in linear light).
  static func readPNG(_ path: String) throws -> RGBImage {
    var pointer: UnsafeMutablePointer<UInt8>?
    var width: UInt32 = 0
    var height: UInt32 = 0
    try call(path, "could not decode PNG", "the file is corrupt or not a PNG; re-export it or remove it") {
      kallima_png_read_rgb(path, &pointer, &width, &height, $0, $1)
    }
    let pixels = take(pointer, count: Int(width) * Int(height) * 3)
    return RGBImage(unchecked: Int(width), Int(height), 3, pixels)
  }

  /// Any JPEG as 8-bit RGB (gray, CMYK and YCCK converted in C).
  static func readJPEG(_ path: String) throws -> RGBImage {
    var pointer: UnsafeMutablePointer<UInt8>?
    var width: UInt32 = 0
    var height: UInt32 = 0
    try call(path, "could not decode JPEG", "the file is corrupt or truncated; re-export it or remove it") {
      kallima_jpeg_read_rgb(path, &pointer, &width, &height, $0, $1)
    }
    let pixels = take(pointer, count: Int(width) * Int(height) * 3)
    return RGBImage(unchecked: Int(width), Int(height), 3, pixels)
  }

  static func writePNG(_ image: RGBImage, to path: String, reportedAs target: String) throws {
    try call(target, "could not write PNG", "check that the folder exists, is writable and has space") { message, capacity in
      image.pixels.withUnsafeBufferPointer {
        kallima_png_write(
          path, $0.baseAddress, UInt32(image.width), UInt32(image.height), UInt32(image.channels), message, capacity)
      }
    }
  }

  /// components: 1 gray, 3 RGB, 4 CMYK (as stored, with libjpeg's Adobe marker).
  static func writeJPEG(
    _ pixels: [UInt8], width: Int, height: Int, components: Int, quality: Int, to path: String, reportedAs target: String
  ) throws {
    try call(target, "could not write JPEG", "check that the folder exists, is writable and has space") {
      message, capacity in
      pixels.withUnsafeBufferPointer {
        kallima_jpeg_write(
          path, $0.baseAddress, UInt32(width), UInt32(height), UInt32(components), Int32(quality), message, capacity)
      }
    }
  }

  /// The whole file, inflated if it is gzip-compressed.
  static func gzReadAll(_ path: String) throws -> [UInt8] {
    var pointer: UnsafeMutablePointer<UInt8>?
    var length = 0
    try call(path, "could not read", "the file is corrupt or truncated (download it again), or unreadable (check its permissions)") {
      kallima_gz_read_all(path, &pointer, &length, $0, $1)
    }
    return take(pointer, count: length)
  }

  static func gzWriteAll(_ bytes: [UInt8], to path: String, reportedAs target: String) throws {
    try call(target, "could not write gzip", "check that the folder exists, is writable and has space") {
      message, capacity in
      bytes.withUnsafeBufferPointer { kallima_gz_write_all(path, $0.baseAddress, $0.count, message, capacity) }
    }
  }
}
