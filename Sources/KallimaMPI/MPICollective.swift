import Foundation
import KallimaCore

#if MPI
import CMPI
#endif

/// The job this process belongs to: under an MPI launcher (`mpirun`, `mpiexec`, `srun`) and
/// built with MPI (`swift build --traits MPI`), MPI's world; otherwise a single process.
/// A launcher's job of more than one process with a build without MPI is an error, not N
/// independent copies of the same run.
public enum Job {
  /// The number of processes an MPI launcher says the job has, from its environment (Open
  /// MPI's mpirun; PMI_SIZE from MPICH's Hydra and Slurm's srun); nil when no launcher
  /// started this process. (Not SLURM_NTASKS: a batch script's plain process sees it too.)
  public static func launcherSize(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
    for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
      if let value = environment[key], let size = Int(value) { return size }
    }
    return nil
  }

  /// The collective for this process: MPI when a launcher started a job of several
  /// processes, else `SingleProcess`.
  public static func start(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Collective {
    guard let size = launcherSize(environment), size > 1 else { return SingleProcess() }
    #if MPI
    return try MPICollective()
    #else
    throw KallimaError.invalidArgument(
      op: "mpirun",
      message: "started by an MPI launcher as one of \(size) processes, but this kallima was built without MPI: "
        + "build it with `swift build -c release --traits MPI` (needs libopenmpi-dev or libmpich-dev), or run one process")
    #endif
  }
}

#if MPI
/// MPI's world communicator. Made once per process (MPI cannot be initialised twice);
/// finalised at exit. Every call holds a lock, so calls from several threads are serialised
/// whatever the caller does, as MPI_THREAD_SERIALIZED requires.
public final class MPICollective: Collective {
  public let rank: Int
  public let size: Int
  public let localRank: Int
  public let localSize: Int
  public let library: String
  public let acceptsCallsFromAnyThread: Bool
  private let lock = NSLock()

  public init() throws {
    if kmpi_initialized() == 0 { try Self.check(kmpi_init(), "MPI_Init_thread") }
    var (rank, size, localRank, localSize): (Int32, Int32, Int32, Int32) = (0, 1, 0, 1)
    try Self.check(kmpi_rank(&rank), "MPI_Comm_rank")
    try Self.check(kmpi_size(&size), "MPI_Comm_size")
    try Self.check(kmpi_local_rank(&localRank, &localSize), "MPI_Comm_split_type")
    (self.rank, self.size, self.localRank, self.localSize) = (Int(rank), Int(size), Int(localRank), Int(localSize))
    acceptsCallsFromAnyThread = kmpi_serialized() != 0
    var text = [CChar](repeating: 0, count: 512)
    kmpi_library_version(&text, Int32(text.count))
    // "Open MPI v4.1.4, package: Debian OpenMPI, …" or "MPICH Version: 4.0.2 …": the first clause.
    let version = String(cString: text).split(whereSeparator: { $0.isNewline || $0 == "," }).first
    library = version.map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") } ?? "MPI"
    atexit { if kmpi_initialized() != 0 && kmpi_finalized() == 0 { _ = kmpi_finalize() } }
  }

  public var description: String { library }

  public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
    guard let base = values.baseAddress, !values.isEmpty else { return }
    try serialized { try Self.check(kmpi_allreduce_sum_float(base, values.count), "MPI_Allreduce (\(values.count) floats)") }
  }

  public func allreduce(_ values: UnsafeMutableBufferPointer<Double>, _ operation: CollectiveReduction) throws {
    guard let base = values.baseAddress, !values.isEmpty else { return }
    try serialized {
      try Self.check(kmpi_allreduce_double(base, Int32(values.count), operation.rawValue), "MPI_Allreduce (\(values.count) doubles)")
    }
  }

  public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    try serialized { try Self.check(kmpi_broadcast(base, bytes.count, Int32(root)), "MPI_Bcast (\(bytes.count) bytes from rank \(root))") }
  }

  public func barrier() throws { try serialized { try Self.check(kmpi_barrier(), "MPI_Barrier") } }

  private func serialized(_ call: () throws -> Void) rethrows {
    lock.lock()
    defer { lock.unlock() }
    try call()
  }

  public func abort(status: Int32) -> Never {
    kmpi_abort(status)
    exit(status)  // MPI_Abort does not return; this is for the compiler
  }

  static func check(_ code: Int32, _ call: String) throws {
    guard code != 0 else { return }
    var text = [CChar](repeating: 0, count: 512)
    kmpi_error_string(code, &text, Int32(text.count))
    throw KallimaError.communication("\(call) failed: \(String(cString: text)) (MPI error \(code)); the job cannot continue")
  }
}
#endif
