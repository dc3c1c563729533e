import Foundation

/// The processes of a data-parallel job and the collective operations between them: every
/// rank holds the whole model, trains on its own part of each batch, and the ranks sum their
/// gradients before every optimiser step. `SingleProcess` is the job of one (every operation
/// leaves its values as they are); `MPICollective` (module KallimaMPI, built with
/// `swift build --traits MPI`) runs over MPI under `mpirun`.
///
/// The operations are blocking and work on host memory: no MPI implementation reads OpenCL
/// buffers, so device values are staged through the host (a plan's exchanges, which run
/// them on a `CollectiveQueue` while the device goes on).
/// Every rank must make the same calls in the same order, as with MPI itself.
public protocol Collective: AnyObject {
  /// This process's rank, 0 ..< size.
  var rank: Int { get }
  /// The number of processes in the job.
  var size: Int { get }
  /// The rank among the job's processes on this machine, and how many there are: which of
  /// the machine's devices this rank takes.
  var localRank: Int { get }
  var localSize: Int { get }
  /// What runs the job, for messages: "single process", "thread group", "Open MPI v4.1.4".
  var description: String { get }
  /// Whether a thread other than the one that started the job may make the calls, one at a
  /// time (MPI_THREAD_SERIALIZED or better): what a `CollectiveQueue` needs.
  var acceptsCallsFromAnyThread: Bool { get }

  /// Replaces `values` on every rank by their sum over all ranks.
  func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
  /// Replaces `values` on every rank by their sum, minimum or maximum over all ranks.
  func allreduce(_ values: UnsafeMutableBufferPointer<Double>, _ operation: CollectiveReduction) throws
  /// Replaces `bytes` on every rank by rank `root`'s.
  func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws
  /// Returns when every rank has called it.
  func barrier() throws
  /// Ends every process of the job with `status`; a rank that fails must not leave the others
  /// waiting in a collective operation.
  func abort(status: Int32) -> Never
}

public enum CollectiveReduction: Int32, Sendable {
  case sum = 0
  case minimum = 1
  case maximum = 2
}

/// A job of one process: rank 0 of 1.
public final class SingleProcess: Collective {
  public init() {}
  public var rank: Int { 0 }
  public var size: Int { 1 }
  public var localRank: Int { 0 }
  public var localSize: Int { 1 }
  public var description: String { "single process" }
  public var acceptsCallsFromAnyThread: Bool { true }
  public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {}
  public func allreduce(_ values: UnsafeMutableBufferPointer<Double>, _ operation: CollectiveReduction) throws {}
  public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {}
  public func barrier() throws {}
  public func abort(status: Int32) -> Never { exit(status) }
}

extension Collective {
  /// Replaces `values` by their mean over all ranks (the sum, then a division by `size` in
  /// float on every rank alike, so every rank holds the same bits).
  public func allreduceMean(_ values: inout [Float]) throws {
    try values.withUnsafeMutableBufferPointer { try allreduceMean($0) }
  }

  /// The same in place in host memory (a plan's pinned staging).
  public func allreduceMean(_ values: UnsafeMutableBufferPointer<Float>) throws {
    guard size > 1 else { return }
    try allreduceSum(values)
    let n = Float(size)
    for i in values.indices { values[i] /= n }
  }

  /// Rank `root`'s `values` on every rank.
  public func broadcast(_ values: inout [Float], root: Int = 0) throws {
    guard size > 1 else { return }
    try values.withUnsafeMutableBytes { try broadcast($0, root: root) }
  }

  /// Whether any rank's `shouldStop` says so: a training loop asks every step, so every rank
  /// stops at the same step although a signal reaches them at different moments. A failed
  /// exchange stops too. One process asks nothing of anyone.
  public func anyRankStops(_ shouldStop: () -> Bool) -> Bool {
    guard size > 1 else { return shouldStop() }
    return (try? any(shouldStop())) ?? true
  }

  /// Whether `flag` is true on any rank (every rank gets the same answer).
  public func any(_ flag: Bool) throws -> Bool {
    guard size > 1 else { return flag }
    var value = [flag ? 1.0 : 0.0]
    try value.withUnsafeMutableBufferPointer { try allreduce($0, .maximum) }
    return value[0] > 0
  }

  /// The smallest and largest of `values` over all ranks, element by element: equal on every
  /// rank exactly when every rank holds the same values (the drift check).
  public func spread(_ values: [Double]) throws -> (minimum: [Double], maximum: [Double]) {
    var (low, high) = (values, values)
    guard size > 1 else { return (low, high) }
    try low.withUnsafeMutableBufferPointer { try allreduce($0, .minimum) }
    try high.withUnsafeMutableBufferPointer { try allreduce($0, .maximum) }
    return (low, high)
  }
}
