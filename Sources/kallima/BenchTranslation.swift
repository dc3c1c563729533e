import ArgumentParser
import Foundation
import KallimaBenchmarks
import KallimaCore

/// `kallima bench pix2pix` and `kallima bench cyclegan`: whole training iterations per second.
struct BenchTranslation: ParsableArguments {
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).") var device: String?
  @Option(help: "Image side (a power of two from 32; 256 as the papers).") var size = 256
  @Option(help: "Batch size (1 as the reference).") var batch = 1
  @Option(help: "Timed iterations.") var steps = 5
  @Option(help: "G width (ngf).") var ngf = 64
  @Option(help: "D width (ndf).") var ndf = 64
  @Flag(help: "Print JSON instead of text.") var json = false

  func run(_ method: TranslationBenchmark.Method) throws {
    guard steps >= 1, batch >= 1 else { throw ValidationError("--steps and --batch must be at least 1") }
    let backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device), profiling: true)
    let report = try TranslationBenchmark(method: method, size: size, batch: batch, ngf: ngf, ndf: ndf, steps: steps)
      .run(on: backend)
    if json {
      try printJSON(report)
    } else {
      print(report.text)
    }
  }
}

struct BenchPix2Pix: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pix2pix", abstract: "Time whole pix2pix iterations (unet_<size> G with dropout, 70x70 PatchGAN D, batch norm).")
  @OptionGroup var flags: BenchTranslation
  func run() throws { try flags.run(.pix2pix) }
}

struct BenchCycleGAN: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cyclegan", abstract: "Time whole CycleGAN iterations (two ResNet Gs, two PatchGAN Ds, instance norm, pools).")
  @OptionGroup var flags: BenchTranslation
  func run() throws { try flags.run(.cyclegan) }
}
