import CKallima
import KallimaCore

extension NPZ {
  /// The members of a zip archive held in memory: as much of the format (PKWARE's APPNOTE,
  /// with zip64 sizes and offsets) as numpy's .npz files use: stored or deflated members,
  /// found through the central directory.
  ///
  /// Every size and offset is checked against the bytes at hand before it is used, so a
  /// corrupt archive is an error, never a read past the end, an allocation for a size the
  /// file cannot hold, or a loop waiting for data that is not there (ZIPFoundation's reader,
  /// used before, looped forever on a deflate stream that did not end before the file did).
  struct ZipReader {
    struct Member {
      let name: String
      let method: UInt16
      let crc: UInt32
      let compressedSize: Int
      let size: Int
      let localHeaderOffset: Int
    }

    let bytes: [UInt8]
    let members: [Member]
    let fail: (String) -> KallimaError

    /// Deflate never compresses better than 1032:1.
    static let maximumDeflateRatio = 1032

    init(_ bytes: [UInt8], fail: @escaping (String) -> KallimaError) throws {
      self.bytes = bytes
      self.fail = fail
      func notZip(_ why: String) -> KallimaError {
        fail("not a readable zip archive (\(why)): an .npz file is a zip; it may be truncated or not an .npz")
      }
      // The end-of-central-directory record: 22 bytes and a comment of up to 65535.
      let endSignature: UInt32 = 0x0605_4B50
      guard bytes.count >= 22 else { throw notZip("\(bytes.count) bytes, shorter than a zip's end record") }
      var end = bytes.count - 22
      let lowest = max(0, bytes.count - 22 - 65535)
      while end >= lowest, ZipReader.u32(bytes, end) != endSignature { end -= 1 }
      guard end >= lowest else { throw notZip("no end-of-central-directory record") }
      var count = Int(ZipReader.u16(bytes, end + 10))
      var directorySize = Int(ZipReader.u32(bytes, end + 12))
      var directoryOffset = Int(ZipReader.u32(bytes, end + 16))
      if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
        // zip64: a locator just before the end record points at the zip64 end record.
        let locator = end - 20
        guard locator >= 0, ZipReader.u32(bytes, locator) == 0x0706_4B50 else { throw notZip("no zip64 locator") }
        guard let record = ZipReader.offset(ZipReader.u64(bytes, locator + 8), bytes.count, length: 56),
          ZipReader.u32(bytes, record) == 0x0606_4B50
        else { throw notZip("no zip64 end record") }
        guard let c = ZipReader.offset(ZipReader.u64(bytes, record + 32), Int.max, length: 0),
          let s = ZipReader.offset(ZipReader.u64(bytes, record + 40), bytes.count, length: 0),
          let o = ZipReader.offset(ZipReader.u64(bytes, record + 48), bytes.count, length: 0)
        else { throw notZip("zip64 end record out of range") }
        (count, directorySize, directoryOffset) = (c, s, o)
      }
      guard directoryOffset <= bytes.count, directorySize <= bytes.count - directoryOffset else {
        throw notZip("the central directory (\(directorySize) bytes at \(directoryOffset)) lies outside the file")
      }
      var members: [Member] = []
      var at = directoryOffset
      let directoryEnd = directoryOffset + directorySize
      while members.count < count {
        guard at + 46 <= directoryEnd, ZipReader.u32(bytes, at) == 0x0201_4B50 else {
          throw notZip("central directory entry \(members.count + 1) of \(count) is missing or damaged")
        }
        let nameLength = Int(ZipReader.u16(bytes, at + 28))
        let extraLength = Int(ZipReader.u16(bytes, at + 30))
        let commentLength = Int(ZipReader.u16(bytes, at + 32))
        let next = at + 46 + nameLength + extraLength + commentLength
        guard next <= directoryEnd else { throw notZip("central directory entry \(members.count + 1) runs past its end") }
        var compressed = UInt64(ZipReader.u32(bytes, at + 20))
        var size = UInt64(ZipReader.u32(bytes, at + 24))
        var local = UInt64(ZipReader.u32(bytes, at + 42))
        // zip64 extended information (id 1): the 8-byte values of the fields saturated above, in order.
        var extra = at + 46 + nameLength
        let extraEnd = extra + extraLength
        while extra + 4 <= extraEnd {
          let id = ZipReader.u16(bytes, extra)
          let length = Int(ZipReader.u16(bytes, extra + 2))
          guard extra + 4 + length <= extraEnd else { break }
          if id == 1 {
            var field = extra + 4
            if size == 0xFFFF_FFFF, field + 8 <= extra + 4 + length { size = ZipReader.u64(bytes, field); field += 8 }
            if compressed == 0xFFFF_FFFF, field + 8 <= extra + 4 + length { compressed = ZipReader.u64(bytes, field); field += 8 }
            if local == 0xFFFF_FFFF, field + 8 <= extra + 4 + length { local = ZipReader.u64(bytes, field) }
          }
          extra += 4 + length
        }
        let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
        guard let compressedSize = ZipReader.offset(compressed, bytes.count, length: 0),
          let localHeaderOffset = ZipReader.offset(local, bytes.count, length: 30),
          let declared = ZipReader.offset(size, Int.max, length: 0)
        else {
          throw notZip("member \(name) declares sizes or an offset beyond the file's \(bytes.count) bytes")
        }
        members.append(
          Member(
            name: name, method: ZipReader.u16(bytes, at + 10), crc: ZipReader.u32(bytes, at + 16),
            compressedSize: compressedSize, size: declared, localHeaderOffset: localHeaderOffset))
        at = next
      }
      self.members = members
    }

