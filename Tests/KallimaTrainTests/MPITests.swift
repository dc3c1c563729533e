import Foundation
import KallimaCore
import KallimaData
import KallimaOpenCL
import KallimaTrain
import Testing

/// `mpirun -n 2 kallima train`: the kallima built with the MPI trait (`swift build --traits MPI
/// --scratch-path .build/mpi --product kallima`, part of the README's test command) under the
/// system's mpirun (Open MPI or MPICH; KALLIMA_MPI_BINARY and KALLIMA_MPIRUN choose others).
enum MPIJob {
  /// `$KALLIMA_MPI_BINARY`, else .build/mpi/debug/kallima beside the test bundle's .build.
  static func binary() throws -> String {
    if let path = ProcessInfo.processInfo.environment["KALLIMA_MPI_BINARY"], !path.isEmpty { return path }
    var folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    while folder.path != "/" && folder.lastPathComponent != ".build" { folder.deleteLastPathComponent() }
    let candidate = folder.appendingPathComponent("mpi/debug/kallima").path
    guard folder.lastPathComponent == ".build", FileManager.default.isExecutableFile(atPath: candidate) else {
      throw KallimaError.io(
        path: candidate,
        message: "no kallima built with MPI; build it with `swift build --traits MPI --scratch-path .build/mpi --product kallima` "
          + "(Scripts/setup.sh installs Open MPI), or set KALLIMA_MPI_BINARY")
    }
    return candidate
  }

  /// mpirun's path (`$KALLIMA_MPIRUN`, else the system's) and the arguments that start
  /// `ranks` processes on this one machine.
  static func launcher(ranks: Int) throws -> (path: String, arguments: [String]) {
    let chosen = ProcessInfo.processInfo.environment["KALLIMA_MPIRUN"].map { [$0] } ?? ["/usr/bin/mpirun", "/usr/local/bin/mpirun"]
    let path = chosen.first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let path else {
      throw KallimaError.io(path: "mpirun", message: "not found; Scripts/setup.sh installs openmpi-bin")
    }
    let version = try launch(path, ["--version"], timeout: 30)
    // Open MPI refuses more ranks than cores unless told; MPICH's Hydra has no such flag.
    let openMPI = (version.out + version.err).contains("Open MPI") || (version.out + version.err).contains("OpenRTE")
    return (path, (openMPI ? ["--oversubscribe"] : []) + ["-n", "\(ranks)"])
  }

  /// Open MPI refuses to run as root (CI containers) without these.
  static let environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]
}

@Suite("MPI: mpirun -n 2 kallima train", .serialized)
struct MPITests {
  /// The tiny run of `SignalRun`, `steps` long.
  static func arguments(out: String, steps: Int, checkpointEvery: Int, device: String = SignalRun.device) throws -> [String] {
    ["train", "--data", try SignalRun.data.get(), "--size", "8", "--batch", "4", "--nz", "8", "--width", "4", "--seed", "11",
     "--flip", "--log-every", "2", "--sample-every", "1000", "--checkpoint-every", "\(checkpointEvery)", "--device", device,
     "--out", out, "--steps", "\(steps)"]
  }

  /// The worst difference between two checkpoints' tensors, relative to each tensor's
  /// largest value, and where (infinite for a tensor `b` lacks).
  static func worstDifference(_ a: [SafetensorsTensor], _ b: [SafetensorsTensor]) -> (Double, String) {
    let expected = Dictionary(uniqueKeysWithValues: b.map { ($0.name, $0.values) })
    var worst = (0.0, "")
    for t in a {
      guard let reference = expected[t.name] else { return (.infinity, t.name) }
      let scale = Double(reference.map(abs).max() ?? 0)
      let diff = zip(t.values, reference).map { Double(abs($0 - $1)) }.max() ?? 0
      if scale > 0, diff / scale > worst.0 { worst = (diff / scale, t.name) }
    }
    return worst
  }

