import ArgumentParser
import Foundation
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaTrain

/// `kallima bench data`: DCGAN training throughput with the dataset resident on the device
/// (8-bit) or streamed from the host, whichever `--data-memory` allows; run it twice with
/// only the limit changed to compare the two paths.
struct BenchData: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data",
    abstract: "Time DCGAN steps fed from a resident or a streamed dataset (--data-memory decides).",
    discussion: """
      Loads --data (decoding, or mapping the dataset cache), runs 2 warm-up steps, then times \
      --steps steps with a device barrier at the end of the timed region. Prints images/s, the \
      path taken, and the host waits of the timed steps (blocking reads, synchronisations), the \
      stream's staging waits (filler thread) and stalls (training thread waited for the filler).
      """)

  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).")
  var device: String?
  @Option(help: "Image folder or idx file (default: the embedded Fashion-MNIST).") var data: String?
  @Option(help: "Image side.") var size = 64
  @Option(help: "Batch size.") var batch = 64
  @Option(help: "Timed steps.") var steps = 20
  @Option(help: "Generator and discriminator width (ngf = ndf).") var width = 16
  @Option(help: "Use at most this many images.") var limit: Int?
  @Option(name: .customLong("data-memory"), help: "Device memory the dataset may take, in MB (default: the backend's).")
  var dataMemory: Int?

  func validate() throws {
    guard batch >= 2, steps >= 1, width >= 1 else { throw ValidationError("--batch >= 2, --steps >= 1, --width >= 1") }
  }

  func run() throws {
    let backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device))
    var options = TrainingOptions()
    options.data = data
    (options.size, options.batch, options.limit) = (size, batch, limit)
    options.dataMemory = dataMemory.map { $0 << 20 }
    let start = Date()
    let dataset = try ImageDataset.load(path: options.dataPath, size: size, channels: nil, limit: limit)
    let loadSeconds = Date().timeIntervalSince(start)
    var notes: [String] = []
    let (source, images) = try TrainingRun.realSource(
      dataset, options: options, backend: backend, seed: 0xDA7A
    ) { if case .note(let n) = $0 { notes.append(n) } }
    let config = DCGANConfig(nz: 100, ngf: width, ndf: width, channels: dataset.channels, imageSize: size)
    let trainer = try GANTrainer(backend: backend, config: config, batch: batch, seed: 1, data: source)
    for _ in 0..<2 { try trainer.step() }
    try backend.synchronize()
    let before = backend.traffic
    var stream: ImageStream?
    if case .streamed(let s, _, _, _) = source { stream = s as? ImageStream }
    let stallsBefore = stream?.stalls ?? 0
    let timer = Date()
    for _ in 0..<steps { try trainer.step() }
    try backend.synchronize()
    let seconds = Date().timeIntervalSince(timer)
    var traffic = backend.traffic.since(before)
    traffic.synchronizations -= 1  // the timing barrier
    let budget = options.dataMemory ?? backend.defaultDataMemory
    print("device: \(backend.name)")
    print(
      "data: \(dataset.count) images \(dataset.channels)x\(size)x\(size), \(String(format: "%.1f", Double(dataset.bytes.count) / 1_048_576)) MB as 8-bit; "
        + "budget \(String(format: "%.1f", Double(budget) / 1_048_576)) MB; loaded in \(String(format: "%.2f", loadSeconds)) s")
    print("path: \(images != nil ? "resident (8-bit on the device)" : "streamed (\(stream?.depth ?? 0) batches ahead)")")
    print(
      String(
        format: "%d steps of batch %d (DCGAN width %d): %.3f s, %.1f img/s", steps, batch, width, seconds,
        Double(steps * batch) / seconds))
    print(
      "timed steps: \(traffic.hostWaits) host waits (\(traffic.blockingReads) reads, \(traffic.synchronizations) syncs), "
        + "\(traffic.throttleWaits) queue-bound waits, \(traffic.stagingWaits) staging waits, "
        + "\((stream?.stalls ?? 0) - stallsBefore) stream stalls, \(traffic.bytesToDevice) B to device")
    for n in notes { print("note: \(n)") }
  }
}
