import Foundation

/// Ranks that are threads of one process: `ThreadGroup(size:)` makes the group, `member(i)`
/// the collective of rank i, each to be used by its own thread (a rank's thread drives that
/// rank's backend). The sums add the ranks' values in rank order, in the values' own type,
/// so every run gives the same bits: the data-parallel tests run several ranks in one test
/// process with it, no MPI needed.
public final class ThreadGroup {
  public let size: Int
  private let condition = NSCondition()
  /// The current operation's contributions, by rank, and how many ranks have left it.
  private var arrived = 0
  private var generation = 0
  private var floats: [[Float]?]
  private var doubles: [[Double]?]
  /// The root's bytes of the broadcast under way, then of the last one completed.
  private var pendingBytes: [UInt8]?
  private var bytes: [UInt8]?
  private var resultFloats: [Float] = []
  private var resultDoubles: [Double] = []
  private var aborted: Int32?

  public init(size: Int) {
    precondition(size >= 1, "a group has at least one rank")
    self.size = size
    floats = Array(repeating: nil, count: size)
    doubles = Array(repeating: nil, count: size)
  }

  /// Rank `rank`'s collective.
  public func member(_ rank: Int) -> Collective {
    precondition((0..<size).contains(rank), "rank \(rank) is outside 0..<\(size)")
    return Member(group: self, rank: rank)
  }

  /// Runs `body(rank)` on `size` threads at once, waits for all of them and returns their
  /// results by rank; rethrows the first error (by rank).
  @discardableResult
  public func run<T>(_ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
    // Threads of their own: a rank blocks in every collective until the others arrive, so
    // the ranks cannot share a pool narrower than the group.
    let results = Results<T>(count: size)
    let done = DispatchSemaphore(value: 0)
    for rank in 0..<size {
      let thread = Thread {
        results.set(rank, Result { try body(rank) })
        done.signal()
      }
      thread.stackSize = 16 << 20
      thread.start()
    }
    for _ in 0..<size { done.wait() }
    return try results.values()
  }

  /// Every rank calls this with its contribution; the last to arrive combines them, then all
  /// leave. A result read after leaving stays until the next operation completes, which
  /// cannot happen before every rank has arrived at it.
  fileprivate func exchange(rank: Int, arrive: () -> Void, combine: () -> Void) throws {
    condition.lock()
    defer { condition.unlock() }
    if let aborted { throw KallimaError.communication("another rank ended the job with status \(aborted)") }
    let mine = generation
    arrive()
    arrived += 1
    if arrived == size {
      combine()
      arrived = 0
      generation += 1
      condition.broadcast()
    } else {
      while generation == mine && aborted == nil { condition.wait() }
      if generation == mine, let aborted {
        throw KallimaError.communication("another rank ended the job with status \(aborted)")
      }
    }
  }

  fileprivate func allreduceSum(rank: Int, _ values: UnsafeMutableBufferPointer<Float>) throws {
    try exchange(rank: rank, arrive: { floats[rank] = Array(values) }) {
      var total = floats[0]!
      for r in 1..<size {
        for (i, v) in floats[r]!.enumerated() { total[i] += v }
      }
      resultFloats = total
      floats = Array(repeating: nil, count: size)
    }
    for i in values.indices { values[i] = resultFloats[i] }
  }

  fileprivate func allreduce(rank: Int, _ values: UnsafeMutableBufferPointer<Double>, _ operation: CollectiveReduction) throws {
    try exchange(rank: rank, arrive: { doubles[rank] = Array(values) }) {
      var total = doubles[0]!
      for r in 1..<size {
        for (i, v) in doubles[r]!.enumerated() {
          switch operation {
          case .sum: total[i] += v
          case .minimum: total[i] = min(total[i], v)
          case .maximum: total[i] = max(total[i], v)
          }
        }
      }
      resultDoubles = total
      doubles = Array(repeating: nil, count: size)
    }
    for i in values.indices { values[i] = resultDoubles[i] }
  }

  fileprivate func broadcast(rank: Int, _ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
    try exchange(rank: rank, arrive: { if rank == root { pendingBytes = Array(buffer) } }) {
      bytes = pendingBytes
      pendingBytes = nil
    }
    // `bytes` stays until the next broadcast completes, which needs this rank to arrive.
    if rank != root, let bytes { buffer.copyBytes(from: bytes) }
  }

  fileprivate func abort(status: Int32) {
    condition.lock()
    aborted = aborted ?? status
    condition.broadcast()
    condition.unlock()
  }

  /// One rank of the group.
  private final class Member: Collective {
    let group: ThreadGroup
    let rank: Int
    init(group: ThreadGroup, rank: Int) {
      self.group = group
      self.rank = rank
    }
    var size: Int { group.size }
    var localRank: Int { rank }
    var localSize: Int { group.size }
    var description: String { "thread group" }
    var acceptsCallsFromAnyThread: Bool { true }
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws { try group.allreduceSum(rank: rank, values) }
    func allreduce(_ values: UnsafeMutableBufferPointer<Double>, _ operation: CollectiveReduction) throws {
      try group.allreduce(rank: rank, values, operation)
    }
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws { try group.broadcast(rank: rank, bytes, root: root) }
    func barrier() throws { try group.exchange(rank: rank, arrive: {}, combine: {}) }
    /// Wakes the other ranks with an error, then ends the process (as MPI_Abort would).
    func abort(status: Int32) -> Never {
      group.abort(status: status)
      exit(status)
    }
  }

  /// Each rank's result, set by its thread.
  private final class Results<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<T, Error>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ rank: Int, _ result: Result<T, Error>) {
      lock.lock()
      slots[rank] = result
      lock.unlock()
    }
    func values() throws -> [T] {
      lock.lock()
      defer { lock.unlock() }
      return try slots.map { try $0!.get() }
    }
  }
}
