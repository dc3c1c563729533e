import Foundation
import KallimaCore
import KallimaData
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory under the system temporary directory.
func safetensorsScratchDirectory() throws -> String {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("kallima-safetensors-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}

/// A safetensors file assembled by hand: length, `header` padded with spaces to 8, `data`.
func handMadeSafetensors(header: String, data: [UInt8]) -> [UInt8] {
  var h = Array(header.utf8)
  while h.count % 8 != 0 { h.append(0x20) }
  var out: [UInt8] = []
  withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
  return out + h + data
}

/// The message of the `KallimaError` that `body` throws; records an issue when it does not throw one.
func safetensorsErrorMessage(
  _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) -> String {
  do {
    try body()
    Issue.record("expected an error, none was thrown", sourceLocation: sourceLocation)
  } catch let error as KallimaError {
    return error.description
  } catch {
    Issue.record("expected a KallimaError, got \(error)", sourceLocation: sourceLocation)
  }
  return ""
}

/// Bit patterns, so NaN and −0 compare exactly.
func bits(_ tensors: [SafetensorsTensor]) -> [[UInt32]] { tensors.map { $0.values.map(\.bitPattern) } }

@Suite("Safetensors reading and writing")
struct SafetensorsTests {
  @Test("round trip: metadata, several shapes including a scalar and an empty tensor, exact bits")
  func roundTrip() throws {
    let dir = try safetensorsScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/checkpoint.safetensors"
    let tensors = [
      SafetensorsTensor(name: "generator.main.0.weight", shape: [2, 3, 4, 4], values: (0..<96).map { Float($0) * 0.01 - 0.3 }),
      SafetensorsTensor(name: "generator.main.1.running_mean", shape: [3], values: [-0.0, .infinity, .nan]),
      SafetensorsTensor(name: "step", shape: [], values: [42]),
      SafetensorsTensor(name: "empty", shape: [0, 5], values: []),
      SafetensorsTensor(name: "discriminator.main.0.weight", shape: [1, 1, 1, 1], values: [Float.leastNonzeroMagnitude]),
      SafetensorsTensor(name: "names \"with\" quotes\\ and π", shape: [2], values: [1, -1]),
    ]
    let metadata = [
      "config": #"{"nz": 100, "ngf": 64, "ndf": 64, "channels": 3, "imageSize": 64}"#,
      "format": "pt",
      "note": "line\nbreak\ttab \"quoted\" \u{01} π",
    ]
    try SafetensorsFile.write(tensors, metadata: metadata, to: path)
    let (readMetadata, readTensors) = try SafetensorsFile.read(path)
    #expect(readMetadata == metadata)
    #expect(readTensors.map(\.name) == tensors.map(\.name))
    #expect(readTensors.map(\.shape) == tensors.map(\.shape))
    #expect(bits(readTensors) == bits(tensors))

    // Rewriting replaces the file; no metadata writes no "__metadata__" entry.
    try SafetensorsFile.write([tensors[2]], to: path)
    let again = try SafetensorsFile.read(path)
    #expect(again.metadata.isEmpty)
    #expect(again.tensors == [tensors[2]])
    // No temporary file is left after a successful write.
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["checkpoint.safetensors"])
  }

  @Test("header layout matches the spec byte for byte: u64 LE length, JSON padded with spaces to 8, F32 LE data")
  func headerLayout() throws {
    let tensors = [
      SafetensorsTensor(name: "a", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
      SafetensorsTensor(name: "bb", shape: [], values: [-2.5]),
    ]
    let bytes = try SafetensorsFile.encode(tensors, metadata: ["k": "v"])
    let json = #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"#
      + #""bb":{"dtype":"F32","shape":[],"data_offsets":[24,28]}}"#
    let padded = json + String(repeating: " ", count: (8 - (8 + json.utf8.count) % 8) % 8)
    let n = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    #expect(Int(n) == padded.utf8.count)
    #expect((8 + Int(n)) % 8 == 0)
    #expect(padded.utf8.count > json.utf8.count, "this layout needs padding, so the test covers it")
    #expect(Array(bytes[8..<(8 + Int(n))]) == Array(padded.utf8))
    let data = Array(bytes[(8 + Int(n))...])
    #expect(data.count == 28)
    // 1.0f = 0x3F800000, little-endian; -2.5f = 0xC0200000.
    #expect(Array(data[0..<4]) == [0x00, 0x00, 0x80, 0x3F])
    #expect(Array(data[24..<28]) == [0x00, 0x00, 0x20, 0xC0])
    // The header is valid JSON with the spec's fields.
    let parsed = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + Int(n))])) as? [String: Any]
    #expect((parsed?["a"] as? [String: Any])?["dtype"] as? String == "F32")
  }

  @Test("a truncated file names the missing bytes and says to use an earlier checkpoint")
  func truncated() throws {
    let dir = try safetensorsScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/cut.safetensors"
    let bytes = try SafetensorsFile.encode([SafetensorsTensor(name: "w", shape: [4, 4], values: Array(repeating: 1, count: 16))])
    try Data(bytes.dropLast(10)).write(to: URL(fileURLWithPath: path))
    let message = safetensorsErrorMessage { _ = try SafetensorsFile.read(path) }
    #expect(message.contains(
      "truncated checkpoint: header promises 64 bytes of tensor data, the file has 54; the file was cut short — use an earlier checkpoint"),
      "\(message)")
    #expect(message.hasPrefix(path))

    // Cut inside the header, and shorter than the length field itself.
    try Data(bytes.prefix(20)).write(to: URL(fileURLWithPath: path))
    #expect(safetensorsErrorMessage { _ = try SafetensorsFile.read(path) }.contains("goes beyond the end of the file"))
    try Data(bytes.prefix(5)).write(to: URL(fileURLWithPath: path))
    #expect(safetensorsErrorMessage { _ = try SafetensorsFile.read(path) }.contains("shorter than the 8-byte header length"))
    try Data().write(to: URL(fileURLWithPath: path))
    #expect(safetensorsErrorMessage { _ = try SafetensorsFile.read(path) }.contains("0 bytes long"))
    #expect(safetensorsErrorMessage { _ = try SafetensorsFile.read(dir + "/missing.safetensors") }.contains("cannot open"))
  }

  @Test("corrupt or inconsistent headers are rejected with a reason")
  func corruptHeader() throws {
    func message(_ header: String, data: [UInt8] = Array(repeating: 0, count: 8)) -> String {
      safetensorsErrorMessage { _ = try SafetensorsFile.decode(handMadeSafetensors(header: header, data: data), path: "x.safetensors") }
    }
    let good = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
    #expect((try? SafetensorsFile.decode(handMadeSafetensors(header: good, data: Array(repeating: 0, count: 8)), path: "x")) != nil)

    // A flipped byte inside the JSON.
    var bytes = handMadeSafetensors(header: good, data: Array(repeating: 0, count: 8))
    bytes[8 + 5] = UInt8(ascii: "}")
    let broken = safetensorsErrorMessage { _ = try SafetensorsFile.decode(bytes, path: "x.safetensors") }
    #expect(broken.contains("corrupt header"), "\(broken)")
    #expect(message("not json at all").contains("corrupt header"))
    #expect(message(#"["w"]"#).contains("corrupt header"))
    #expect(message(#"{"w":{"dtype":"F32","shape":[2]}}"#).contains("data_offsets"))
    #expect(message(#"{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#).contains("shape"))
    #expect(message(#"{"__metadata__":{"a":1},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#).contains("not a string"))

    let dtype = message(#"{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#)
    #expect(dtype.contains("dtype I64"), "\(dtype)")
    #expect(message(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#).contains("inconsistent header"))
    #expect(message(#"{"w":{"dtype":"F32","shape":[8000000000000000,8000000000000000],"data_offsets":[0,8]}}"#)
      .contains("too many"))
    // A gap between tensors, an overlap, and bytes after the last one.
    #expect(message(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}"#)
      .contains("without gaps"))
    #expect(message(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#)
      .contains("without gaps"))
    #expect(message(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#).contains("trailing"))
    // A header length of 2^63.
    var huge = handMadeSafetensors(header: good, data: [])
    huge[7] = 0x80
    #expect(safetensorsErrorMessage { _ = try SafetensorsFile.decode(huge, path: "x") }.contains("beyond the end of the file"))
  }

  @Test("F16, BF16 and F64 tensors decode to the right floats; tensors come back in buffer order")
  func otherDTypes() throws {
    // F16: 1, -2, 0.5, 65504 (largest), 2^-24 (smallest subnormal), -0, +inf, 0.333 (0x3555).
    let half: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x7C00, 0x3555]
    let halfExpected: [Float] = [1, -2, 0.5, 65504, 5.9604645e-8, -0.0, .infinity, 0.33325195]
    // BF16: the top half of a float's bits.
    let brain: [UInt16] = [0x3F80, 0xC0A0]  // 1, -5
    let double: [Double] = [0.1, -1e300]
    var data: [UInt8] = []
    for d in double { withUnsafeBytes(of: d.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
    for h in half + brain { withUnsafeBytes(of: h.littleEndian) { data.append(contentsOf: $0) } }
    // Keys in the JSON are deliberately not in buffer order.
    let header = #"{"h":{"dtype":"F16","shape":[2,4],"data_offsets":[16,32]},"#
      + #""b":{"dtype":"BF16","shape":[2],"data_offsets":[32,36]},"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#
    let (_, tensors) = try SafetensorsFile.decode(handMadeSafetensors(header: header, data: data), path: "x")
    #expect(tensors.map(\.name) == ["d", "h", "b"])
    #expect(tensors[0].values == [Float(0.1), -.infinity])
    #expect(tensors[1].shape == [2, 4])
    #expect(tensors[1].values.map(\.bitPattern) == halfExpected.map(\.bitPattern))
    #expect(tensors[2].values == [1, -5])
    // A NaN half stays NaN.
    let nan = handMadeSafetensors(header: #"{"n":{"dtype":"F16","shape":[],"data_offsets":[0,2]}}"#, data: [0x01, 0x7E])
    #expect(try SafetensorsFile.decode(nan, path: "x").tensors[0].values[0].isNaN)
  }

  @Test("writing rejects bad tensors and reports unwritable places")
  func writeErrors() throws {
    let dir = try safetensorsScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let t = SafetensorsTensor(name: "w", shape: [2], values: [1, 2])
    #expect(safetensorsErrorMessage {
      try SafetensorsFile.write([SafetensorsTensor(name: "w", shape: [3], values: [1, 2])], to: dir + "/a")
    }.contains("shape mismatch"))
    #expect(safetensorsErrorMessage { try SafetensorsFile.write([t, t], to: dir + "/a") }.contains("appears twice"))
    #expect(safetensorsErrorMessage {
      try SafetensorsFile.write([SafetensorsTensor(name: "__metadata__", shape: [], values: [1])], to: dir + "/a")
    }.contains("reserved"))
    let missing = safetensorsErrorMessage { try SafetensorsFile.write([t], to: dir + "/no/such/dir/a.safetensors") }
    #expect(missing.contains("No such file or directory") && missing.contains("create it first"), "\(missing)")
    // The destination is a directory: rename fails, the temporary file is removed.
    try FileManager.default.createDirectory(atPath: dir + "/taken", withIntermediateDirectories: false)
    #expect(safetensorsErrorMessage { try SafetensorsFile.write([t], to: dir + "/taken") }.contains("renaming"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["taken"])
    #expect(safetensorsErrorMessage { try SafetensorsFile.write([t], to: dir + "/") }.contains("not a file path"))
  }

  /// The crash test. A child made with fork() rewrites a 64 MiB checkpoint B in a loop
  /// through the atomic writer, over a small checkpoint A. The parent SIGKILLs it, then
  /// reads the checkpoint: it must be A exactly or the complete B, whatever the kill
  /// interrupted. Most trials kill once the child's temporary file has appeared plus a
  /// delay (0 to 100 ms: mid-write or mid-fsync); the last kills right after the child's
  /// first rename (the checkpoint's inode changed), so that the B side is checked too.
  ///
  /// The child runs only `AtomicFileWriter.write(bytes:)`, which makes system calls on
  /// buffers prepared before fork() and neither allocates nor takes locks, then `_exit`s,
  /// so the test process's other threads (absent in the child) cannot deadlock it.
  @Test("SIGKILL in the middle of writing a checkpoint leaves the previous one intact and loadable")
  func killedWriterLeavesPreviousCheckpoint() throws {
    let dir = try safetensorsScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/checkpoint.safetensors"
    let a = [
      SafetensorsTensor(name: "generator.main.0.weight", shape: [2, 2], values: [1, 2, 3, 4]),
      SafetensorsTensor(name: "step", shape: [], values: [1]),
    ]
    let quarter = 4 << 20  // 4 Mi floats = 16 MiB per tensor, 64 MiB in all.
    let b = (0..<4).map { k in
      SafetensorsTensor(
        name: "generator.main.\(3 * k).weight", shape: [quarter], values: (0..<quarter).map { Float(($0 &* 7 &+ k) % 1001) - 500 })
    }
    let bBytes = try SafetensorsFile.encode(b, metadata: ["checkpoint": "B"])
    let writer = try AtomicFileWriter(path: path)

    enum KillPoint { case temporaryFileAppeared(delayMicroseconds: UInt32), firstRenameDone }
    struct Trial { let point: KillPoint; let killed: Bool; let leftover: Int?; let found: String }
    var trials: [Trial] = []
    let points: [KillPoint] = [0, 0, 1_000, 3_000, 10_000, 30_000, 100_000].map { .temporaryFileAppeared(delayMicroseconds: $0) }
      + [.firstRenameDone]
    for point in points {
      try SafetensorsFile.write(a, metadata: ["checkpoint": "A"], to: path)
      var st = stat()
      try #require(stat(path, &st) == 0)
      let inodeA = st.st_ino
      let pid = bBytes.withUnsafeBytes { raw -> pid_t in
        // Not fork(): its atfork handlers include PoCL's, which joins the driver's threads and
        // hung this test once when another test was inside the driver at that moment.
        let pid = AtomicFileWriter.forkWithoutHandlers()
        if pid == 0 {
          // Child: system calls only, then _exit (no atexit handlers, no stdio flush).
          for _ in 0..<8 { if writer.write(bytes: raw) != nil { _exit(1) } }
          _exit(0)
        }
        return pid
      }
      try #require(pid > 0, "fork failed: \(String(cString: strerror(errno)))")
      let temporary = writer.temporaryPath(pid: pid)
      var status: Int32 = 0
      var reaped = false
      let deadline = Date().addingTimeInterval(60)
      func reached() -> Bool {
        switch point {
        case .temporaryFileAppeared: return stat(temporary, &st) == 0
        case .firstRenameDone: return stat(path, &st) == 0 && st.st_ino != inodeA
        }
      }
      while !reached() && Date() < deadline {
        if waitpid(pid, &status, WNOHANG) == pid { reaped = true; break }
        usleep(50)
      }
      if !reaped {
        if case .temporaryFileAppeared(let delay) = point { usleep(delay) }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
      }
      let killed = (status & 0x7f) == SIGKILL
      if !killed { #expect((status & 0x7f) == 0 && (status >> 8) & 0xff == 0, "child ended with status \(status)") }
      let leftover: Int? = stat(temporary, &st) == 0 ? Int(st.st_size) : nil

      // The checkpoint parses and is exactly A or exactly B, even with a temporary file beside it.
      let (metadata, tensors) = try SafetensorsFile.read(path)
      switch metadata["checkpoint"] {
      case "A": #expect(tensors == a)
      case "B": #expect(tensors == b)
      default: Issue.record("unexpected metadata \(metadata)")
      }
      if case .firstRenameDone = point { #expect(metadata["checkpoint"] == "B") }
      trials.append(Trial(point: point, killed: killed, leftover: leftover, found: metadata["checkpoint"] ?? "?"))
    }
    for t in trials {
      let when: String
      switch t.point {
      case .temporaryFileAppeared(let delay): when = "\(delay) µs after the temporary file appeared"
      case .firstRenameDone: when = "right after the first rename"
      }
      print("kill test: SIGKILL \(when): killed \(t.killed), temporary file left: "
        + (t.leftover.map { "\($0) of \(bBytes.count) bytes" } ?? "none") + ", checkpoint read back: \(t.found)")
    }
    // At least one kill landed while the temporary file was only partly written, so the
    // property above was exercised where it matters.
    #expect(trials.contains { $0.killed && ($0.leftover ?? bBytes.count) < bBytes.count }, "no kill landed mid-write")

    // Leftovers of dead writers are cleaned up; writing and reading carry on as normal.
    let before = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "checkpoint.safetensors" }
    let removed = AtomicFileWriter.removeLeftoverTemporaries(for: path)
    #expect(removed.count == before.count)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["checkpoint.safetensors"])
    try SafetensorsFile.write(a, metadata: ["checkpoint": "A"], to: path)
    #expect(try SafetensorsFile.read(path).tensors == a)
  }
}
