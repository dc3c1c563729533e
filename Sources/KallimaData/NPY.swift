import Foundation
import KallimaCore

/// A float array from a NumPy .npy file: shape and values in C (row-major) order, widened
/// to Double.
public struct NPYArray: Equatable, Sendable {
  public var shape: [Int]
  public var values: [Double]

  public init(shape: [Int], values: [Double]) throws {
    guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
      throw KallimaError.shapeMismatch(op: "npy array", message: "shape \(shape) does not hold \(values.count) values")
    }
    self.shape = shape
    self.values = values
  }
}

/// NumPy .npy arrays of floats
/// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html): the magic
/// `\x93NUMPY`, a version, a little-endian header length (2 bytes in version 1.0, 4 in 2.0
/// and 3.0), a Python dict literal `{'descr': '<f8', 'fortran_order': False, 'shape': (d, d), }`
/// padded with spaces and a newline to a multiple of 64 bytes, then the raw values.
///
/// Kallima reads little-endian float64 (`<f8`) and float32 (`<f4`) in C order and writes
/// version 1.0 `<f8`; other dtypes, big-endian data and Fortran order are rejected with an
/// error that says what the array holds. `.npz` archives of them are read in KallimaEval (`NPZ`);
/// standalone files here (conditioning embeddings, `ImageDataset.loadConditioned`).
public enum NPY {
  /// The array in the .npy file at `path`.
  public static func read(_ path: String) throws -> NPYArray {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw KallimaError.io(path: path, message: "no such file; check the path to the .npy file")
    }
    guard !isDirectory.boolValue else {
      throw KallimaError.io(path: path, message: "is a folder; pass the .npy file itself")
    }
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw KallimaError.io(path: path, message: "cannot be read (\(error.localizedDescription)); check its permissions")
    }
    return try decode(data, path: path)
  }

  /// Decodes .npy bytes. `path` names the source in errors, and `member` the .npz member
  /// when the bytes are one (nil for a standalone .npy file).
  public static func decode(_ data: Data, member: String? = nil, path: String) throws -> NPYArray {
    let bytes = [UInt8](data)
    func fail(_ message: String) -> KallimaError {
      KallimaError.io(path: path, message: member.map { "member \($0): \(message)" } ?? message)
    }
    let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
    guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
      throw fail("not an .npy array (no \\x93NUMPY magic); the file is corrupt or not written by numpy")
    }
    let major = bytes[6]
    let headerStart: Int
    let headerLength: Int
    switch major {
    case 1:
      headerStart = 10
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    case 2, 3:
      guard bytes.count >= 12 else { throw fail("truncated .npy header") }
      headerStart = 12
      headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
    default:
      throw fail("unsupported .npy format version \(major).\(bytes[7]); numpy writes 1.0, 2.0 or 3.0")
    }
    guard headerStart + headerLength <= bytes.count else {
      throw fail("the .npy header claims \(headerLength) bytes but the member has \(bytes.count); it is truncated")
    }
    let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
    let (descr, fortranOrder, shape) = try parseHeader(header, fail: fail)
    guard !fortranOrder else {
      throw fail("stored in Fortran (column-major) order; save a C-ordered array (np.ascontiguousarray) instead")
    }
    let itemSize: Int
    switch descr {
    case "<f8": itemSize = 8
    case "<f4": itemSize = 4
    case ">f8", ">f4":
      throw fail("holds big-endian floats ('\(descr)'); convert with arr.astype('<f8') before saving")
    default:
      throw fail("holds dtype '\(descr)'; Kallima reads float64 ('<f8') or float32 ('<f4'); convert with arr.astype('<f4')")
    }
    let payload = bytes.count - headerStart - headerLength
    // The product is checked: a corrupt header can declare dimensions whose product overflows Int.
    let needed = ([itemSize] + shape).reduce(Optional(1)) { total, d in
      total.flatMap { t in
        let (p, overflow) = t.multipliedReportingOverflow(by: d)
        return overflow ? nil : p
      }
    }
    guard let needed, payload == needed else {
      throw fail(
        "shape \(shape) of '\(descr)' needs \(needed.map { "\($0) bytes" } ?? "more bytes than a file can hold") of "
          + "data, the member has \(payload); " + (needed.map { payload < $0 } ?? true ? "it is truncated" : "it is corrupt"))
    }
    let count = needed / itemSize
    let start = headerStart + headerLength
    var values = [Double](repeating: 0, count: count)
    bytes.withUnsafeBytes { raw in
      for i in 0..<count {
        if itemSize == 8 {
          values[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 8 * i, as: UInt64.self)))
        } else {
          values[i] = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self))))
        }
      }
    }
    return try NPYArray(shape: shape, values: values)
  }

  /// The .npy version 1.0 encoding of `array` as little-endian float64 in C order, with the
  /// header padded so the data starts at a multiple of 64 bytes, as numpy writes it.
  public static func encode(_ array: NPYArray) -> Data {
    let shape: String
    switch array.shape.count {
    case 1: shape = "(\(array.shape[0]),)"
    default: shape = "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
    }
    var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shape), }"
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
    let length = UInt16(header.utf8.count)
    out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
    out.append(contentsOf: Array(header.utf8))
    out.reserveCapacity(out.count + 8 * array.values.count)
    for v in array.values {
      let bits = v.bitPattern.littleEndian
      withUnsafeBytes(of: bits) { out.append(contentsOf: $0) }
    }
    return out
  }

  /// descr, fortran_order and shape from an .npy header dict literal.
  static func parseHeader(_ header: String, fail: (String) -> KallimaError) throws -> (String, Bool, [Int]) {
    func value(of key: String) throws -> Substring {
      guard let keyRange = header.range(of: "'\(key)':") else {
        throw fail("the .npy header has no '\(key)' (header: \(header.trimmingCharacters(in: .whitespacesAndNewlines)))")
      }
      return header[keyRange.upperBound...].drop(while: { $0 == " " })
    }
    let descrTail = try value(of: "descr")
    guard descrTail.first == "'", let close = descrTail.dropFirst().firstIndex(of: "'") else {
      throw fail("the .npy header's descr is not a quoted dtype string; structured dtypes are not float arrays")
    }
    let descr = String(descrTail[descrTail.index(after: descrTail.startIndex)..<close])
    let fortranTail = try value(of: "fortran_order")
    let fortranOrder: Bool
    if fortranTail.hasPrefix("True") {
      fortranOrder = true
    } else if fortranTail.hasPrefix("False") {
      fortranOrder = false
    } else {
      throw fail("the .npy header's fortran_order is neither True nor False")
    }
    let shapeTail = try value(of: "shape")
    guard shapeTail.first == "(", let end = shapeTail.firstIndex(of: ")") else {
      throw fail("the .npy header's shape is not a tuple")
    }
    var shape: [Int] = []
    for part in shapeTail[shapeTail.index(after: shapeTail.startIndex)..<end].split(separator: ",") {
      let text = part.trimmingCharacters(in: .whitespaces)
      if text.isEmpty { continue }
      guard let n = Int(text), n >= 0 else { throw fail("the .npy header's shape has a bad dimension '\(text)'") }
      shape.append(n)
    }
    return (descr, fortranOrder, shape)
  }
}