  /// The transport: two processes over MPI compute exactly what two threads of one process
  /// compute (`ThreadGroup`, whose equivalence to one rank of the whole batch
  /// `DataParallelTests` proves). Two ranks sum each gradient as a + b either way, and the
  /// halving is exact, so every tensor of the checkpoint must be bit-identical.
  @Test("two ranks over MPI write the checkpoint two in-process ranks write, bit for bit")
  func mpiMatchesThreads() throws {
    let folder = try TemporaryFolder()
    let (mpirun, ranks) = try MPIJob.launcher(ranks: 2)
    let run = try launch(
      mpirun, ranks + [try MPIJob.binary()] + Self.arguments(out: folder.path("mpi"), steps: 6, checkpointEvery: 6),
      environment: MPIJob.environment, timeout: 300)
    #expect(run.status == 0, "\(run.out)\n\(run.err)")
    #expect(run.err.contains("rank 1 of 2"), "\(run.err)")
    #expect(run.err.components(separatedBy: "step 6/6").count == 2, "rank 0 alone reports progress:\n\(run.err)")

    var options = TrainingOptions()
    (options.data, options.size, options.batch, options.nz, options.ngf, options.ndf) = (try SignalRun.data.get(), 8, 4, 8, 4, 4)
    (options.seed, options.flip, options.logEvery, options.sampleEvery, options.checkpointEvery) = (11, true, 2, 1000, 6)
    (options.steps, options.out) = (6, folder.path("threads"))
    let threadOptions = options
    let group = ThreadGroup(size: 2)
    let device = SignalRun.device
    try group.run { rank in
      let run = try TrainingRun(options: threadOptions, backend: try OpenCLBackend(selector: device), collective: group.member(rank))
      try run.run()
    }
    expectSameTensors(
      try checkpointBits(folder.path("mpi/checkpoints/latest.safetensors")),
      try checkpointBits(folder.path("threads/checkpoints/latest.safetensors")), "MPI vs threads")
    #expect(try Checkpoint.read(folder.path("mpi/checkpoints/latest.safetensors")).training.ranks == 2)
  }

  /// The CLI end to end: with --sync-bn two ranks train what one process of the same batch
  /// trains. Float sums in another order and batch norm's two formulations differ by
  /// rounding, and Adam carries it over 6 steps. Measured: worst 1.7e-7 of a tensor's
  /// largest value (an exp_avg_sq); bound 1e-5 (57x). Without --sync-bn (per-rank batch
  /// statistics) the runs differ by far more (DataParallelTests: 1.1).
  @Test("mpirun -n 2 kallima train --sync-bn trains what one process of the same batch trains")
  func synchronizedMatchesOneProcess() throws {
    let folder = try TemporaryFolder()
    let (mpirun, ranks) = try MPIJob.launcher(ranks: 2)
    let job = try launch(
      mpirun, ranks + [try MPIJob.binary()] + Self.arguments(out: folder.path("job"), steps: 6, checkpointEvery: 6) + ["--sync-bn"],
      environment: MPIJob.environment, timeout: 300)
    #expect(job.status == 0, "\(job.err)")
    try KallimaProcess.run(Self.arguments(out: folder.path("one"), steps: 6, checkpointEvery: 6))
    let a = try Checkpoint.read(folder.path("job/checkpoints/latest.safetensors"))
    let b = try Checkpoint.read(folder.path("one/checkpoints/latest.safetensors"))
    let worst = Self.worstDifference(a.tensors, b.tensors)
    #expect(a.tensors.count == b.tensors.count)
    #expect(worst.0 <= 1e-5, "worst \(worst.0) in \(worst.1)")
    print("mpirun -n 2 --sync-bn vs one process: worst relative difference \(worst.0) in \(worst.1)")
  }

  /// pix2pix's U-Net with batch norm and dropout: with --sync-bn the ranks' batch
  /// statistics are the job's, and the dropout masks are the single process's split, so the
  /// job trains what one process of the same batch trains. float32 through a five-level
  /// U-Net and Adam: measured worst 3.2e-6 of a tensor's largest value; bound 1e-4 (31x).
  /// Without --sync-bn (each rank's 2 images' statistics) the same comparison gives 1.8.
  @Test("mpirun -n 2 kallima train pix2pix --sync-bn trains what one process of the same batch trains")
  func synchronizedPix2Pix() throws {
    let folder = try TemporaryFolder()
    try TranslationFashion.write(.edges, to: folder.path("edges"), size: 32, train: 8, test: 2, seed: 3)
    func arguments(_ out: String) -> [String] {
      ["train", "pix2pix", "--data", folder.path("edges"), "--size", "32", "--net-g", "unet_32", "--ngf", "4", "--ndf", "4",
       "--batch", "4", "--steps", "4", "--log-every", "2", "--sample-every", "100", "--checkpoint-every", "100",
       "--classifier-steps", "0", "--eval-images", "2", "--device", SignalRun.device, "--out", folder.path(out)]
    }
    let (mpirun, ranks) = try MPIJob.launcher(ranks: 2)
    let job = try launch(
      mpirun, ranks + [try MPIJob.binary()] + arguments("job") + ["--sync-bn"], environment: MPIJob.environment, timeout: 300)
    #expect(job.status == 0, "\(job.err)")
    try KallimaProcess.run(arguments("one"))
    let a = try TranslationCheckpoint.read(folder.path("job/checkpoints/latest.safetensors"))
    let b = try TranslationCheckpoint.read(folder.path("one/checkpoints/latest.safetensors"))
    #expect(a.options.synchronizedBatchNorm && !b.options.synchronizedBatchNorm)
    let worst = Self.worstDifference(a.tensors, b.tensors)
    #expect(a.tensors.count == b.tensors.count && a.tensors.count > 20)
    #expect(worst.0 <= 1e-4, "worst \(worst.0) in \(worst.1)")
    print("mpirun -n 2 pix2pix --sync-bn vs one process: worst relative difference \(worst.0) in \(worst.1)")
  }

