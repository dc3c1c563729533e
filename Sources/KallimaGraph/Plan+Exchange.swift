import Foundation
import KallimaCore

/// One `allreduceMean` node's exchange with the other ranks, run by run: its input is
/// downloaded into pinned host memory without waiting (after the launches that compute it),
/// summed over the ranks, divided by their count, and uploaded into its output before the
/// first launch that reads it. No MPI implementation reads OpenCL buffers, so this staging
/// is the only way across; the pinned buffer is made once and kept.
final class Exchange {
  let node: Int
  let input: Tensor
  let output: Tensor
  var staging: StagingBuffer?
  /// The reduction under way on the plan's queue (nil when it ran inline, or none is).
  var ticket: CollectiveQueue.Ticket?
  /// Started this run and not yet uploaded.
  var isPending = false
  /// Seconds in the collective's reduction, all runs (written by the thread that reduces;
  /// read after the run has drained the queue).
  var seconds: Double = 0

  init(node: Int, input: Tensor, output: Tensor) {
    (self.node, self.input, self.output) = (node, input, output)
  }
}

extension Plan {
  /// Enqueues the exchange's download and hands its reduction to the queue (or runs it here,
  /// blocking, when the plan does not overlap or the collective only takes calls from the
  /// thread that started it).
  func start(_ e: Exchange) throws {
    let staging = try e.staging ?? backend.makeStagingBuffer(bytes: 4 * e.input.count)
    e.staging = staging
    try backend.download(e.input, into: staging)
    let collective = self.collective
    let count = e.input.count
    let reduce = {
      try staging.waitForTransfer()
      let start = DispatchTime.now().uptimeNanoseconds
      defer { e.seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
      try collective.allreduceMean(
        UnsafeMutableBufferPointer(start: staging.bytes.baseAddress!.assumingMemoryBound(to: Float.self), count: count))
    }
    e.isPending = true
    if overlapsCommunication && collective.acceptsCallsFromAnyThread {
      if queue == nil { queue = CollectiveQueue(name: "kallima exchanges (rank \(collective.rank))") }
      e.ticket = queue!.submit(reduce)
    } else {
      try reduce()
    }
  }

  /// Waits for the exchange's reduction and enqueues the upload of the average into its
  /// output, ahead of the launch about to read it. The staging memory is not touched again
  /// until the next run's download into it has completed, which the in-order queue puts
  /// after this upload.
  func finish(_ e: Exchange) throws {
    guard e.isPending else { return }
    e.isPending = false
    if let ticket = e.ticket {
      e.ticket = nil
      try ticket.wait()
    }
    try backend.upload(e.staging!, to: e.output)
  }

  /// Finishes every exchange this run started and waits for the queue to be empty.
  func finishExchanges() throws {
    guard !exchanges.isEmpty else { return }
    for e in exchanges.values.sorted(by: { $0.node < $1.node }) { try finish(e) }
    try queue?.drain()
  }
}
