import ArgumentParser
import Foundation
import KallimaBenchmarks
import KallimaCore
import KallimaGAN
import KallimaOpenCL

/// `kallima tune`: measures the fastest GEMM algorithm per shape on one OpenCL device and
/// writes the device's tuning table, which every later backend on the device loads.
struct Tune: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure the fastest GEMM algorithm per shape on an OpenCL device and save its tuning table.",
    discussion: """
      Collects the GEMM shapes of one DCGAN training step (or takes --shapes), times CLBlast \
      and each of Kallima's GEMM kernel tiles on every shape, keeps the fastest, and writes \
      the table to tuning/ in the cache folder ($KALLIMA_CACHE_DIR, else $XDG_CACHE_HOME/kallima, \
      else ~/.cache/kallima). Every later run on the device loads it; `kallima devices` shows \
      which devices are tuned; KALLIMA_TUNING=off ignores tables.
      """)

  @Option(help: "opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).")
  var device: String?

  @Option(help: "The model whose GEMM shapes are tuned: dcgan.")
  var model = "dcgan"

  @OptionGroup var dcgan: DCGANModelOptions

  @Option(help: "Explicit GEMM shapes MxNxK, comma-separated (instead of --model's).")
  var shapes: String?

  @Option(help: "Seconds for the whole search; when they run out the best so far is kept.")
  var budget = 900.0

  @Option(help: "Timed runs per candidate (best of), after one run that compiles.")
  var repetitions = 3

  @Option(
    name: .customLong("clblast-search"),
    help: """
      CLBlast Xgemm parameter sets to sample and time on the largest shape before the per-shape \
      search (default 0 on CPUs: under PoCL each set costs ~20-30 s of compiling, and CLBlast \
      ran 2-46x slower than Kallima's kernel on every DCGAN shape; 24 on other devices).
      """)
  var clblastSearch: Int?

  @Flag(help: "Print the shapes and the candidate counts only.")
  var dryRun = false

  @Flag(
    help: """
      Drop the shapes of the table in effect that this run does not time (by default the new \
      table keeps them, so tuning a second model adds its shapes).
      """)
  var replace = false

  @Flag(help: "Print the table as JSON instead of the summary.")
  var json = false

  func validate() throws {
    guard budget > 0 else { throw ValidationError("--budget must be positive (seconds)") }
    guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
    guard (clblastSearch ?? 0) >= 0 else { throw ValidationError("--clblast-search must be 0 or more") }
    if shapes == nil && model != "dcgan" {
      throw ValidationError("--model '\(model)' is not known: use dcgan, or give --shapes MxNxK,...")
    }
    if let shapes { _ = try Tune.parseShapes(shapes) }
  }

  /// "1024x1024x1024,64x4096x48" → shapes; throws naming the first bad one.
  static func parseShapes(_ text: String) throws -> [GemmShape] {
    try text.split(separator: ",").map { part in
      let dims = part.trimmingCharacters(in: .whitespaces).lowercased().split(separator: "x").map { Int($0) }
      guard dims.count == 3, let m = dims[0], let n = dims[1], let k = dims[2], m > 0, n > 0, k > 0 else {
        throw ValidationError("--shapes: '\(part)' is not MxNxK with positive integers (e.g. 1024x1024x1024)")
      }
      return GemmShape(m: m, n: n, k: k)
    }
  }

  func run() throws {
    let selector = DeviceSelection.selector(device)
    guard selector.hasPrefix("opencl") else {
      throw KallimaError.invalidArgument(
        op: "tune", message: "--device \(selector): only OpenCL devices are tuned (see `kallima devices`)")
    }
    let backend = try OpenCLBackend(selector: selector)
    let started = Date()
    let shapeList = try shapes.map(Tune.parseShapes) ?? modelShapes(backend)
    let tuner = GemmTuner(backend: backend, budget: budget)
    let searchCount = clblastSearch ?? (backend.device.type == "CPU" ? 0 : 24)
    if dryRun {
      printDryRun(shapeList, tuner: tuner, searchCount: searchCount, backend: backend)
      return
    }
    let progress = ProgressLine()
    printError(
      "tuning \(backend.device.description): \(shapeList.count) shapes × \(tuner.algorithms.count) candidates, "
        + "budget \(Int(budget)) s")
    if searchCount > 0, let largest = shapeList.max(by: { $0.flops < $1.flops }) {
      try searchCLBlast(backend, shape: largest, count: searchCount, progress: progress)
    }
    let result = try searchGemm(tuner, shapes: shapeList, budget: budget - Date().timeIntervalSince(started), progress: progress)
    guard !result.choices.isEmpty else {
      throw KallimaError.invalidArgument(
        op: "tune", message: "no candidate was timed within --budget \(budget) s; nothing saved (give more seconds)")
    }
    let kept = replace ? [] : keptChoices(backend, timed: Set(result.choices.map(\.shape)))
    let table = TuningTable(
      device: .init(backend.device), clblast: backend.clblastOverrides, gemm: result.choices + kept,
      fallback: result.fallback,
      measured: .init(
        date: ISO8601DateFormatter().string(from: started), budgetSeconds: budget,
        secondsSpent: Date().timeIntervalSince(started), complete: result.complete, repetitions: repetitions,
        command: (["kallima"] + CommandLine.arguments.dropFirst()).joined(separator: " ")))
    let path = try save(table)
    if json {
      print(String(decoding: try table.encoded(), as: UTF8.self))
      if let path { printError("tuning table: \(path)") }
    } else {
      printSummary(table, path: path)
    }
  }

  /// Samples CLBlast Xgemm parameter sets on `shape` (a third of the budget at most) and
  /// leaves the fastest applied, so the per-shape search times CLBlast with it.
  func searchCLBlast(_ backend: OpenCLBackend, shape: GemmShape, count: Int, progress: ProgressLine) throws {
    var search = XgemmSearch(backend: backend, shape: shape, budget: budget / 3, count: count)
    search.progress = { index, count, trial in
      progress.update(
        done: index, total: count,
        "CLBlast Xgemm set \(index)/\(count) on \(shape): "
          + (trial.seconds.map { String(format: "%.1f GFLOP/s", shape.flops / $0 / 1e9) } ?? trial.failure ?? "-"))
    }
    try search.run()
    progress.finish()
  }

  /// The per-shape search in the seconds left of the budget.
  func searchGemm(_ tuner: GemmTuner, shapes: [GemmShape], budget: Double, progress: ProgressLine) throws
    -> GemmTuner.Result
  {
    var search = tuner
    search.repetitions = repetitions
    search.budget = max(1, budget)
    search.progress = { step in
      let result =
        step.seconds.map { String(format: "%.1f GFLOP/s", step.shape.flops / $0 / 1e9) }
        ?? "failed: \(step.failure ?? "")"
      progress.update(
        done: step.done, total: step.total,
        "\(step.algorithm) on \(step.shape): \(result) (\(Int(step.elapsed)) s of \(Int(budget)))")
    }
    defer { progress.finish() }
    return try search.run(shapes: shapes)
  }

  /// The entries of the table in effect on the device (the user's, else the shipped one) for
  /// shapes this run did not time; they stay in the new table unless --replace.
  func keptChoices(_ backend: OpenCLBackend, timed: Set<GemmShape>) -> [TuningTable.ShapeChoice] {
    guard let current = DeviceTuning.resolve(for: backend.device).table else { return [] }
    let kept = current.gemm.filter { !timed.contains($0.shape) }
    if !kept.isEmpty {
      printError(
        "keeping \(kept.count) shapes of the table in effect that this run did not time (--replace drops them)")
    }
    return kept
  }

  /// The GEMM shapes one training step of the model launches (recorded on `backend`).
  func modelShapes(_ backend: OpenCLBackend) throws -> [GemmShape] {
    let trainer = try GANTrainer(
      backend: backend, config: dcgan.config, batch: dcgan.batch, seed: 1, noise: .device(seed: 2))
    try backend.random_uniform(trainer.real, stream: RandomStream(seed: 3), low: -1, high: 1)
    let recorded = try backend.recordingGemmShapes {
      try trainer.step()
      try backend.synchronize()
    }
    guard !recorded.isEmpty else {
      throw KallimaError.invalidArgument(
        op: "tune",
        message: "a DCGAN step on \(backend.device.name) launched no GEMM through Kallima's selectable path "
          + "(this build's convolutions call CLBlast directly); give the shapes with --shapes MxNxK,...")
    }
    return recorded.sorted { ($0.flops, $0) > ($1.flops, $1) }
  }

  /// Writes the table to the cache folder's tuning/; nil (with a note) when the cache is off.
  func save(_ table: TuningTable) throws -> String? {
    guard let directory = DeviceTuning.defaultDirectory() else {
      printError("kallima: KALLIMA_CACHE_DIR=off: the table is not saved (--json prints it)")
      return nil
    }
    return try DeviceTuning.write(table, directory: directory).path
  }

  func printDryRun(_ shapes: [GemmShape], tuner: GemmTuner, searchCount: Int, backend: OpenCLBackend) {
    var table = TextTable(header: ["shape MxNxK", "GFLOP", "candidates"], leftAligned: [0])
    for shape in shapes {
      table.append([shape.description, String(format: "%.4g", shape.flops / 1e9), String(tuner.algorithms.count)])
    }
    table.render().forEach { print($0) }
    print(
      "\(shapes.count) shapes × \(tuner.algorithms.count) candidates (\(tuner.algorithms.map(\.description).joined(separator: ", "))) "
        + "= \(shapes.count * tuner.algorithms.count) timings on \(backend.device.description); "
        + "CLBlast Xgemm sets: \(searchCount); budget \(Int(budget)) s")
  }

  func printSummary(_ table: TuningTable, path: String?) {
    var text = TextTable(
      header: [
        "shape MxNxK", "GFLOP", "winner", "GFLOP/s", "CLBlast GFLOP/s", "speed-up", "untuned GFLOP/s", "speed-up",
        "runner-up",
      ],
      leftAligned: [0, 2, 8])
    func rate(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "-" }
    func ratio(_ value: Double?) -> String { value.map { String(format: "%.2fx", $0) } ?? "-" }
    for c in table.gemm {
      text.append([
        c.shape.description, String(format: "%.4g", c.shape.flops / 1e9), c.algorithm.description, rate(c.gflops),
        rate(c.clblastGflops), ratio(c.speedupOverCLBlast), rate(c.untunedGflops), ratio(c.speedupOverUntuned),
        c.runnerUp?.description ?? "-",
      ])
    }
    text.render().forEach { print($0) }
    let totalWinner = table.gemm.reduce(0) { $0 + $1.seconds }
    let totalCLBlast = table.gemm.reduce(0) { $0 + ($1.clblastSeconds ?? $1.seconds) }
    let totalUntuned = table.gemm.reduce(0) { $0 + ($1.untunedSeconds ?? $1.seconds) }
    print(
      String(
        format: "one pass over the shapes: %.1f ms with the winners, %.1f ms with CLBlast (%.2fx), "
          + "%.1f ms untuned (%.2fx); fallback %@",
        totalWinner * 1000, totalCLBlast * 1000, totalCLBlast / max(totalWinner, 1e-12), totalUntuned * 1000,
        totalUntuned / max(totalWinner, 1e-12), table.fallback.description))
    print(
      String(format: "searched %.0f s of a %.0f s budget%@", table.measured.secondsSpent, table.measured.budgetSeconds,
        table.measured.complete ? "" : " (ran out: the best of the candidates timed so far is kept)"))
    print(path.map { "tuning table: \($0)" } ?? "tuning table not saved (KALLIMA_CACHE_DIR=off)")
  }
}

/// Progress on standard error: a bar redrawn in place on a terminal, plain lines otherwise
/// (no control codes when standard error is a file or a pipe).
final class ProgressLine {
  let isTerminal = isatty(STDERR_FILENO) != 0
  private var drawn = false

  func update(done: Int, total: Int, _ text: String) {
    if isTerminal {
      let width = 24
      let filled = total > 0 ? min(width, width * done / total) : 0
      let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
      FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(done)/\(total) \(text)".utf8))
      drawn = true
    } else {
      printError("[\(done)/\(total)] \(text)")
    }
  }

  /// Ends the bar's line.
  func finish() {
    if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    drawn = false
  }
}
