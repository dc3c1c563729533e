import ArgumentParser
import Foundation
import KallimaCore
import KallimaOpenCL
import KallimaSelfTest

/// `kallima selftest`: does this device compute Kallima's kernels correctly?
struct SelfTestCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selftest",
    abstract: "Check that a device computes every op like the CPU reference, then train a few DCGAN steps on both.",
    discussion: """
      Runs the op catalog's parity cases (every op, forward and backward, on shapes around \
      work-group edges: the same cases as the test suite) on the device and on the CPU \
      reference from the same values, compares every tensor within each op's tolerance, then \
      trains a narrow DCGAN for a few steps on both and compares losses, weights and optimiser \
      state. Prints one row per op and every failure with its op and shapes; exits 1 when \
      anything fails. --quick runs the first two and the last case of each op (about a \
      minute on PoCL with its kernel cache warm).
      """)

  @Option(help: "opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).")
  var device: String?

  @Flag(help: "The first two and the last case of each op, and 3 training steps instead of 5.")
  var quick = false

  @Option(help: "Only cases whose 'op shapes' text contains this (case-insensitive).")
  var filter: String?

  @Flag(help: "Skip the DCGAN training comparison.")
  var noTraining = false

  @Flag(help: "Print the report as JSON on standard output (progress stays on standard error).")
  var json = false

  func run() throws {
    let selector = DeviceSelection.selector(device)
    guard selector != "cpu" else {
      throw KallimaError.invalidArgument(
        op: "selftest", message: "--device cpu is the reference itself; choose an OpenCL device (see `kallima devices`)")
    }
    if let filter, SelfTest.cases(quick: quick, filter: filter).isEmpty {
      throw KallimaError.invalidArgument(
        op: "selftest", message: "no parity case matches --filter '\(filter)' (case names are 'op shapes', e.g. conv2d_fwd)")
    }
    let backend = try DeviceSelection.makeBackend(selector, suggestTuning: false)
    let progress = ProgressLine()
    let report = try SelfTest.run(
      on: backend, deviceName: backend.name, quick: quick, filter: filter, trainingSteps: noTraining ? 0 : (quick ? 3 : 5)
    ) { done, total, result in
      if !result.passed {
        progress.finish()
        printError("FAIL \(result.name): \(result.problems.joined(separator: "; "))")
      }
      if progress.isTerminal || done % 100 == 0 || done == total {
        progress.update(done: done, total: total, result.op)
      }
    }
    progress.finish()
    if json {
      try printJSON(report)
    } else {
      print(report.table)
    }
    if !report.passed { throw ExitCode(1) }
  }
}
