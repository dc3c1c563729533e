import Foundation

/// A thread of its own that runs one rank's collective operations in the order they are
/// submitted, so they overlap with the device work the submitting thread goes on enqueuing:
/// a plan hands it each gradient bucket as soon as the bucket's download is enqueued, and
/// waits for it only before the first launch that reads the average (DDP's overlap of the
/// allreduce with the rest of the backward pass).
///
/// Order is what keeps the ranks matched: every rank submits the same operations in the same
/// order, and one thread runs them in that order. The submitting thread must not make calls
/// of its own on the collective while work is pending (`drain()` first); a plan drains at
/// the end of every run. Needs a collective that `acceptsCallsFromAnyThread`.
public final class CollectiveQueue: @unchecked Sendable {
  /// A submitted operation: `wait()` blocks until it has run and rethrows its error.
  public final class Ticket: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var error: Error?
    private var finished = false

    fileprivate func complete(_ error: Error?) {
      self.error = error
      done.signal()
    }

    /// Blocks until the operation has run; rethrows what it threw. Once is enough: later
    /// calls return (or throw) at once.
    public func wait() throws {
      if !finished {
        done.wait()
        finished = true
      }
      if let error { throw error }
    }
  }

  /// The queue's work and its thread's state; the thread holds it, not the queue, so the
  /// queue can go while the thread winds down.
  private final class State: @unchecked Sendable {
    let condition = NSCondition()
    var work: [(operation: () throws -> Void, ticket: Ticket)] = []
    /// The first error an operation threw: once one failed, the ranks no longer agree on
    /// what comes next, so every later operation fails with it instead of running.
    var failure: Error?
    var stopping = false
  }

  private let state = State()
  /// Tickets submitted and not yet drained (the submitting thread's own list).
  private var pending: [Ticket] = []

  public init(name: String = "kallima collective") {
    let state = self.state
    let thread = Thread { Self.loop(state) }
    thread.name = name
    thread.stackSize = 1 << 20
    thread.start()
  }

  deinit {
    state.condition.lock()
    state.stopping = true
    state.condition.signal()
    state.condition.unlock()
  }

  /// Queues `operation` after everything submitted before it and returns at once.
  @discardableResult
  public func submit(_ operation: @escaping () throws -> Void) -> Ticket {
    let ticket = Ticket()
    pending.append(ticket)
    state.condition.lock()
    state.work.append((operation, ticket))
    state.condition.signal()
    state.condition.unlock()
    return ticket
  }

  /// Blocks until every submitted operation has run; rethrows the first error among them.
  public func drain() throws {
    let tickets = pending
    pending.removeAll()
    var first: Error?
    for t in tickets {
      do { try t.wait() } catch { first = first ?? error }
    }
    if let first { throw first }
  }

  private static func loop(_ state: State) {
    let condition = state.condition
    while true {
      condition.lock()
      while state.work.isEmpty && !state.stopping { condition.wait() }
      if state.work.isEmpty {
        condition.unlock()
        return
      }
      let (operation, ticket) = state.work.removeFirst()
      let failed = state.failure
      condition.unlock()
      if let failed {
        ticket.complete(failed)
        continue
      }
      do {
        try operation()
        ticket.complete(nil)
      } catch {
        condition.lock()
        state.failure = state.failure ?? error
        condition.unlock()
        ticket.complete(error)
      }
    }
  }
}