    /// The uncompressed bytes of `member`, checked against its declared size and CRC-32.
    func contents(of member: Member) throws -> [UInt8] {
      let header = member.localHeaderOffset
      guard ZipReader.u32(bytes, header) == 0x0403_4B50 else {
        throw fail("member \(member.name) has no local header where the central directory says; the file is corrupt")
      }
      let start = header + 30 + Int(ZipReader.u16(bytes, header + 26)) + Int(ZipReader.u16(bytes, header + 28))
      guard start <= bytes.count, member.compressedSize <= bytes.count - start else {
        throw fail("member \(member.name) (\(member.compressedSize) bytes) runs past the end of the file; it is truncated")
      }
      let data = bytes[start..<(start + member.compressedSize)]
      var out: [UInt8]
      switch member.method {
      case 0:
        guard member.size == member.compressedSize else {
          throw fail("stored member \(member.name) declares \(member.size) bytes but holds \(member.compressedSize); the file is corrupt")
        }
        out = Array(data)
      case 8:
        // The declared size bounds the buffer, and deflate's best ratio bounds the declared size.
        let (most, overflow) = member.compressedSize.multipliedReportingOverflow(by: ZipReader.maximumDeflateRatio)
        guard overflow || member.size <= most + ZipReader.maximumDeflateRatio else {
          throw fail("member \(member.name) declares \(member.size) bytes, more than its \(member.compressedSize) "
            + "compressed bytes can hold; the file is corrupt")
        }
        out = [UInt8](repeating: 0, count: member.size)
        var produced = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBufferPointer { input in
          out.withUnsafeMutableBufferPointer { output in
            kallima_inflate_raw(
              input.baseAddress, input.count, output.baseAddress, output.count, &produced, &message, message.count)
          }
        }
        guard status == 0, produced == member.size else {
          let why = status == 0 ? "it inflates to \(produced) bytes, not the \(member.size) declared" : String(cString: message)
          throw fail("member \(member.name) cannot be extracted (\(why)); the file is corrupt or truncated")
        }
      default:
        throw fail("member \(member.name) uses zip compression method \(member.method); numpy writes stored (0) or deflated (8)")
      }
      let crc = out.withUnsafeBufferPointer { kallima_crc32($0.baseAddress, $0.count) }
      guard crc == member.crc else {
        throw fail("member \(member.name) fails its CRC-32 check; the file is corrupt, write it again")
      }
      return out
    }

    /// `value` as an Int when `value + length <= limit`.
    static func offset(_ value: UInt64, _ limit: Int, length: Int) -> Int? {
      guard value <= UInt64(Int.max - length), Int(value) + length <= limit else { return nil }
      return Int(value)
    }

    static func u16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { UInt32(u16(b, at)) | UInt32(u16(b, at + 2)) << 16 }
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { UInt64(u32(b, at)) | UInt64(u32(b, at + 4)) << 32 }
  }
}
