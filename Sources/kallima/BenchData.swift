import ArgumentParser
import Foundation
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaTrain

/// `kallima bench data`: DCGAN training throughput with the dataset resident on the device
/// (8-bit) or streamed from the host, whichever `--data-memory` allows; `--versus-resident`
/// also runs the resident path in the same process, alternating rounds, so that a busy
/// machine's drift falls on both alike.
struct BenchData: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data",
    abstract: "Time DCGAN steps fed from a resident or a streamed dataset (--data-memory decides).",
    discussion: """
      Loads --data (decoding, or mapping the dataset cache), runs 2 warm-up steps per path, \
      then times --rounds rounds of --steps steps, each ending with a device barrier inside \
      the timed region. Prints images/s per round and the median, the path taken, and the \
      timed steps' host waits (blocking reads, synchronisations besides the barriers), the \
      stream's staging waits (its filler thread) and stalls (the training thread waited for \
      the filler).
      """)

  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).")
  var device: String?
  @Option(help: "Image folder or idx file (default: the embedded Fashion-MNIST).") var data: String?
  @Option(help: "Image side.") var size = 64
  @Option(help: "Batch size.") var batch = 64
  @Option(help: "Timed steps per round.") var steps = 20
  @Option(help: "Timed rounds.") var rounds = 1
  @Option(help: "Generator and discriminator width (ngf = ndf).") var width = 16
  @Option(help: "Use at most this many images.") var limit: Int?
  @Option(name: .customLong("data-memory"), help: "Device memory the dataset may take, in MB (default: the backend's).")
  var dataMemory: Int?
  @Flag(name: .customLong("versus-resident"), help: "Also time the resident path, alternating rounds with this one.")
  var versusResident = false

  func validate() throws {
    guard batch >= 2, steps >= 1, rounds >= 1, width >= 1 else {
      throw ValidationError("--batch >= 2, --steps, --rounds and --width >= 1")
    }
  }

  /// One way of feeding the trainer, with its figures.
  final class Path {
    let name: String
    let trainer: GANTrainer
    let stream: ImageStream?
    var rates: [Double] = []
    var traffic = HostTraffic()
    var stalls = 0
    init(name: String, trainer: GANTrainer, stream: ImageStream?) {
      (self.name, self.trainer, self.stream) = (name, trainer, stream)
    }
  }

  func run() throws {
    let backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device), suggestTuning: false)
    let start = Date()
    let dataset = try ImageDataset.load(
      path: data ?? TrainingOptions.embeddedData, size: size, channels: nil, limit: limit)
    let loadSeconds = Date().timeIntervalSince(start)
    let megabytes = { (bytes: Int) in String(format: "%.1f MB", Double(bytes) / 1_048_576) }
    print("device: \(backend.name)")
    print(
      "data: \(dataset.count) images \(dataset.channels)x\(size)x\(size), \(megabytes(dataset.bytes.count)) as 8-bit; "
        + "loaded in \(String(format: "%.2f", loadSeconds)) s")
    let config = DCGANConfig(nz: 100, ngf: width, ndf: width, channels: dataset.channels, imageSize: size)
    func path(budget: Int?) throws -> Path {
      var options = TrainingOptions()
      (options.batch, options.dataMemory) = (batch, budget)
      let (source, images) = try TrainingRun.realSource(dataset, options: options, backend: backend, seed: 0xDA7A) { _ in }
      var stream: ImageStream?
      if case .streamed(let s, _, _, _) = source { stream = s as? ImageStream }
      let trainer = try GANTrainer(backend: backend, config: config, batch: batch, seed: 1, data: source)
      for _ in 0..<2 { try trainer.step() }
      let limit = megabytes(budget ?? backend.defaultDataMemory)
      let name = images != nil
        ? "resident (8-bit on the device; limit \(limit))" : "streamed (\(stream!.depth) batches ahead; limit \(limit))"
      return Path(name: name, trainer: trainer, stream: stream)
    }
    let paths = [try path(budget: dataMemory.map { $0 << 20 })] + (versusResident ? [try path(budget: nil)] : [])
    for round in 1...rounds {
      for p in paths {
        try backend.synchronize()
        let (before, stalls) = (backend.traffic, p.stream?.stalls ?? 0)
        let timer = Date()
        for _ in 0..<steps { try p.trainer.step() }
        try backend.synchronize()
        let seconds = Date().timeIntervalSince(timer)
        var traffic = backend.traffic.since(before)
        traffic.synchronizations -= 1  // the barrier
        p.traffic = p.traffic.adding(traffic)
        p.stalls += (p.stream?.stalls ?? 0) - stalls
        p.rates.append(Double(steps * batch) / seconds)
        print(String(format: "round %d, %@: %.1f img/s (%.2f s)", round, p.name, p.rates.last!, seconds))
      }
    }
    for p in paths {
      let median = p.rates.sorted()[p.rates.count / 2]
      print(String(format: "%@: median %.1f img/s over %d rounds of %d steps, batch %d, DCGAN width %d", p.name, median, rounds, steps, batch, width))
      print(
        "  timed steps: \(p.traffic.hostWaits) host waits (\(p.traffic.blockingReads) reads, \(p.traffic.synchronizations) syncs), "
          + "\(p.traffic.throttleWaits) queue-bound waits, \(p.traffic.stagingWaits) staging waits, \(p.stalls) stream stalls, "
          + "\(p.traffic.bytesToDevice) B to device")
    }
    if paths.count == 2 {
      let ratios = zip(paths[0].rates, paths[1].rates).map { $0 / $1 }
      print(
        "streamed/resident per round: " + ratios.map { String(format: "%.3f", $0) }.joined(separator: " ")
          + String(format: "; median %.3f", ratios.sorted()[ratios.count / 2]))
    }
  }
}

extension HostTraffic {
  fileprivate func adding(_ other: HostTraffic) -> HostTraffic {
    var sum = self
    sum.blockingReads += other.blockingReads
    sum.synchronizations += other.synchronizations
    sum.bytesToDevice += other.bytesToDevice
    sum.bytesFromDevice += other.bytesFromDevice
    sum.throttleWaits += other.throttleWaits
    sum.stagingWaits += other.stagingWaits
    return sum
  }
}