  @Test("a job resumed under mpirun continues bit-identically to one that ran through")
  func resume() throws {
    let folder = try TemporaryFolder()
    let (mpirun, ranks) = try MPIJob.launcher(ranks: 2)
    let binary = try MPIJob.binary()
    func job(_ arguments: [String]) throws {
      let run = try launch(mpirun, ranks + [binary] + arguments, environment: MPIJob.environment, timeout: 300)
      #expect(run.status == 0, "\(run.err)")
    }
    try job(Self.arguments(out: folder.path("through"), steps: 8, checkpointEvery: 8))
    try job(Self.arguments(out: folder.path("resumed"), steps: 4, checkpointEvery: 4))
    try job(["train", "--resume", folder.path("resumed"), "--steps", "8", "--device", SignalRun.device])
    expectSameTensors(
      try checkpointBits(folder.path("resumed/checkpoints/latest.safetensors")),
      try checkpointBits(folder.path("through/checkpoints/latest.safetensors")), "resumed vs through")
  }

  @Test("a rank killed mid-run ends the job (no hang) and the last checkpoint loads")
  func killedRank() throws {
    let folder = try TemporaryFolder()
    let (mpirun, ranks) = try MPIJob.launcher(ranks: 2)
    let job = Process()
    job.executableURL = URL(fileURLWithPath: mpirun)
    job.arguments = ranks + [try MPIJob.binary()] + (try Self.arguments(out: folder.path("run"), steps: 100_000, checkpointEvery: 4))
    job.environment = ProcessInfo.processInfo.environment.merging(MPIJob.environment) { $1 }
    let errors = folder.path("stderr.txt")
    _ = FileManager.default.createFile(atPath: errors, contents: nil)
    job.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
    job.standardOutput = FileHandle.nullDevice
    try job.run()
    let latest = folder.path("run/checkpoints/latest.safetensors")
    var deadline = Date().addingTimeInterval(240)
    while !FileManager.default.fileExists(atPath: latest) && job.isRunning && Date() < deadline { usleep(50_000) }
    #expect(FileManager.default.fileExists(atPath: latest), "no checkpoint before the kill")
    // The ranks: the kallima processes whose command line names this run's folder (mpirun's
    // children under Open MPI, grandchildren under MPICH's Hydra). Kill one outright.
    let children = try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter { pid in
      let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))).map { String(decoding: $0, as: UTF8.self) }
      let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
      return name?.hasPrefix("kallima") == true && command?.contains(folder.path("run")) == true
    }
    #expect(children.count == 2, "the job's ranks: \(children)")
    if let victim = children.last { kill(victim, SIGKILL) }
    deadline = Date().addingTimeInterval(120)
    while job.isRunning && Date() < deadline { usleep(50_000) }
    let hung = job.isRunning
    if hung { job.terminate() }
    #expect(!hung, "the job still ran 120 s after a rank was killed")
    job.waitUntilExit()
    #expect(job.terminationStatus != 0)
    #expect(try Checkpoint.read(latest).training.step > 0)
  }

  @Test("a rank that cannot open its device ends the whole job with its message")
  func deviceFailureOnOneRank() throws {
    let folder = try TemporaryFolder()
    let (mpirun, ranks) = try MPIJob.launcher(ranks: 2)
    // Rank 0 takes the usable device and waits for rank 1 in its first collective; rank 1's
    // device does not exist.
    let run = try launch(
      mpirun,
      ranks + [try MPIJob.binary()]
        + Self.arguments(out: folder.path("run"), steps: 50, checkpointEvery: 50, device: "\(SignalRun.device),opencl:9:9"),
      environment: MPIJob.environment, timeout: 180)
    #expect(run.status != 0)
    #expect(run.err.contains("(rank 1 of 2)") && run.err.contains("opencl:9:9"), "\(run.err)")
  }
}
