import ArgumentParser
import Foundation
import KallimaBenchmarks
import KallimaCore
import KallimaGAN

/// `kallima bench stackgan`: whole StackGAN training steps per second at one stage (stage
/// II with its frozen stage I inside G), on random images and text embeddings.
struct BenchStackGAN: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stackgan",
    abstract: "Time whole StackGAN training steps (stage I, or stage II around a frozen stage I); defaults are the reference's birds sizes.")

  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).") var device: String?
  @Option(help: "1 or 2.") var stage = 1
  @Option(help: "The stage's image side (default 64 for stage I, 256 for stage II).") var size: Int?
  @Option(help: "Batch size.") var batch = 64
  @Option(help: "G width (GF_DIM; stage I's G is 8x it at 4x4).") var ngf = 128
  @Option(help: "D width (DF_DIM).") var ndf = 64
  @Option(name: .customLong("stage1-width"), help: "Stage II: stage I's GF_DIM.") var stageOneWidth = 128
  @Option(name: .customLong("residual-blocks"), help: "Stage II: residual blocks (R_NUM).") var residualBlocks = 4
  @Option(name: .customLong("text-dim"), help: "Values per text embedding.") var textDimension = 1024
  @Option(name: .customLong("condition-dim"), help: "ĉ's features (CONDITION_DIM).") var conditionDimension = 128
  @Option(help: "z's features.") var nz = 100
  @Option(help: "Timed steps.") var steps = 5
  @Flag(help: "Print JSON instead of text.") var json = false

  func validate() throws {
    guard steps >= 1, batch >= 2 else { throw ValidationError("--steps must be at least 1 and --batch at least 2") }
  }

  func run() throws {
    let side = size ?? (stage == 1 ? 64 : 256)
    let model = try StackGAN(
      StackGAN.Config(
        stage: stage, side: side, textDimension: textDimension, conditionDimension: conditionDimension, nz: nz, gf: ngf, df: ndf,
        stageOneGF: stageOneWidth, residualBlocks: residualBlocks))
    let backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device), profiling: true)
    var bench = DCGANBenchmark(
      config: DCGANConfig(nz: nz, ngf: ngf, ndf: ndf, channels: 3, imageSize: side), batch: batch, steps: steps)
    bench.recipe = model.recipe()
    bench.model = "StackGAN stage \(stage == 1 ? "I" : "II")"
    let report = try bench.run(on: backend)
    if json {
      try printJSON(report)
    } else {
      print(report.text)
    }
  }
}
