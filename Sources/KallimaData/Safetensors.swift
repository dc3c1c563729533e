import Foundation
import KallimaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// read(2), named apart from `SafetensorsFile.read`.
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
  #if canImport(Glibc)
  return Glibc.read(fd, buffer, count)
  #else
  return Darwin.read(fd, buffer, count)
  #endif
}

/// One named tensor of a safetensors file, as Float values in row-major (C) order.
/// A scalar has shape `[]` and one value.
public struct SafetensorsTensor: Equatable, Sendable {
  /// The state-dict name, e.g. `generator.main.0.weight`.
  public var name: String
  /// Dimensions, outermost first (NCHW for images, [in, out, kH, kW] for transposed convs).
  public var shape: [Int]
  /// `shape.reduce(1, *)` values, row-major.
  public var values: [Float]

  public init(name: String, shape: [Int], values: [Float]) {
    (self.name, self.shape, self.values) = (name, shape, values)
  }
}

/// Reads and writes the safetensors format (https://huggingface.co/docs/safetensors):
///
///     [8 bytes]  N, little-endian u64: length of the header
///     [N bytes]  UTF-8 JSON: {"__metadata__": {str: str},
///                             "NAME": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
///                padded with spaces so that 8 + N is a multiple of 8
///     [rest]     the byte buffer; offsets are relative to its start, tensors tile it without gaps
///
/// Kallima writes F32 only; it reads F32, F16, BF16 and F64, converting to Float.
/// Writes are crash-safe (see `AtomicFileWriter`): a reader sees the old file or the new
/// one, never a mix, even if the writer is killed or the machine loses power.
public enum SafetensorsFile {
  /// Largest header the reader accepts (the reference implementation's limit too).
  public static let maximumHeaderBytes = 100_000_000

  /// Writes `tensors` (as F32, in the order given) and `metadata` to `path`, atomically:
  /// the data goes to a temporary file next to `path` that is fsync'd and then renamed
  /// over it. Throws `KallimaError.invalidArgument` for bad tensors and
  /// `KallimaError.io` when the file system refuses (the previous file is then untouched).
  public static func write(_ tensors: [SafetensorsTensor], metadata: [String: String] = [:], to path: String) throws {
    let bytes = try encode(tensors, metadata: metadata)
    try AtomicFileWriter(path: path).write(bytes)
  }

  /// Reads every tensor of the file at `path`, in the order of the byte buffer, converting
  /// to Float. Throws `KallimaError.io` naming the problem when the file is not a complete,
  /// consistent safetensors file.
  public static func read(_ path: String) throws -> (metadata: [String: String], tensors: [SafetensorsTensor]) {
    try decode(readWholeFile(path), path: path)
  }

  // MARK: Encoding

  /// The complete file contents `write` would produce, for callers that need the bytes
  /// ahead of time (e.g. to write them from a forked child with `AtomicFileWriter`).
  public static func encode(_ tensors: [SafetensorsTensor], metadata: [String: String] = [:]) throws -> [UInt8] {
    let op = "safetensors write"
    var seen = Set<String>()
    var header = "{"
    var first = true
    func separator() { if !first { header += "," }; first = false }
    if !metadata.isEmpty {
      separator()
      header += "\"__metadata__\":{"
      header += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
      header += "}"
    }
    var offset = 0
    for t in tensors {
      guard !t.name.isEmpty, t.name != "__metadata__" else {
        throw KallimaError.invalidArgument(op: op, message: "tensor name \"\(t.name)\" is reserved or empty; rename the tensor")
      }
      guard seen.insert(t.name).inserted else {
        throw KallimaError.invalidArgument(op: op, message: "tensor \"\(t.name)\" appears twice; names must be unique")
      }
      guard let count = elementCount(t.shape) else {
        throw KallimaError.invalidArgument(op: op, message: "tensor \"\(t.name)\" has invalid shape \(t.shape); dimensions must be >= 0")
      }
      guard count == t.values.count else {
        throw KallimaError.shapeMismatch(
          op: op, message: "tensor \"\(t.name)\" has shape \(t.shape) (\(count) values) but \(t.values.count) values")
      }
      let end = offset + 4 * count
      separator()
      header += "\(jsonString(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],"
      header += "\"data_offsets\":[\(offset),\(end)]}"
      offset = end
    }
    header += "}"
    var headerBytes = Array(header.utf8)
    while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }

