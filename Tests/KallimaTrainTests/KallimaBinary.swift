import Foundation
import KallimaCore
import KallimaTrain
import Testing

/// The built `kallima` executable: `$KALLIMA_BINARY`, else the one beside the test bundle
/// (`.build/<config>/kallima`; `swift build` and `swift test` build it there).
func kallimaBinary() throws -> String {
  if let path = ProcessInfo.processInfo.environment["KALLIMA_BINARY"], !path.isEmpty { return path }
  // The test process is .build/<config>/KallimaPackageTests.xctest (Linux) or a file inside
  // that bundle (macOS): look in its folder and the folders above it.
  var folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
  if !FileManager.default.fileExists(atPath: folder.path) { folder = Bundle.main.bundleURL }
  var looked: [String] = []
  for _ in 0..<4 {
    folder.deleteLastPathComponent()
    let candidate = folder.appendingPathComponent("kallima").path
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    looked.append(candidate)
  }
  throw KallimaError.io(
    path: looked.first ?? "kallima",
    message: "the kallima executable is not beside the test bundle (looked at \(looked.joined(separator: ", "))); "
      + "build it with `swift build` (`swift test` builds it too), or set KALLIMA_BINARY to its path")
}

/// A `kallima` child process (started with Foundation's Process, i.e. posix_spawn: no
/// fork() atfork handlers run in this process) whose standard error is collected as it
/// arrives.
final class KallimaProcess {
  let process = Process()
  private let pipe = Pipe()
  private let lock = NSLock()
  private var collected = Data()

  /// Starts `kallima arguments` with `environment` added to this process's, its standard
  /// output going to the file `output` (created) or nowhere.
  init(_ arguments: [String], environment: [String: String] = [:], output: String? = nil) throws {
    process.executableURL = URL(fileURLWithPath: try kallimaBinary())
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let output {
      _ = FileManager.default.createFile(atPath: output, contents: nil)
      process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    } else {
      process.standardOutput = FileHandle.nullDevice
    }
    process.standardError = pipe
    pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
      let data = handle.availableData
      guard let self, !data.isEmpty else { return }
      self.lock.lock()
      self.collected.append(data)
      self.lock.unlock()
    }
    try process.run()
  }

  var pid: Int32 { process.processIdentifier }

  /// Standard error so far.
  var stderr: String {
    lock.lock()
    defer { lock.unlock() }
    return String(decoding: collected, as: UTF8.self)
  }

  /// Waits until standard error contains `text`; false if the process ended or `timeout`
  /// passed first.
  func waitFor(_ text: String, timeout: Double = 300) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if stderr.contains(text) { return true }
      if !process.isRunning { return stderr.contains(text) }
      usleep(2_000)
    }
    return false
  }

  func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

  /// Waits for the exit (killing the process after `timeout` seconds) and returns how it
  /// ended: `(status, signalled)`, where status is the exit code or the signal number.
  func wait(timeout: Double = 600) -> (status: Int32, signalled: Bool) {
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(5_000) }
    if process.isRunning {
      Issue.record("kallima \(process.arguments ?? []) still running after \(timeout) s; killed\n\(stderr)")
      process.terminate()
    }
    process.waitUntilExit()
    // Collect what is still in the pipe.
    pipe.fileHandleForReading.readabilityHandler = nil
    if let rest = try? pipe.fileHandleForReading.readToEnd() {
      lock.lock()
      collected.append(rest)
      lock.unlock()
    }
    return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
  }

  /// Runs `kallima arguments` to the end; records an issue with its standard error unless
  /// it exits with `expecting`.
  @discardableResult
  static func run(
    _ arguments: [String], environment: [String: String] = [:], expecting: Int32 = 0,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> String {
    let p = try KallimaProcess(arguments, environment: environment)
    let (status, signalled) = p.wait()
    #expect(
      status == expecting && !signalled, "kallima \(arguments.joined(separator: " ")) ended with \(status)\n\(p.stderr)",
      sourceLocation: sourceLocation)
    return p.stderr
  }
}

/// Every tensor of a checkpoint file as bit patterns, by name.
func checkpointBits(_ path: String) throws -> [String: [UInt32]] {
  let c = try Checkpoint.read(path)
  return Dictionary(uniqueKeysWithValues: c.tensors.map { ($0.name, $0.values.map(\.bitPattern)) })
}

/// Expects two checkpoints' tensors to be bit-identical, naming the first that is not.
func expectSameTensors(
  _ actual: [String: [UInt32]], _ expected: [String: [UInt32]], _ label: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.keys.sorted() == expected.keys.sorted(), "\(label): tensor names differ", sourceLocation: sourceLocation)
  let differing = expected.keys.sorted().filter { actual[$0] != expected[$0] }
  #expect(differing.isEmpty, "\(label): \(differing.count) tensors differ, first \(differing.first ?? "")",
    sourceLocation: sourceLocation)
}
