import Foundation
import KallimaCore
import KallimaData
import ZIPFoundation

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

/// NumPy .npz archives of float arrays, as pytorch-fid stores Inception statistics
/// (`np.savez_compressed(path, mu=mu, sigma=sigma)`; `--save-stats`).
///
/// An .npz file is a zip archive with one `<name>.npy` member per array: np.savez stores
/// the members, np.savez_compressed deflates them; both read. Each member is an .npy file
/// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html): the magic
/// `\x93NUMPY`, a version, a little-endian header length (2 bytes in version 1.0, 4 in 2.0
/// and 3.0), a Python dict literal `{'descr': '<f8', 'fortran_order': False, 'shape': (d, d), }`
/// padded with spaces and a newline to a multiple of 64 bytes, then the raw values.
///
/// Reading uses `NPZ.ZipReader` (NPZ+Zip.swift), writing ZIPFoundation.
///
/// Kallima reads little-endian float64 (`<f8`) and float32 (`<f4`, which pytorch-fid uses
/// for mu) in C order and writes version 1.0 `<f8`; other dtypes, big-endian data and
/// Fortran order are rejected with an error that names the member and what it holds.
public enum NPZ {
  /// The arrays of the .npz file at `path`, keyed by name without ".npy". With `names`,
  /// only those members are decoded (others may hold dtypes Kallima does not read); a
  /// missing one is an error that lists what the file holds.
  public static func read(_ path: String, names: [String]? = nil) throws -> [String: NPYArray] {
    guard FileManager.default.fileExists(atPath: path) else {
      throw KallimaError.io(path: path, message: "no such file; check the path to the .npz statistics")
    }
    let bytes: [UInt8]
    do {
      bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
      throw KallimaError.io(path: path, message: "cannot be read (\(error.localizedDescription)); check its permissions")
    }
    let archive = try ZipReader(bytes) { KallimaError.io(path: path, message: $0) }
    var members: [String: ZipReader.Member] = [:]
    for member in archive.members where member.name.hasSuffix(".npy") {
      members[String(member.name.dropLast(4))] = member
    }
    let wanted = names ?? members.keys.sorted()
    var arrays: [String: NPYArray] = [:]
    for name in wanted {
      guard let member = members[name] else {
        let found = members.keys.sorted().joined(separator: ", ")
        throw KallimaError.io(
          path: path,
          message: "has no array '\(name)' (it holds: \(found.isEmpty ? "no .npy members" : found)); "
            + "pytorch-fid statistics files hold 'mu' and 'sigma'")
      }
      arrays[name] = try decodeNPY(Data(try archive.contents(of: member)), member: member.name, path: path)
    }
    return arrays
  }

  /// Writes `arrays` (in this order) as an .npz file that numpy.load and pytorch-fid read,
  /// each as a version 1.0 `<f8` .npy member; deflated when `compressed`. Crash-safe: the
  /// archive is built in memory and replaces `path` atomically (`AtomicFileWriter`).
  public static func write(_ arrays: [(name: String, array: NPYArray)], to path: String, compressed: Bool) throws {
    let archive: Archive
    do {
      archive = try Archive(data: Data(), accessMode: .create)
      for (name, array) in arrays {
        let bytes = encodeNPY(array)
        try archive.addEntry(
          with: name + ".npy", type: .file, uncompressedSize: Int64(bytes.count),
          compressionMethod: compressed ? .deflate : .none
        ) { position, size in
          bytes.subdata(in: Int(position)..<(Int(position) + size))
        }
      }
    } catch {
      throw KallimaError.io(path: path, message: "could not build the .npz archive in memory: \(error)")
    }
    guard let data = archive.data else {
      throw KallimaError.io(path: path, message: "could not build the .npz archive in memory")
    }
    try AtomicFileWriter(path: path).write([UInt8](data))
  }

  /// Decodes one .npy member. `member` and `path` only name it in errors.
  public static func decodeNPY(_ data: Data, member: String, path: String) throws -> NPYArray {
    let bytes = [UInt8](data)
    func fail(_ message: String) -> KallimaError { KallimaError.io(path: path, message: "member \(member): \(message)") }
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
      throw fail("holds dtype '\(descr)'; statistics must be float64 ('<f8') or float32 ('<f4')")
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
  public static func encodeNPY(_ array: NPYArray) -> Data {
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
      throw fail("the .npy header's descr is not a quoted dtype string; structured dtypes are not statistics")
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

extension FeatureStatistics {
  /// Reads pytorch-fid statistics: an .npz file with `mu` [d] and `sigma` [d, d] (float64,
  /// or float32 for mu as pytorch-fid saves it). The sample count is not stored, so `count`
  /// is nil.
  public init(npzPath path: String) throws {
    let arrays = try NPZ.read(path, names: ["mu", "sigma"])
    let (mu, sigma) = (arrays["mu"]!, arrays["sigma"]!)
    guard mu.shape.count == 1, sigma.shape == [mu.shape[0], mu.shape[0]] else {
      throw KallimaError.io(
        path: path, message: "mu has shape \(mu.shape) and sigma \(sigma.shape); statistics need mu [d] and sigma [d, d]")
    }
    do {
      try self.init(mean: mu.values, covariance: sigma.values)
    } catch {
      throw KallimaError.io(path: path, message: "holds invalid statistics: \(error)")
    }
  }

  /// Writes the statistics as pytorch-fid does (`mu`, `sigma`, float64; deflated by
  /// default, as np.savez_compressed), atomically.
  public func writeNPZ(to path: String, compressed: Bool = true) throws {
    try NPZ.write(
      [
        ("mu", try NPYArray(shape: [dimension], values: mean)),
        ("sigma", try NPYArray(shape: [dimension, dimension], values: covariance)),
      ], to: path, compressed: compressed)
  }
}
