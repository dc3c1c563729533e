import Foundation
import KallimaCore

/// 8-bit storage of the CPU backend (datasets kept as bytes).
public final class CPUByteBuffer: ByteBuffer {
  public var bytes: [UInt8]
  public var count: Int { bytes.count }
  public var backendName: String { "cpu" }
  init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }
}

/// Plain host memory: the CPU backend's transfers copy at once, so nothing waits on it.
final class CPUStagingBuffer: StagingBuffer {
  let bytes: UnsafeMutableRawBufferPointer
  init(bytes count: Int) {
    bytes = .allocate(byteCount: max(count, 1), alignment: 64)
  }
  deinit { bytes.deallocate() }
  func waitForTransfer() throws -> Bool { false }
}

extension CPUBackend {
  func byteBuffer(_ t: Tensor, _ op: String) throws -> CPUByteBuffer {
    try t.storage(CPUByteBuffer.self, op: op, backend: name)
  }

  public func makeByteBuffer(count: Int) throws -> DeviceBuffer { CPUByteBuffer(count: count) }

  public func write(bytes: UnsafeRawBufferPointer, to tensor: Tensor, offset: Int) throws {
    let b = try byteBuffer(tensor, "write(bytes:)")
    try ShapeCheck.expect(
      "write(bytes:)", offset >= 0 && offset + bytes.count <= b.count,
      "\(bytes.count) bytes at offset \(offset) do not fit a byte tensor of \(b.count)")
    b.bytes.withUnsafeMutableBytes { dst in
      dst.baseAddress!.advanced(by: offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }
    traffic.bytesToDevice += bytes.count
  }

  public func makeStagingBuffer(bytes: Int) throws -> StagingBuffer { CPUStagingBuffer(bytes: bytes) }

  public func upload(_ staging: StagingBuffer, to tensor: Tensor) throws {
    guard tensor.buffer is ByteBuffer else {
      try ShapeCheck.expect(
        "upload", staging.bytes.count >= 4 * tensor.count,
        "staging buffer of \(staging.bytes.count) bytes for \(tensor.count) floats")
      let floats = staging.bytes.bindMemory(to: Float.self)
      try write(Array(floats[0..<tensor.count]), to: tensor)
      return
    }
    try ShapeCheck.expect(
      "upload", staging.bytes.count >= tensor.count,
      "staging buffer of \(staging.bytes.count) bytes for a tensor of \(tensor.count)")
    try write(bytes: UnsafeRawBufferPointer(rebasing: staging.bytes[0..<tensor.count]), to: tensor, offset: 0)
  }

  public func download(_ tensor: Tensor, into staging: StagingBuffer) throws {
    try ShapeCheck.expect(
      "download", staging.bytes.count >= 4 * tensor.count,
      "staging buffer of \(staging.bytes.count) bytes for \(tensor.count) floats")
    let values = try readDouble(tensor)
    let floats = staging.bytes.bindMemory(to: Float.self)
    for (i, v) in values.enumerated() { floats[i] = Float(v) }
  }

  /// Half the machine's memory (the CPU backend's device memory is the host's).
  public var defaultDataMemory: Int { Int(ProcessInfo.processInfo.physicalMemory / 2) }

  public func gather_images_u8(
    source: Tensor, y: Tensor, order: DataOrder, position: UInt64, flip: Bool, streamed: Bool
  ) throws {
    let op = "gather_images_u8"
    let src = try byteBuffer(source, op).bytes
    try gather(op, source: source, y: y, order: order, position: position, flip: flip, streamed: streamed) {
      Double(DataOrder.unit(src[$0]))
    }
  }

  /// The gather loop of both sources: sample i of y is the image `order.index(position + i)`
  /// of the source (image i when `streamed`), mirrored when flipping picks it; `value` reads
  /// source element j.
  func gather(
    _ op: String, source: Tensor, y: Tensor, order: DataOrder, position: UInt64, flip: Bool, streamed: Bool,
    value: (Int) -> Double
  ) throws {
    let geometry = try ShapeCheck.gatherImages(op, source: source, y: y, order: order, streamed: streamed)
    let (image, rows, w) = (geometry.image, geometry.channels * geometry.height, geometry.width)
    let out = try buf(y, op)
    for i in 0..<geometry.n {
      let g = position &+ UInt64(i)
      let k = streamed ? i : order.index(g)
      let mirror = flip && order.flips(g)
      for row in 0..<rows {
        for col in 0..<w {
          out.values[i * image + row * w + col] = value(k * image + row * w + (mirror ? w - 1 - col : col))
        }
      }
    }
  }

  /// Row i of y = the first row (i + s) mod N, s = 1 ..< N, that differs from row i of x in
  /// some element (compared as stored, in Double: values written as Float compare as their
  /// float32 bits would), else zeros.
  public func mismatch_rows(x: Tensor, y: Tensor) throws {
    let op = "mismatch_rows"
    let (n, d) = try ShapeCheck.mismatchRows(op, x: x, y: y)
    let xs = try buf(x, op).values
    let out = try buf(y, op)
    for i in 0..<n {
      let partner = (1..<n).lazy.map { (i + $0) % n }.first { j in
        (0..<d).contains { xs[j * d + $0] != xs[i * d + $0] }
      }
      for k in 0..<d { out.values[i * d + k] = partner.map { xs[$0 * d + k] } ?? 0 }
    }
  }

  /// Copies each sample's window at `Philox.cropOrigin` of its stream item.
  public func random_crop(x: Tensor, y: Tensor, seed: UInt64, position: UInt64) throws {
    let op = "random_crop"
    let (n, c, h, w, ih, iw) = try ShapeCheck.randomCrop(op, x: x, y: y)
    let xs = try buf(x, op).values
    let out = try buf(y, op)
    for i in 0..<n {
      let (oy, ox) = Philox.cropOrigin(seed: seed, item: position &+ UInt64(i), rows: ih - h + 1, columns: iw - w + 1)
      for ch in 0..<c {
        for r in 0..<h {
          for col in 0..<w {
            out.values[((i * c + ch) * h + r) * w + col] = xs[((i * c + ch) * ih + r + oy) * iw + col + ox]
          }
        }
      }
    }
  }

  /// Each new image in batch order: stored while the pool fills, then swapped with the slot
  /// `Philox.poolSwap` picks, or shown as it is.
  public func image_pool(pool: Tensor, x: Tensor, y: Tensor, seed: UInt64, position: UInt64) throws {
    let op = "image_pool"
    let (slots, n, image) = try ShapeCheck.imagePool(op, pool: pool, x: x, y: y)
    let stored = try buf(pool, op)
    let xs = try buf(x, op).values
    let out = try buf(y, op)
    for i in 0..<n {
      let t = position &+ UInt64(i)
      let new = xs[(i * image)..<((i + 1) * image)]
      let shown: ArraySlice<Double>
      if t < UInt64(slots) {
        stored.values.replaceSubrange((Int(t) * image)..<((Int(t) + 1) * image), with: new)
        shown = new
      } else if let slot = Philox.poolSwap(seed: seed, item: t, slots: slots) {
        shown = stored.values[(slot * image)..<((slot + 1) * image)]
        stored.values.replaceSubrange((slot * image)..<((slot + 1) * image), with: new)
      } else {
        shown = new
      }
      out.values.replaceSubrange((i * image)..<((i + 1) * image), with: shown)
    }
  }
}