    var out = [UInt8]()
    out.reserveCapacity(8 + headerBytes.count + offset)
    withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: headerBytes)
    let dataStart = out.count
    if hostIsLittleEndian {
      for t in tensors { t.values.withUnsafeBytes { out.append(contentsOf: $0) } }
    } else {
      out.append(contentsOf: repeatElement(0, count: offset))
      out.withUnsafeMutableBytes { raw in
        var at = dataStart
        for t in tensors {
          for v in t.values {
            raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: at, as: UInt32.self)
            at += 4
          }
        }
      }
    }
    return out
  }

  /// Safetensors data is little-endian; on such hosts Float arrays are copied as they are.
  static var hostIsLittleEndian: Bool { 1.littleEndian == 1 }

  /// JSON string literal for `s` (RFC 8259 escaping; non-ASCII passes through as UTF-8).
  static func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where u.value < 0x20:
        out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
      default: out.unicodeScalars.append(u)
      }
    }
    return out + "\""
  }

  /// Product of `shape`, or nil when a dimension is negative or the product overflows.
  static func elementCount(_ shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
      guard d >= 0 else { return nil }
      let (p, overflow) = n.multipliedReportingOverflow(by: d)
      if overflow { return nil }
      n = p
    }
    return n
  }

  // MARK: Decoding

  /// Element types the reader converts to Float, with their size in bytes.
  enum DType: String {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    var size: Int {
      switch self {
      case .f16, .bf16: return 2
      case .f32: return 4
      case .f64: return 8
      }
    }
  }

  /// Parses and validates a whole safetensors file held in memory. `path` names it in errors.
  public static func decode(_ bytes: [UInt8], path: String) throws -> (metadata: [String: String], tensors: [SafetensorsTensor]) {
    func fail(_ message: String) -> KallimaError { .io(path: path, message: message) }

    guard bytes.count >= 8 else {
      throw fail("not a safetensors file: it is \(bytes.count) bytes long, shorter than the 8-byte header length; "
        + "the file is empty or was cut short — use an earlier checkpoint")
    }
    let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard headerLength <= UInt64(bytes.count - 8) else {
      throw fail("header length \(headerLength) bytes goes beyond the end of the file (\(bytes.count) bytes); "
        + "the file was cut short or is not safetensors — use an earlier checkpoint")
    }
    guard headerLength <= UInt64(maximumHeaderBytes) else {
      throw fail("header length \(headerLength) bytes exceeds the \(maximumHeaderBytes)-byte limit; the file is not a valid safetensors file")
    }
    let headerEnd = 8 + Int(headerLength)
    let headerSlice = bytes[8..<headerEnd]
    guard headerSlice.first == UInt8(ascii: "{") else {
      throw fail("corrupt header: the JSON header does not start with '{'; the file is damaged or not safetensors")
    }
    let json: Any
    do {
      json = try JSONSerialization.jsonObject(with: Data(headerSlice), options: [])
    } catch {
      throw fail("corrupt header: the \(headerLength)-byte JSON header does not parse (\(error.localizedDescription)); "
        + "the file is damaged or not safetensors — use an earlier checkpoint")
    }
    guard let entries = json as? [String: Any] else {
      throw fail("corrupt header: the JSON header is not an object")
    }

    var metadata: [String: String] = [:]
    if let raw = entries["__metadata__"] {
      guard let dict = raw as? [String: Any] else {
        throw fail("corrupt header: \"__metadata__\" must be an object of strings")
      }
      for (k, v) in dict {
        guard let s = v as? String else {
          throw fail("corrupt header: metadata value for \"\(k)\" is not a string (safetensors metadata is string to string)")
        }
        metadata[k] = s
      }
    }

    struct Entry { let name: String; let dtype: DType; let shape: [Int]; let begin: Int; let end: Int }
    var list: [Entry] = []
    for (name, raw) in entries where name != "__metadata__" {
      guard let info = raw as? [String: Any] else {
        throw fail("corrupt header: entry for tensor \"\(name)\" is not an object")
      }
      guard let dtypeName = info["dtype"] as? String else {
        throw fail("corrupt header: tensor \"\(name)\" has no \"dtype\" string")
      }
      guard let dtype = DType(rawValue: dtypeName) else {
        throw fail("tensor \"\(name)\" has dtype \(dtypeName), which Kallima cannot read; supported dtypes are F32, F16, BF16 "
          + "and F64 — convert the checkpoint (e.g. tensor.float() in PyTorch) and save it again")
      }
      guard let shapeRaw = info["shape"] as? [Any], let shape = integers(shapeRaw), shape.allSatisfy({ $0 >= 0 }) else {
        throw fail("corrupt header: tensor \"\(name)\" needs \"shape\" as an array of non-negative integers")
      }
      guard let offsetsRaw = info["data_offsets"] as? [Any], let offsets = integers(offsetsRaw), offsets.count == 2,
        offsets[0] >= 0, offsets[0] <= offsets[1]
      else {
        throw fail("corrupt header: tensor \"\(name)\" needs \"data_offsets\" as [begin, end] with 0 <= begin <= end")
      }
      // Bytes the shape needs; nil when the count overflows.
      let needed = elementCount(shape).flatMap { n -> Int? in
        let (bytes, overflow) = n.multipliedReportingOverflow(by: dtype.size)
        return overflow ? nil : bytes
      }
      guard let needed, needed == offsets[1] - offsets[0] else {
        throw fail("inconsistent header: tensor \"\(name)\" has shape \(shape) of \(dtypeName) "
          + "(\(needed.map(String.init) ?? "too many") bytes) but data_offsets \(offsets) span "
          + "\(offsets[1] - offsets[0]) bytes; the file is damaged")
      }
      list.append(Entry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1]))
    }
    list.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }

    // The tensors must tile the buffer [0, total) in order, without gaps or overlaps.
    var expected = 0
    for e in list {
      guard e.begin == expected else {
        throw fail("inconsistent header: tensor \"\(e.name)\" starts at byte \(e.begin) of the data but the previous "
          + "tensor ends at \(expected); tensors must follow each other without gaps or overlaps")
      }
      expected = e.end
    }
    let available = bytes.count - headerEnd
    guard expected <= available else {
      throw fail("truncated checkpoint: header promises \(expected) bytes of tensor data, the file has \(available); "
        + "the file was cut short — use an earlier checkpoint")
    }
    guard expected == available else {
      throw fail("inconsistent file: header describes \(expected) bytes of tensor data but \(available) bytes follow "
        + "the header; the file has trailing garbage or is damaged")
    }

    let tensors = bytes.withUnsafeBytes { raw -> [SafetensorsTensor] in
      list.map { e in
        let base = headerEnd + e.begin
        let count = (e.end - e.begin) / e.dtype.size
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
          switch e.dtype {
          case .f32 where hostIsLittleEndian:
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[base..<(base + 4 * count)]))
          case .f32:
            for i in 0..<count { buffer[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + 4 * i, as: UInt32.self))) }
          case .f16:
            for i in 0..<count { buffer[i] = floatFromHalf(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 2 * i, as: UInt16.self))) }
          case .bf16:
            for i in 0..<count {
              buffer[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 2 * i, as: UInt16.self))) << 16)
            }
          case .f64:
            for i in 0..<count {
              buffer[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 8 * i, as: UInt64.self))))
            }
          }
          initialized = count
        }
        return SafetensorsTensor(name: e.name, shape: e.shape, values: values)
      }
    }
    return (metadata, tensors)
  }

  /// JSON numbers as exact integers, or nil if any is fractional, huge or not a number.
  static func integers(_ raw: [Any]) -> [Int]? {
    var out: [Int] = []
    for v in raw {
      guard let n = v as? NSNumber else { return nil }
      let d = n.doubleValue
      guard d == d.rounded(), abs(d) < 9.0e15 else { return nil }
      out.append(n.intValue)
    }
    return out
  }

  /// IEEE 754 binary16 bits to Float (exact: every half is a float), subnormals and
  /// infinities/NaN included. Written out so it does not depend on `Float16` availability.
  static func floatFromHalf(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int(h >> 10) & 0x1f
    let mantissa = UInt32(h & 0x3ff)
    switch exponent {
    case 0:
      // Zero or subnormal: mantissa · 2^-24.
      let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
      return sign != 0 ? -magnitude : magnitude
    case 0x1f:
      return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
    default:
      return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
    }
  }

  /// The whole file at `path`, read with POSIX calls; errors say what failed.
  static func readWholeFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      let e = errno
      throw KallimaError.io(path: path, message: "cannot open for reading: \(String(cString: strerror(e)))"
        + (e == ENOENT ? "; check the path (no checkpoint was written there)" : ""))
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      throw KallimaError.io(path: path, message: "cannot stat: \(String(cString: strerror(errno)))")
    }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
      throw KallimaError.io(path: path, message: "not a regular file; pass the path of a .safetensors file")
    }
    let size = Int(st.st_size)
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
      let n = bytes.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress! + done, size - done) }
      if n < 0 {
        if errno == EINTR { continue }
        throw KallimaError.io(path: path, message: "read failed after \(done) of \(size) bytes: \(String(cString: strerror(errno)))")
      }
      if n == 0 { break }  // The file shrank while we read it; decode reports what is missing.
      done += n
    }
    if done < size { bytes.removeLast(size - done) }
    return bytes
  }
}
