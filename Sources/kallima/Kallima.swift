import ArgumentParser
import Foundation
import KallimaCore

/// The `kallima` command line. Errors (`KallimaError`) print their message and exit with
/// `KallimaError.exitStatus`: 1 bad input, 2 device failure, 3 training diverged.
@main
struct Kallima: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kallima",
    abstract: "GAN training on any OpenCL device, from Swift.",
    discussion: """
      Devices: --device cpu (reference backend), opencl (the first OpenCL device) or \
      opencl:PLATFORM:DEVICE as listed by `kallima devices`; the default comes from \
      KALLIMA_DEVICE, else opencl.
      """,
    subcommands: [Train.self, Translate.self, SweepCommand.self, Sample.self, Interpolate.self, Nearest.self, FID.self, Runs.self, Devices.self, SelfTestCommand.self, Tune.self, Bench.self, MakeCaptioned.self, MakeTranslationData.self, CaptionAccuracyCommand.self])

  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch let error as KallimaError {
      FileHandle.standardError.write(Data("kallima: \(error.description)\n".utf8))
      Foundation.exit(error.exitStatus)
    } catch {
      exit(withError: error)
    }
  }
}

/// `kallima bench ...`
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Microbenchmarks and training throughput.", subcommands: [BenchOps.self, BenchDCGAN.self, BenchPix2Pix.self, BenchCycleGAN.self, BenchData.self])
}

/// Writes one line to standard error.
func printError(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}
