import Foundation
import KallimaCore
import KallimaTrain
import Testing

/// `kallima train` as a user runs it, stopped by signals: a tiny DCGAN on 40 random 8x8
/// images on the OpenCL device (PoCL in CI). The CPU reference backend is not used: it keeps
/// its state in Double, which a float32 checkpoint rounds, so only OpenCL resumes bit-exactly.
enum SignalRun {
  static let steps = 150

  static var device: String {
    let env = ProcessInfo.processInfo.environment["KALLIMA_DEVICE"] ?? ""
    return env.hasPrefix("opencl") ? env : "opencl"
  }

  /// The data, written once for the whole suite (and never removed: a few KB in /tmp).
  static let data = Result<String, Error> {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kallima-signal-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let path = folder.appendingPathComponent("images-idx3-ubyte").path
    try writeIDX(path, count: 40)
    return path
  }

  /// `train` arguments for a run of `steps` steps.
  static func train(out: String, steps: Int = SignalRun.steps, checkpointEvery: Int = 25) throws -> [String] {
    ["train", "--data", try data.get(), "--size", "8", "--batch", "4", "--nz", "8", "--width", "4", "--seed", "11", "--flip",
     "--log-every", "5", "--sample-every", "1000", "--checkpoint-every", "\(checkpointEvery)", "--device", device,
     "--out", out, "--steps", "\(steps)"]
  }

  static func resume(_ out: String) -> [String] { ["train", "--resume", out, "--device", device] }

  /// The final checkpoint of an uninterrupted run, computed once.
  static let reference: Result<[String: [UInt32]], Error> = Result {
    let folder = try TemporaryFolder()
    try KallimaProcess.run(try train(out: folder.path("run")))
    return try checkpointBits(folder.path("run/checkpoints/latest.safetensors"))
  }
}

@Suite("kallima train under signals", .serialized)
struct SignalTests {
  @Test("SIGINT / SIGTERM mid-run: exit 128+n, a complete checkpoint, and --resume continues bit-identically",
    arguments: [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")])
  func stopAndResume(_ signal: Int32, _ name: String) throws {
    let folder = try TemporaryFolder()
    let run = folder.path("run")
    let p = try KallimaProcess(try SignalRun.train(out: run))
    #expect(p.waitFor("step 10/\(SignalRun.steps)"), "no log line before the signal:\n\(p.stderr)")
    p.send(signal)
    let (status, signalled) = p.wait()
    #expect(status == 128 + signal && !signalled, "\(name): exit \(status)\n\(p.stderr)")
    let stopped = try #require(
      p.stderr.firstMatch(of: #/stopped by (SIG\w+) at step (\d+); checkpoint written/#), "\(p.stderr)")
    #expect(stopped.1 == name)
    let step = try #require(Int(stopped.2))
    #expect(step >= 10 && step < SignalRun.steps, "the run was not stopped mid-way (step \(step))")

    // Complete: latest is the stop step's checkpoint, byte for byte, and no partial file is left.
    let latest = folder.path("run/checkpoints/latest.safetensors")
    #expect(try Checkpoint.read(latest).training.step == step)
    let stepFile = folder.path(String(format: "run/checkpoints/step_%06d.safetensors", step))
    #expect(try Data(contentsOf: URL(fileURLWithPath: stepFile)) == Data(contentsOf: URL(fileURLWithPath: latest)))
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.path("run/checkpoints"))
    #expect(!names.contains { $0.hasPrefix(".") }, "temporary files left: \(names)")

    let resumed = try KallimaProcess.run(SignalRun.resume(run))
    #expect(resumed.contains("resumed at step \(step) from"), "\(resumed)")
    let final = try Checkpoint.read(latest)
    #expect(final.training.step == SignalRun.steps, "--resume without --steps did not keep the target")
    expectSameTensors(try checkpointBits(latest), try SignalRun.reference.get(), "\(name) then --resume")
  }

  @Test("kill -9 at random moments: the latest checkpoint is never missing or corrupt, and resumes exactly")
  func killTrials() throws {
    let reference = try SignalRun.reference.get()
    var generator = SystemRandomNumberGenerator()
    var outcomes: [String] = []
    for trial in 0..<3 {
      let folder = try TemporaryFolder()
      let run = folder.path("run")
      // A checkpoint every step puts many writes in the window a kill can hit.
      let p = try KallimaProcess(try SignalRun.train(out: run, checkpointEvery: 1))
      // From the first log line (step 5), so that most trials find checkpoints to check;
      // Scripts/kill_trials.sh kills from the start of the process on.
      #expect(p.waitFor("step 5/"), "the run did not start:\n\(p.stderr)")
      usleep(UInt32.random(in: 0...1_000_000, using: &generator))
      p.send(SIGKILL)
      let (status, signalled) = p.wait()
      let killed = signalled && status == SIGKILL
      let verdict = try KillTrial.verify(run: run, reference: reference)
      outcomes.append("trial \(trial): \(killed ? "killed" : "finished first (exit \(status))"), \(verdict)")
    }
    print("kill -9 trials: " + outcomes.joined(separator: "; "))
  }
}

/// What a kill -9 left, checked: the latest checkpoint loads with every tensor and is at
/// least as new as any step file (or, killed before the first checkpoint, there is none of
/// either); `--resume` then finishes bit-identically to `reference`.
enum KillTrial {
  static func verify(run: String, reference: [String: [UInt32]], sourceLocation: SourceLocation = #_sourceLocation)
    throws -> String
  {
    let directory = run + "/checkpoints"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    let steps = names.compactMap { name -> Int? in
      guard name.hasPrefix("step_"), name.hasSuffix(".safetensors") else { return nil }
      return Int(name.dropFirst(5).dropLast(12))
    }
    let temporaries = names.filter { $0.hasPrefix(".") }.count
    let latest = directory + "/latest.safetensors"
    guard FileManager.default.fileExists(atPath: latest) else {
      #expect(steps.isEmpty, "latest.safetensors is missing but step files exist: \(names)", sourceLocation: sourceLocation)
      return "killed before the first checkpoint"
    }
    let checkpoint = try Checkpoint.read(latest)
    #expect(Set(checkpoint.tensors.map(\.name)) == Set(reference.keys), "latest is incomplete", sourceLocation: sourceLocation)
    #expect(checkpoint.training.step >= steps.max() ?? 0, "a step file is newer than latest", sourceLocation: sourceLocation)
    let p = try KallimaProcess(SignalRun.resume(run))
    let (status, _) = p.wait()
    #expect(status == 0, "--resume failed:\n\(p.stderr)", sourceLocation: sourceLocation)
    expectSameTensors(try checkpointBits(latest), reference, "kill -9 then --resume", sourceLocation: sourceLocation)
    let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
    #expect(left.isEmpty, "the resume left temporary files: \(left)", sourceLocation: sourceLocation)
    return "latest at step \(checkpoint.training.step), \(temporaries) temporary file(s) removed on resume, resumed exactly"
  }
}
