import Dispatch
import Foundation
import KallimaCore

/// A dataset too large for device memory, fed batch by batch: a filler thread copies each
/// batch's images, in the order of `DataOrder` (the same per-epoch shuffle as the resident
/// path), from the host copy (in memory, or the mapped cache file) into a ring of staging
/// buffers (pinned on OpenCL), `depth` batches ahead of the device; each training step only
/// enqueues the upload of a ready slot and the gather that converts it, so the device gets
/// the same bits as from a resident dataset and the step does not wait on the device.
///
/// The training thread waits only when the filler is behind (`stalls` counts it); the filler
/// waits for an upload to finish reading a slot before refilling it (the backend counts
/// those as staging waits, off the training thread).
public final class ImageStream: BatchStream {
  public let dataset: ImageDataset
  public let order: DataOrder
  public let batch: Int
  /// Stream positions from one window's first image to the next's: `batch`, or in a
  /// data-parallel job of R ranks `R · batch` (each rank streams only its own slices).
  public let stride: Int
  public let depth: Int
  private let ring: Ring

  /// Times `enqueueBatch` had to wait for the filler (the first batch always does).
  public var stalls: Int { ring.locked { ring.stalls } }

  /// `depth` slots: more than the batches the host runs ahead of the device (the OpenCL
  /// backend lets a few steps' commands queue up), so a refill rarely waits for an upload.
  public init(
    dataset: ImageDataset, order: DataOrder, batch: Int, stride: Int? = nil, backend: Backend, depth: Int = 8
  ) throws {
    let stride = stride ?? batch
    guard order.count == dataset.count, batch >= 1, stride >= batch, depth >= 2 else {
      throw KallimaError.invalidArgument(
        op: "ImageStream",
        message: "needs an order over the \(dataset.count) images (got \(order.count)), batch >= 1 (\(batch)), "
          + "a stride of at least the batch (\(stride)), depth >= 2 (\(depth))")
    }
    self.dataset = dataset
    self.order = order
    self.batch = batch
    self.stride = stride
    self.depth = depth
    let slots = try (0..<depth).map { _ in try backend.makeStagingBuffer(bytes: batch * dataset.imageBytes) }
    ring = Ring(dataset: dataset, order: order, batch: batch, stride: stride, slots: slots, backend: backend)
    let ring = ring
    let thread = Thread { ring.fill() }
    thread.name = "kallima data stream"
    thread.start()
  }

  deinit { ring.stop() }

  public func enqueueBatch(position: UInt64, into window: Tensor) throws {
    guard window.count == batch * dataset.imageBytes, window.buffer is ByteBuffer else {
      throw KallimaError.shapeMismatch(
        op: "ImageStream", message: "the window must be a byte tensor of \(batch) images, got \(window.shape)")
    }
    let slot = try ring.ready(position)
    try ring.backend.upload(ring.slots[slot], to: window)
    ring.release(slot)
  }

  /// The state shared with the filler thread, under one lock.
  final class Ring {
    let dataset: ImageDataset
    let order: DataOrder
    let batch: Int
    let stride: Int
    let slots: [StagingBuffer]
    let backend: Backend
    private let condition = NSCondition()
    /// The stream position each slot is assigned to, and whether it holds it yet.
    private var assigned: [UInt64?]
    private var filled: [Bool]
    /// Slots to fill, in stream order, and the one being filled.
    private var queue: [Int] = []
    private var filling: Int?
    private var failure: Error?
    private var stopping = false
    fileprivate var stalls = 0

    init(dataset: ImageDataset, order: DataOrder, batch: Int, stride: Int, slots: [StagingBuffer], backend: Backend) {
      (self.dataset, self.order, self.batch, self.stride, self.slots, self.backend) = (dataset, order, batch, stride, slots, backend)
      assigned = Array(repeating: nil, count: slots.count)
      filled = Array(repeating: false, count: slots.count)
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
      condition.lock()
      defer { condition.unlock() }
      return try body()
    }

    func slot(_ position: UInt64) -> Int { Int((position / UInt64(stride)) % UInt64(slots.count)) }

    /// Waits until the slot of `position` holds it; the first request, or one out of
    /// sequence (a resume), re-aims the whole ring from `position`.
    func ready(_ position: UInt64) throws -> Int {
      condition.lock()
      defer { condition.unlock() }
      let s = slot(position)
      if assigned[s] != position {
        queue.removeAll()
        for j in 0..<slots.count {
          let p = position &+ UInt64(j * stride)
          let t = slot(p)
          // A slot that already holds (or is being filled with) its new position keeps it.
          if assigned[t] == p && (filled[t] || filling == t) { continue }
          assigned[t] = p
          filled[t] = false
          queue.append(t)
        }
        condition.broadcast()
      }
      var waited = false
      while !filled[s] {
        if let failure { throw failure }
        waited = true
        condition.wait()
      }
      if waited { stalls += 1 }
      return s
    }

    /// Hands a slot whose upload is enqueued back to the filler, for `depth` batches later.
    func release(_ s: Int) {
      condition.lock()
      defer { condition.unlock() }
      guard let p = assigned[s] else { return }
      assigned[s] = p &+ UInt64(slots.count * stride)
      filled[s] = false
      queue.append(s)
      condition.broadcast()
    }

    func stop() {
      locked { stopping = true }
      condition.broadcast()
    }

    /// The filler thread: takes slots in stream order, waits for the slot's last upload to
    /// finish reading it, and copies the images in (in parallel across the batch).
    func fill() {
      let image = dataset.imageBytes
      while true {
        condition.lock()
        while queue.isEmpty && !stopping { condition.wait() }
        if stopping {
          condition.unlock()
          return
        }
        let s = queue.removeFirst()
        let position = assigned[s]!
        filling = s
        condition.unlock()
        do {
          try slots[s].waitForTransfer()
          let target = slots[s].bytes
          dataset.bytes.withUnsafeBytes { source in
            DispatchQueue.concurrentPerform(iterations: batch) { i in
              let k = order.index(position &+ UInt64(i))
              target.baseAddress!.advanced(by: i * image)
                .copyMemory(from: source.baseAddress!.advanced(by: k * image), byteCount: image)
            }
          }
        } catch {
          locked { failure = error }
          condition.broadcast()
          return
        }
        condition.lock()
        filling = nil
        // The ring may have been re-aimed meanwhile; then this fill is stale.
        if assigned[s] == position { filled[s] = true }
        condition.broadcast()
        condition.unlock()
      }
    }
  }
}
