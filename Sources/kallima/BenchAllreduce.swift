import ArgumentParser
import Foundation
import KallimaCore
import KallimaCPU
import KallimaGAN
import KallimaMPI

/// `mpirun -n N kallima bench allreduce`: what averaging gradients costs per step, by bucket
/// size: the device→host read, MPI_Allreduce and the host→device write that an
/// `allreduceMean` node does, each timed on its own, with DCGAN's gradient sizes marked;
/// with `--steps`, what of it a training step still waits for, overlapped and blocking.
struct BenchAllreduce: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "allreduce",
    abstract: "Time the gradient average of data-parallel training (staging and MPI_Allreduce) by size; run under mpirun.")

  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE, or a comma-separated list taken by local rank.") var device: String?
  @Option(help: "Bucket sizes in MiB, comma-separated (default: 0.0625 to 64, and DCGAN-64's D and G gradients).")
  var sizes: String?
  @Option(help: "Timed repetitions per size (the median is reported).") var repeats = 10
  @Option(
    help: ArgumentHelp(
      "Then train DCGAN for this many steps per round, exchanges overlapped with the backward pass and blocking in turn, "
        + "and report the step time and the communication the device work did not hide (0: skip)."))
  var steps = 0
  @Option(help: "That DCGAN's image size (ngf = ndf = 64, nz 100, RGB).") var size = 64
  @Option(help: "That DCGAN's images per rank per step.") var batch = 16
  @Option(help: "Rounds of the two modes (the median per mode is reported).") var rounds = 2

  func run() throws {
    let job = try Kallima.startJob()
    guard job.size > 1 else {
      throw KallimaError.invalidArgument(
        op: "bench allreduce", message: "run it under an MPI launcher: mpirun -n 2 kallima bench allreduce (a build with --traits MPI)")
    }
    let backend = try DeviceSelection.makeBackend(
      try DeviceSelection.selector(device, localRank: job.localRank, localSize: job.localSize), suggestTuning: false)
    // DCGAN-64 (ngf = ndf = 64, nz 100, RGB): the D and G buckets of one step.
    let marks = try Self.gradientBytes(try DCGAN(DCGANConfig(nz: 100, ngf: 64, ndf: 64, channels: 3, imageSize: 64)))
    let mib = try sizes.map { text in
      try text.split(separator: ",").map { part -> Double in
        guard let v = Double(part.trimmingCharacters(in: .whitespaces)), v > 0 else {
          throw ValidationError("--sizes takes positive MiB values, comma-separated; got '\(part)'")
        }
        return v
      }
    } ?? [0.0625, 0.25, 1, 4, 16, 64]
    var rows: [(label: String, bytes: Int, read: Double, reduce: Double, write: Double)] = []
    let cases = mib.map { ("\($0) MiB", Int($0 * 1_048_576) / 4 * 4) } + [("DCGAN-64 D", marks.d), ("DCGAN-64 G", marks.g)]
    for (label, bytes) in cases {
      let tensor = try backend.makeTensor([1, bytes / 4], values: (0..<(bytes / 4)).map { Float($0 % 97) })
      var times: [[Double]] = [[], [], []]
      for _ in 0..<(repeats + 1) {
        try job.barrier()
        let t0 = DispatchTime.now().uptimeNanoseconds
        var values = try backend.read(tensor)
        let t1 = DispatchTime.now().uptimeNanoseconds
        try job.allreduceMean(&values)
        let t2 = DispatchTime.now().uptimeNanoseconds
        try backend.write(values, to: tensor)
        try backend.synchronize()
        let t3 = DispatchTime.now().uptimeNanoseconds
        for (i, (a, b)) in [(t0, t1), (t1, t2), (t2, t3)].enumerated() { times[i].append(Double(b - a) / 1e9) }
      }
      // The first repetition warms the buffers and MPI's connections.
      let median = times.map { list in list.dropFirst().sorted()[(list.count - 1) / 2] }
      rows.append((label, bytes, median[0], median[1], median[2]))
    }
    if job.rank == 0 { printBuckets(rows, job: job, backend: backend) }
    if steps > 0 { try trainingSteps(job: job, backend: backend) }
  }

  func printBuckets(_ rows: [(label: String, bytes: Int, read: Double, reduce: Double, write: Double)], job: Collective, backend: Backend) {
    print("allreduce of a gradient bucket: \(job.size) ranks (\(job.description)), \(backend.name); median of \(repeats)")
    print("bus bandwidth = bytes · 2(N−1)/N / allreduce time (what a ring moves per rank)")
    let n = Double(job.size)
    print("bucket          bytes        read ms  allreduce ms  write ms  total ms  bus GB/s")
    for r in rows {
      let bus = Double(r.bytes) * 2 * (n - 1) / n / max(r.reduce, 1e-12) / 1e9
      let figures = String(
        format: "%11d  %9.3f  %12.3f  %8.3f  %8.3f  %8.2f", r.bytes, r.read * 1e3, r.reduce * 1e3, r.write * 1e3,
        (r.read + r.reduce + r.write) * 1e3, bus)
      print(r.label.padding(toLength: 14, withPad: " ", startingAt: 0) + " " + figures)
    }
  }

  /// DCGAN trained `steps` steps at a time with the exchanges overlapped, then blocking, for
  /// `rounds` rounds: seconds per step, and the seconds per step inside MPI_Allreduce.
  func trainingSteps(job: Collective, backend: Backend) throws {
    let config = DCGANConfig(nz: 100, ngf: 64, ndf: 64, channels: 3, imageSize: size)
    let shape: Shape = [4 * batch, 3, size, size]
    let images = try backend.makeTensor(shape, values: (0..<shape.count).map { Float($0 % 255) / 127.5 - 1 })
    let trainer = try GANTrainer(
      backend: backend, recipe: try .dcgan(config), batch: batch, seed: 1, data: .dataset(images, seed: 2, flip: true),
      collective: job)
    let plans = [trainer.dPlan, trainer.gPlan]
    for _ in 0..<2 { try trainer.step() }  // kernels built, staging made, MPI connected
    var figures: [Bool: [(step: Double, reduce: Double)]] = [true: [], false: []]
    for _ in 0..<rounds {
      for overlap in [true, false] {
        for plan in plans { plan.overlapsCommunication = overlap }
        try trainer.step()
        try backend.synchronize()
        try job.barrier()
        let reduced = plans.map(\.communicationSeconds).reduce(0, +)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps { try trainer.step() }
        try backend.synchronize()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        figures[overlap]!.append((seconds / Double(steps), (plans.map(\.communicationSeconds).reduce(0, +) - reduced) / Double(steps)))
      }
    }
    guard job.rank == 0 else { return }
    let buckets = plans.map { plan in plan.graph.nodes.filter { $0.op.kind == .allreduceMean }.count }
    print("")
    print("DCGAN-\(size), \(batch) images per rank (job batch \(batch * job.size)): \(buckets[0]) exchanges in the D step, \(buckets[1]) in the G step; median of \(rounds) rounds of \(steps) steps")
    print("MPI_Allreduce time includes waiting for the other ranks to arrive")
    print("exchanges    s/step  MPI_Allreduce ms/step  s/step of each round")
    for overlap in [true, false] {
      let rows = figures[overlap]!
      let step = rows.map(\.step).sorted()[rows.count / 2]
      let reduce = rows.map(\.reduce).sorted()[rows.count / 2]
      let each = rows.map { String(format: "%.3f", $0.step) }.joined(separator: " ")
      print((overlap ? "overlapped" : "blocking").padding(toLength: 11, withPad: " ", startingAt: 0)
        + String(format: "  %6.3f  %21.2f  ", step, reduce * 1e3) + each)
    }
  }

  /// The bytes of a DCGAN's D and G gradient buckets (their trainable parameters): the
  /// networks bound into a graph on the CPU reference, no plan built.
  static func gradientBytes(_ model: DCGAN) throws -> (d: Int, g: Int) {
    let (g, d) = (ParameterStore(backend: CPUBackend(), seed: 0), ParameterStore(backend: CPUBackend(), seed: 0))
    let binder = GraphBinder(graph: Graph())
    let c = model.config
    _ = try model.generator(binder, g, z: binder.graph.input([1, c.nz, 1, 1], name: "z"))
    _ = try model.discriminator(binder, d, image: binder.graph.input([1, c.channels, c.imageSize, c.imageSize], name: "x"), tag: "x")
    return (d.parameterCount * 4, g.parameterCount * 4)
  }
}
