import ArgumentParser
import Foundation
import KallimaBenchmarks
import KallimaCore
import KallimaOpenCL

/// `kallima bench ops`: every op at DCGAN-64 scale, next to SGEMM and copy-bandwidth
/// figures measured on the same device.
struct BenchOps: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ops",
    abstract: "Time every op at DCGAN-64 scale against SGEMM and copy bandwidth on the same device.")

  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).")
  var device: String?

  @Option(help: "Batch size of the benchmark shapes (the cpu backend wants a small one).")
  var batch = 64

  @Option(help: "Only cases whose 'op detail' contains this text (case-insensitive).")
  var filter: String?

  @Option(help: "Seconds each case is repeated for, at least.")
  var minTime = 0.3

  @Option(help: "Timed runs per case, at least.")
  var minRuns = 3

  @Option(help: "Timed runs per case, at most.")
  var maxRuns = 1000

  @Option(help: "Untimed warm-up runs per case.")
  var warmups = 1

  @Flag(help: "Skip the SGEMM and copy reference figures (no ratio column).")
  var noReference = false

  @Flag(help: "Print JSON instead of a table.")
  var json = false

  @Flag(help: "No progress lines on standard error.")
  var quiet = false

  @Flag(help: "List the selected cases and exit.")
  var list = false

  func validate() throws {
    guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    guard minRuns >= 1, maxRuns >= minRuns else { throw ValidationError("need 1 <= --min-runs <= --max-runs") }
    guard warmups >= 1 else { throw ValidationError("--warmups must be at least 1") }
  }

  func run() throws {
    let quiet = self.quiet
    let benchmark = OpBenchmark(
      batch: batch, filter: filter,
      policy: TimingPolicy(warmups: warmups, minSeconds: minTime, minRepetitions: minRuns, maxRepetitions: maxRuns),
      sgemmSizes: noReference ? [] : [512, 1024],
      progress: { i, n, name in
        if !quiet { printError((i < n ? "[\(i + 1)/\(n)] " : "[reference] ") + name) }
      })
    let cases = benchmark.cases()
    if list {
      cases.forEach { print($0.name) }
      return
    }
    if cases.isEmpty {
      throw KallimaError.invalidArgument(
        op: "bench ops", message: "no benchmark case matches '\(filter ?? "")'; `kallima bench ops --list` shows them")
    }
    let selector = DeviceSelection.selector(device)
    let start = Date()
    let backend = try DeviceSelection.makeBackend(selector)
    let createBackend = Date().timeIntervalSince(start)
    if !quiet { printError("kallima bench ops on \(backend.name), batch \(batch)") }
    var report = try benchmark.run(on: backend)
    if let first = report.cases.first {
      report.startup = StartupTimes(
        createBackend: createBackend, firstOp: first.timing.firstRun, firstOpName: "\(first.op) \(first.detail)")
    }
    if let cl = backend as? OpenCLBackend { report.programCache = cl.programCacheSummary }
    if let s = report.startup {
      printError(
        String(format: "start-up: %.3f s (create backend %.3f s + first op %.3f s)", s.total, s.createBackend, s.firstOp)
          + "; program cache: \(report.programCache ?? "n/a")")
    }
    if json {
      print(String(decoding: try report.jsonData(), as: UTF8.self))
    } else {
      print(report.renderTable(), terminator: "")
    }
  }
}
