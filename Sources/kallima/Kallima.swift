import ArgumentParser
import Foundation
import KallimaCore
import KallimaMPI
import KallimaTrain

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
    version: Kallima.version,
    subcommands: [Train.self, Translate.self, SweepCommand.self, Sample.self, Interpolate.self, Nearest.self, FID.self, Runs.self, Devices.self, SelfTestCommand.self, Tune.self, Bench.self, MakeCaptioned.self, MakeTranslationData.self, CaptionAccuracyCommand.self])

  /// The data-parallel job of `kallima train` under mpirun, once it has started.
  nonisolated(unsafe) static var job: Collective?

  /// Starts this process's job (`Job.start`) and keeps it for `end`.
  static func startJob() throws -> Collective {
    let started = try Job.start()
    job = started
    return started
  }

  /// ", rank r of n (Open MPI v4.1.4)," for a rank of a job; empty for one process. Says so
  /// when the MPI library will not take calls from a second thread, so the gradient
  /// exchanges block instead of overlapping with the backward pass.
  static func rankClause(_ job: Collective) -> String {
    guard job.size > 1 else { return "" }
    let overlap = job.acceptsCallsFromAnyThread ? "" : "; no MPI_THREAD_SERIALIZED, so gradient exchanges do not overlap"
    return ", rank \(job.rank) of \(job.size) (\(job.description)\(overlap)),"
  }

  static var rankTag: String { job.map { $0.size > 1 ? " (rank \($0.rank) of \($0.size))" : "" } ?? "" }

  /// Prints `message` and exits with `status`, ending every rank of a job (MPI_Abort) on a
  /// failure: the other ranks would otherwise wait in their next collective forever. A stop
  /// by signal (128 + n) ends each rank on its own, after its checkpoint.
  static func end(status: Int32, message: String?) -> Never {
    if let message { FileHandle.standardError.write(Data((message + "\n").utf8)) }
    if let job, job.size > 1, status != 0, status <= 128 { job.abort(status: status) }
    Foundation.exit(status)
  }

  /// The release's version: `kallima --version`, and the name of `Scripts/package.sh`'s archive.
  static let version = "0.1.0"

  static func main() {
    let arguments = Array(CommandLine.arguments.dropFirst())
    do {
      let expanded = try withConfig(arguments)
      var command: ParsableCommand
      do { command = try parseAsRoot(expanded) } catch {
        if expanded != arguments, let path = configPath(arguments) {
          printError(
            "kallima: the command line was `kallima \(expanded.joined(separator: " "))` with the options of \(path) "
              + "(keys are long options without dashes; a flag takes true or false)")
        }
        throw error
      }
      try command.run()
    } catch let error as KallimaError {
      end(status: error.exitStatus, message: "kallima\(rankTag): \(error.description)")
    } catch {
      // A rank of a job that fails must end the whole job, or the others wait for it forever.
      if let job, job.size > 1 {
        let code = exitCode(for: error)
        end(status: code.rawValue, message: code.isSuccess || code.rawValue > 128 ? nil : "kallima\(rankTag): \(fullMessage(for: error))")
      }
      exit(withError: error)
    }
  }
}

extension Kallima {
  /// `kallima train [METHOD] … --config FILE …`: the arguments with the file's options
  /// (`RunConfig`) put before the command line's, so that the command line overrides them,
  /// and the method taken from the file when the command line names none.
  static func withConfig(_ arguments: [String]) throws -> [String] {
    guard arguments.first == "train", let path = configPath(arguments) else { return arguments }
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw KallimaError.io(path: path, message: "cannot read the config (\(error.localizedDescription))")
    }
    let (method, options) = try RunConfig.arguments(fromJSON: data, path: path)
    var rest = Array(arguments.dropFirst())
    var named: String?
    if let first = rest.first, RunConfig.methods.contains(first) { named = rest.removeFirst() }
    if let method, let named, method != named {
      throw KallimaError.invalidArgument(
        op: "kallima train", message: "the command line says \(named) and \(path) says \"method\": \"\(method)\"; keep one")
    }
    return ["train", named ?? method ?? "gan"] + options + rest
  }

  /// The value of `--config` (either `--config FILE` or `--config=FILE`), before any `--`.
  static func configPath(_ arguments: [String]) -> String? {
    for (i, argument) in arguments.enumerated() {
      if argument == "--" { return nil }
      if argument == "--config" { return i + 1 < arguments.count ? arguments[i + 1] : nil }
      if argument.hasPrefix("--config=") { return String(argument.dropFirst("--config=".count)) }
    }
    return nil
  }
}

/// `kallima bench ...`
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Microbenchmarks and training throughput.", subcommands: [BenchOps.self, BenchDCGAN.self, BenchStackGAN.self, BenchPix2Pix.self, BenchCycleGAN.self, BenchData.self, BenchAllreduce.self])
}

/// Writes `value` to standard output as indented JSON with sorted keys (`--json` reports).
func printJSON<T: Encodable>(_ value: T) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
  print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Writes one line to standard error.
func printError(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}
