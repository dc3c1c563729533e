import ArgumentParser
import Foundation
import KallimaBenchmarks
import KallimaCore
import KallimaGAN

/// `kallima bench dcgan`: whole DCGAN training steps per second on one device.
struct BenchDCGAN: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dcgan",
    abstract: "Time whole DCGAN training steps (D update then G update) replayed from their plans.")

  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).")
  var device: String?

  @OptionGroup var model: DCGANModelOptions

  @Option(help: "Timed steps.")
  var steps = 10

  @Flag(help: "Skip the SGEMM reference (no ratio).")
  var noReference = false

  @Flag(help: "Print JSON instead of text.")
  var json = false

  func validate() throws {
    guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
  }

  func run() throws {
    // A profiling queue: the per-node table comes from OpenCL events, not barriers.
    let backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device), profiling: true)
    let sgemm =
      noReference
      ? nil : try ReferenceFigures.measure(on: backend, policy: TimingPolicy(), sgemmSizes: [1024]).ratioGEMM
    let bench = DCGANBenchmark(
      config: model.config, batch: model.batch, steps: steps)
    let report = try bench.run(on: backend, sgemm: sgemm)
    if json {
      try printJSON(report)
    } else {
      print(report.text)
    }
  }
}
