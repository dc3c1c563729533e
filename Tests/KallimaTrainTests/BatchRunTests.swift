import Foundation
import KallimaCore
import KallimaTrain
import Testing

/// Batch runs: a run described by `--config run.json`, JSON lines on standard output with
/// `--json`, and plain output when standard error is not a terminal.
@Suite struct BatchRunTests {
  func arguments(_ json: String) throws -> (method: String?, arguments: [String]) {
    try RunConfig.arguments(fromJSON: Data(json.utf8), path: "run.json")
  }

  func expectRejected(_ json: String, saying text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      let parsed = try arguments(json)
      Issue.record("\(json) was accepted as \(parsed)", sourceLocation: sourceLocation)
    } catch {
      let message = "\(error)"
      #expect(message.contains("run.json") && message.contains(text), "\(message)", sourceLocation: sourceLocation)
    }
  }

  @Test func configValuesBecomeOptions() throws {
    let (method, options) = try arguments(
      """
      {"method": "cyclegan", "steps": 5000, "lr": 2e-4, "beta1": 0.5, "flip": true, "no-flip": false, "limit": null,
       "--seed": 18446744073709551615, "out": "runs/a b", "attributes": ["x", "y"], "gp-weight": 10.0, "count": 1}
      """)
    #expect(method == "cyclegan")
    // Keys in order; true is a flag, false and null are left out, numbers keep their text
    // (an integral float as an integer, a UInt64 seed whole), arrays repeat the option, a 1 stays a number.
    #expect(
      options == [
        "--seed", "18446744073709551615", "--attributes", "x", "--attributes", "y", "--beta1", "0.5", "--count", "1",
        "--flip", "--gp-weight", "10", "--lr", "0.0002", "--out", "runs/a b", "--steps", "5000",
      ])
    #expect(try arguments("{}") == (nil, []))
  }

  @Test func badConfigsSayWhatIsWrong() {
    expectRejected("{\"steps\": 3,", saying: "not valid JSON")
    expectRejected("[1, 2]", saying: "one JSON object of options")
    expectRejected("{\"steps\": {\"a\": 1}}", saying: "\"steps\": a value is")
    expectRejected("{\"steps\": [[1]]}", saying: "\"steps\": a value is")
    expectRejected("{\"method\": \"vae\"}", saying: "\"method\" must be one of gan, pix2pix, cyclegan, stargan")
    expectRejected("{\"method\": 3}", saying: "\"method\" must be one of")
    expectRejected("{\"config\": \"other.json\"}", saying: "is not an option name")
    expectRejected("{\"log every\": 3}", saying: "is not an option name")
    expectRejected("{\"-s\": 3}", saying: "is not an option name")
  }

  @Test func recordKeepsEveryConfigARunWasStartedWith() throws {
    let folder = try TemporaryFolder()
    let (first, second) = (folder.path("first.json"), folder.path("second.json"))
    try Data("{\"steps\": 10}".utf8).write(to: URL(fileURLWithPath: first))
    try Data("{\"steps\": 20}".utf8).write(to: URL(fileURLWithPath: second))
    #expect(try RunConfig.record(first, in: folder.url, step: 0) == folder.path("config.json"))
    #expect(try RunConfig.record(first, in: folder.url, step: 10) == nil)  // resumed with the same file
    #expect(try RunConfig.record(second, in: folder.url, step: 10) == folder.path("config-step-000010.json"))
    #expect(try String(contentsOfFile: folder.path("config.json"), encoding: .utf8) == "{\"steps\": 10}")
    #expect(try String(contentsOfFile: folder.path("config-step-000010.json"), encoding: .utf8) == "{\"steps\": 20}")
    #expect(throws: KallimaError.self) { try RunConfig.record(folder.path("missing.json"), in: folder.url, step: 0) }
    // A translation run creates its folder after the config is recorded.
    let later = folder.url.appendingPathComponent("not/yet")
    #expect(try RunConfig.record(first, in: later, step: 0) == later.appendingPathComponent("config.json").path)
  }

  /// The JSON objects of `--json` output, one per line; records an issue for a line that is not one.
  func events(_ output: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
    output.split(separator: "\n").compactMap { line in
      let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      if object == nil { Issue.record("not a JSON object: \(line)", sourceLocation: sourceLocation) }
      return object
    }
  }

  /// A tiny run from a config on the OpenCL device, the command line overriding its --steps;
  /// then a resume with another config.
  @Test func configRunWithJSONEvents() throws {
    let folder = try TemporaryFolder()
    let out = folder.path("run")
    let config = """
      {"method": "gan", "data": "\(try SignalRun.data.get())", "size": 8, "batch": 4, "nz": 8, "width": 4, "seed": 11,
       "flip": true, "log-every": 2, "sample-every": 1000, "checkpoint-every": 4, "steps": 100, "loss": "hinge",
       "device": "\(SignalRun.device)", "out": "\(out)"}
      """
    try Data(config.utf8).write(to: URL(fileURLWithPath: folder.path("run.json")))
    let exe = try kallimaBinary()
    let run = try launch(exe, ["train", "--config", folder.path("run.json"), "--steps", "6", "--json"])
    #expect(run.status == 0, "\(run.err)")
    let lines = events(run.out)
    let kinds = lines.map { $0["event"] as? String ?? "?" }
    #expect(kinds.first == "data" && kinds.last == "finished", "\(kinds)")
    #expect(kinds.filter { $0 == "log" }.count == 3, "--steps 6 on the command line overrides the config's 100: \(kinds)")
    #expect(kinds.filter { $0 == "checkpoint" }.count == 2, "\(kinds)")
    #expect((lines.last?["step"] as? Int) == 6)
    #expect((lines.first { $0["event"] as? String == "recipe" }?["text"] as? String)?.contains("hinge") == true)
    let log = try #require(lines.first { $0["event"] as? String == "log" })
    #expect(Set(["step", "loss_d", "loss_g", "d_x", "d_g_z", "images_per_s", "wall_s"]).isSubset(of: log.keys), "\(log)")
    #expect(try String(contentsOfFile: folder.path("run/config.json"), encoding: .utf8) == config)
    // Standard error is a pipe here: plain lines, no progress bar or other control codes.
    #expect(!run.err.contains("\u{1B}") && !run.err.contains("\r"), "\(run.err.debugDescription)")
    #expect(run.err.contains("step 6/6"), "\(run.err)")

    // Resuming with another config keeps the first one and records the second beside it.
    try Data("{\"resume\": \"\(out)\", \"steps\": 8, \"device\": \"\(SignalRun.device)\"}".utf8)
      .write(to: URL(fileURLWithPath: folder.path("more.json")))
    let resumed = try launch(exe, ["train", "--config", folder.path("more.json"), "--json"])
    #expect(resumed.status == 0, "\(resumed.err)")
    let resumedEvents = events(resumed.out)
    #expect(resumedEvents.contains { $0["event"] as? String == "resumed" && $0["step"] as? Int == 6 }, "\(resumedEvents)")
    #expect(resumedEvents.last?["event"] as? String == "finished" && resumedEvents.last?["step"] as? Int == 8)
    #expect(try String(contentsOfFile: folder.path("run/config.json"), encoding: .utf8) == config)
    #expect(FileManager.default.fileExists(atPath: folder.path("run/config-step-000006.json")))
  }

  @Test func jsonEndsWithTheErrorAndItsExitStatus() throws {
    let folder = try TemporaryFolder()
    let diverging = try SignalRun.train(out: folder.path("run"), steps: 60) + ["--lr", "1e30", "--log-every", "1", "--json"]
    let run = try launch(try kallimaBinary(), diverging)
    #expect(run.status == 3, "\(run.err)")
    let last = try #require(events(run.out).last)
    #expect(last["event"] as? String == "error" && last["exit_status"] as? Int == 3, "\(last)")
    #expect((last["message"] as? String)?.contains("training diverged") == true, "\(last)")

    // Stopped by a signal: the last object says so, with the step reached.
    let stopping = try KallimaProcess(
      try SignalRun.train(out: folder.path("stopped"), steps: 100_000) + ["--json"], output: folder.path("stopped.jsonl"))
    #expect(stopping.waitFor("step 5/"), "the run did not start:\n\(stopping.stderr)")
    stopping.send(SIGTERM)
    #expect(stopping.wait().status == 128 + SIGTERM)
    let stopped = try #require(events(try String(contentsOfFile: folder.path("stopped.jsonl"), encoding: .utf8)).last)
    #expect(stopped["event"] as? String == "stopped" && stopped["signal"] as? Int == Int(SIGTERM), "\(stopped)")
    #expect(stopped["exit_status"] as? Int == 143 && (stopped["step"] as? Int ?? 0) >= 5, "\(stopped)")

    // A config the parser rejects: the error names the file's options.
    try Data("{\"flip\": 1}".utf8).write(to: URL(fileURLWithPath: folder.path("bad.json")))
    let bad = try launch(try kallimaBinary(), ["train", "--config", folder.path("bad.json")])
    #expect(bad.status == 64 && bad.err.contains("with the options of \(folder.path("bad.json"))"), "\(bad.err)")
    try Data("{\"method\": \"stargan\"}".utf8).write(to: URL(fileURLWithPath: folder.path("star.json")))
    let mismatch = try launch(try kallimaBinary(), ["train", "cyclegan", "--config", folder.path("star.json")])
    #expect(mismatch.status == 1 && mismatch.err.contains("says \"method\": \"stargan\""), "\(mismatch.err)")
  }
}
