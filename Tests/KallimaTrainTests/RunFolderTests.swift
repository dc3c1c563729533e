import Foundation
import KallimaCPU
import KallimaCore
import KallimaData
import KallimaGAN
@testable import KallimaTrain
import Testing

/// Runs `executable` with `arguments` and `environment` added to this process's, killing it
/// after `timeout` seconds; returns its exit status, standard output and standard error.
func launch(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 120)
  throws -> (status: Int32, out: String, err: String)
{
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
  let (out, err) = (Pipe(), Pipe())
  (process.standardOutput, process.standardError) = (out, err)
  try process.run()
  let deadline = DispatchWorkItem { process.terminate() }
  DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: deadline)
  // Standard error is drained on another thread so neither pipe can fill and block the child.
  final class Box: @unchecked Sendable { var data = Data() }
  let errorData = Box()
  let drained = DispatchSemaphore(value: 0)
  DispatchQueue.global().async {
    errorData.data = err.fileHandleForReading.readDataToEndOfFile()
    drained.signal()
  }
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  drained.wait()
  process.waitUntilExit()
  deadline.cancel()
  return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errorData.data, as: UTF8.self))
}

/// Debian's chromium, installed by Scripts/setup.sh. A missing browser fails the test that
/// needs it (never a silent skip).
func chromium() throws -> String {
  for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] where FileManager.default.isExecutableFile(atPath: path) {
    return path
  }
  throw KallimaError.io(
    path: "/usr/bin/chromium",
    message: "chromium is not installed; run Scripts/setup.sh (it installs Debian's chromium for the run-report test)")
}

/// Loads `page` in headless chromium: its DOM after the scripts ran, and a screenshot if asked.
func browse(_ page: String, screenshot: String? = nil) throws -> String {
  let browser = try chromium()
  let profile = FileManager.default.temporaryDirectory.appendingPathComponent("kallima-chromium-\(UUID().uuidString)").path
  defer { try? FileManager.default.removeItem(atPath: profile) }
  let common = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile)", "--hide-scrollbars"]
  let url = URL(fileURLWithPath: page).absoluteString
  let dom = try launch(browser, common + ["--dump-dom", url])
  #expect(dom.status == 0, "chromium --dump-dom failed: \(dom.err)")
  if let screenshot {
    let shot = try launch(browser, common + ["--window-size=1280,1800", "--screenshot=\(screenshot)", url])
    #expect(shot.status == 0, "chromium --screenshot failed: \(shot.err)")
  }
  return dom.out
}

/// The attributes of every `<tag …>` in `html` that has `attribute="value"`.
func elements(_ html: String, tag: String, where attribute: String, is value: String) -> [[String: String]] {
  var found: [[String: String]] = []
  for match in html.matches(of: try! Regex("<\(tag)\\s([^>]*)>")) {
    let body = String(html[match.range]).dropFirst(tag.count + 1)
    var attributes: [String: String] = [:]
    for a in body.matches(of: #/([\w-]+)="([^"]*)"/#) { attributes[String(a.output.1)] = String(a.output.2) }
    if attributes[attribute] == value { found.append(attributes) }
  }
  return found
}

/// The JSON the page inlines (its data), parsed.
func pageData(_ path: String) throws -> [String: Any] {
  let html = try String(contentsOfFile: path, encoding: .utf8)
  let start = try #require(html.range(of: "<script type=\"application/json\" id=\"report-data\">"))
  let end = try #require(html.range(of: "</script>", range: start.upperBound..<html.endIndex))
  let json = html[start.upperBound..<end.lowerBound].replacingOccurrences(of: "\\u003c", with: "<")
  return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
}

@Suite("Run folders: index.html, status.json, kallima runs, kallima sample --out-dir", .serialized)
struct RunFolderTests {
  @Test("index.html of a real run: updated at every log, loads in headless chromium without errors, every step drawn")
  func report() throws {
    let folder = try TemporaryFolder()
    let run = try TrainingRun(options: tinyOptions(folder, steps: 14), backend: CPUBackend())
    let page = folder.path("run/index.html")
    var logged: [Int] = []
    try run.run(events: { event in
      guard case .log(let m) = event else { return }
      // The page and the status are rewritten before the event reaches the caller.
      logged.append(m.step)
      let data = try? pageData(page)
      let steps = ((data?["logs"] as? [String: Any])?["steps"] as? [Int]) ?? []
      #expect(steps == logged, "index.html at step \(m.step) has logged steps \(steps)")
      let status = try? RunStatus.read(folder: folder.path("run"))
      #expect(status?.step == m.step && status?.state == .running)
    })
    #expect(logged == [3, 6, 9, 12, 14])
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path("run"))
    #expect(!files.contains { $0.hasSuffix(".tmp") }, "temporary files left: \(files)")
    #expect(files.contains("interpolation.png"))
    let strip = try ImageIO.read(folder.path("run/interpolation.png"))
    // 4 rows of 8 images of 8x8 with 2-pixel borders.
    #expect(strip.width == 8 * 10 + 2 && strip.height == 4 * 10 + 2)

    // Nothing the page loads is off the disk: no URL but the SVG namespace name.
    let html = try String(contentsOfFile: page, encoding: .utf8)
    #expect(!html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
    #expect(!html.contains("src=\"/") && !html.contains("href="))

    // Evaluation lines as --eval-every logs them (a real evaluation costs ~45 s on the CPU:
    // see TrainingRunTests.evalEvery), then the page as the run writes it.
    let evaluations = [(7, 0.61, true), (14, 0.75, false)].map { step, kl, best in
      "{\"best\":\(best),\"classes\":4,\"confidence\":0.5,\"kl\":\(kl),\"metric\":\"mode_coverage\",\"modes\":3,"
        + "\"samples\":20,\"step\":\(step)}\n"
    }
    let metrics = try FileHandle(forWritingTo: URL(fileURLWithPath: folder.path("run/metrics.jsonl")))
    try metrics.seekToEnd()
    try metrics.write(contentsOf: Data(evaluations.joined().utf8))
    try metrics.close()
    try RunReport.write(folder: RunFolder(path: folder.path("run")), context: RunReport.Context(run: run))
    #expect(RunFolder(path: folder.path("run")).bestEvaluation?.record.step == 7)

    let shot = folder.path("shot.png")
    let dom = try browse(page, screenshot: shot)
    // Drawn, and no script error.
    let status = try #require(elements(dom, tag: "span", where: "id", is: "report-status").first)
    #expect(status["data-ok"] == "1", "the page did not finish drawing: \(dom.suffix(2000))")
    let errors = try #require(dom.firstMatch(of: #/<div id="report-errors"[^>]*>([^<]*)<\/div>/#))
    #expect(errors.output.1.isEmpty && errors.output.0.contains("hidden"), "script errors: \(errors.output.1)")
    // Every logged step is a point of each training curve.
    for series in ["loss_d", "loss_g", "d_x", "d_g_z"] {
      let path = try #require(elements(dom, tag: "path", where: "data-series", is: series).first, "no curve \(series)")
      #expect(path["data-points"] == "5", "\(series): \(path)")
      let vertices = (path["d"] ?? "").filter { $0 == "M" || $0 == "L" }.count
      #expect(vertices == 5, "\(series) path \(path["d"] ?? "")")
    }
    // The evaluations at steps 7 and 14, as curves, the best one circled.
    let kl = try #require(elements(dom, tag: "path", where: "data-series", is: "kl").first)
    #expect(kl["data-points"] == "2")
    #expect(dom.contains("data-chart=\"mode_coverage: kl\"") && dom.contains("class=\"best\""))
    // One slider position per grid (steps 5, 10, 14), showing the last.
    let slider = try #require(elements(dom, tag: "input", where: "id", is: "grid-slider").first)
    #expect(slider["min"] == "0" && slider["max"] == "2" && slider["value"] == "2")
    let grid = try #require(elements(dom, tag: "img", where: "id", is: "grid-image").first)
    #expect(grid["src"] == "samples/step_000014.png")
    #expect(dom.contains("id=\"interpolation-image\""))
    // Text from the run (names, options) cannot end the script or add markup.
    let hostile = "</script><b>x</b><!--"
    let page2 = folder.path("run/hostile.html")
    try Data(RunReport.html(folder: RunFolder(path: folder.path("run")), context: .init(configuration: [("out", hostile)], recipe: hostile)).utf8)
      .write(to: URL(fileURLWithPath: page2))
    #expect(try String(contentsOfFile: page2, encoding: .utf8).components(separatedBy: "</script>").count == 3)
    #expect(try pageData(page2)["recipe"] as? String == hostile)
    // A long log rewrites the page at a rate that keeps its cost per interval bounded.
    #expect((1...100).allSatisfy { RunMonitor.rewritesPage(interval: $0, length: 1999) })
    #expect((1...100).filter { RunMonitor.rewritesPage(interval: $0, length: 10_000) }.count == 20)
    // The screenshot is a rendered page, not a blank one.
    let picture = try ImageIO.read(shot)
    #expect(picture.width == 1280 && Set(picture.pixels).count > 50)
  }

  @Test("status.json says finished, stopped or diverged; a vanished process reads as stopped")
  func status() throws {
    let folder = try TemporaryFolder()
    let finished = try TrainingRun(options: tinyOptions(folder, steps: 3), backend: CPUBackend())
    try finished.run()
    let done = try #require(try RunStatus.read(folder: folder.path("run")))
    #expect(done.state == .finished && done.step == 3 && done.steps == 3 && done.pid == getpid())

    var options = try tinyOptions(folder, steps: 20)
    options.out = folder.path("stopped")
    let stopped = try TrainingRun(options: options, backend: CPUBackend())
    try stopped.run(shouldStop: { stopped.step >= 4 })
    let s = try #require(try RunStatus.read(folder: folder.path("stopped")))
    #expect(s.state == .stopped && s.step == 4 && s.steps == 20 && s.message?.contains("--resume") == true)

    options.out = folder.path("diverged")
    (options.recipe.lrG, options.recipe.lrD, options.logEvery) = (1e30, 1e30, 1)
    let diverging = try TrainingRun(options: options, backend: CPUBackend())
    #expect(throws: (any Error).self) { try diverging.run() }
    let d = try #require(try RunStatus.read(folder: folder.path("diverged")))
    #expect(d.state == .diverged && d.message?.contains("diverged") == true)
    // Its page draws, marking the non-finite losses.
    let dom = try browse(folder.path("diverged/index.html"))
    #expect(elements(dom, tag: "span", where: "id", is: "report-status").first?["data-ok"] == "1")
    #expect(elements(dom, tag: "line", where: "class", is: "nonfinite").count >= 1 && dom.contains(">diverged<"))

    // "running" holds while the recorded process lives.
    var live = RunStatus(state: .running, step: 5, steps: 10)
    #expect(live.liveState() == .running)
    // A live process holding the pid but started at another time (pid reuse) is not the run.
    #expect(live.started != nil, "no start time recorded (Linux /proc)")
    let recorded = live.started
    live.started = recorded.map { $0 + 1 }
    #expect(live.liveState() == .stopped)
    live.started = nil  // a status file from before start times were recorded
    #expect(live.liveState() == .running)
    live.started = recorded
    live.pid = try Self.reapedPID()
    #expect(live.liveState() == .stopped)
    // On another host, only the update time tells.
    live.host = "elsewhere.invalid"
    #expect(live.liveState() == .running)
    #expect(live.liveState(now: Date(timeIntervalSince1970: live.updated + RunStatus.staleAfter + 1)) == .stopped)
  }

  /// The pid of a process that has exited and been reaped.
  static func reapedPID() throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/true")
    try process.run()
    process.waitUntilExit()
    return process.processIdentifier
  }

  @Test("kallima runs lists real runs with their state; a damaged folder gets a message naming the file, the listing goes on")
  func runs() throws {
    let root = try TemporaryFolder()
    var options = try tinyOptions(root, steps: 4)
    options.out = root.path("runs/a-finished")
    try TrainingRun(options: options, backend: CPUBackend()).run()
    options.out = root.path("runs/b-diverged")
    (options.recipe.lrG, options.recipe.lrD, options.logEvery) = (1e30, 1e30, 1)
    options.steps = 30
    #expect(throws: (any Error).self) { try TrainingRun(options: options, backend: CPUBackend()).run() }
    // Hand-made damage: a corrupt status.json and a garbage metrics line; a folder with
    // only checkpoints/ (no metrics.jsonl); a folder that is no run at all.
    let broken = root.path("runs/c-broken")
    try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
    try Data("{\"state\": \"running\", \"step\": ".utf8).write(to: URL(fileURLWithPath: broken + "/status.json"))
    let lines = "{\"step\":3,\"loss_d\":1.25,\"loss_g\":0.5,\"d_x\":0.6,\"d_g_z\":0.4}\nnot json\n"
    try Data(lines.utf8).write(to: URL(fileURLWithPath: broken + "/metrics.jsonl"))
    try FileManager.default.createDirectory(atPath: root.path("runs/d-bare/checkpoints"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root.path("runs/not-a-run"), withIntermediateDirectories: true)

    let listing = RunList.list(under: root.path("runs"))
    let rows = listing.table.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
    #expect(rows.map { $0[0] } == ["RUN", "a-finished", "b-diverged", "c-broken", "d-bare"], "\(listing.table)")
    #expect(rows[1][1] == "finished" && rows[1][2] == "4/4")
    let losses = rows[2][3...4].map { Double($0) ?? 0 }
    #expect(rows[2][1] == "diverged" && losses.contains { !$0.isFinite }, "\(rows[2])")
    // Without a readable status, the state is unknown but the last losses still show.
    #expect(rows[3][1] == "unknown" && rows[3][2] == "3" && rows[3][3] == "1.2500")
    #expect(rows[4][1] == "unknown" && rows[4][2] == "0")
    #expect(listing.problems.contains { $0.contains("c-broken/status.json") && $0.contains("not a readable run status") })
    #expect(listing.problems.contains { $0.contains("c-broken/metrics.jsonl") && $0.contains("line 2") })
    #expect(listing.problems.contains { $0.contains("d-bare/metrics.jsonl") && $0.contains("missing") })

    // The command line: the same table on stdout, the problems on stderr, exit 0.
    let cli = try launch(try kallimaBinary(), ["runs", root.path("runs")])
    #expect(cli.status == 0, "\(cli.err)")
    #expect(cli.out.trimmingCharacters(in: .newlines) == listing.table)
    #expect(cli.err.contains("c-broken/status.json"))
    let missing = try launch(try kallimaBinary(), ["runs", root.path("runs/not-a-run")])
    #expect(missing.status == 1 && missing.err.contains("no run folders"), "\(missing.err)")

    // A live `kallima train`: running while it trains, stopped once SIGINT ends it.
    let live = Process()
    live.executableURL = URL(fileURLWithPath: try kallimaBinary())
    live.arguments = [
      "train", "--data", root.path("images-idx3-ubyte"), "--size", "8", "--batch", "4", "--width", "4", "--nz", "8",
      "--steps", "1000000", "--log-every", "1", "--device", "cpu", "--out", root.path("runs/e-live"),
    ]
    (live.standardOutput, live.standardError) = (FileHandle.nullDevice, FileHandle.nullDevice)
    try live.run()
    defer { if live.isRunning { live.terminate() } }
    var seen: RunStatus?
    let deadline = Date().addingTimeInterval(120)
    while seen == nil && Date() < deadline && live.isRunning {
      if let s = try? RunStatus.read(folder: root.path("runs/e-live")), s.step >= 2 { seen = s }
      usleep(50_000)
    }
    #expect(seen?.state == .running && seen?.pid == live.processIdentifier, "\(String(describing: seen))")
    func state(_ name: String) -> String? {
      RunList.list(under: root.path("runs")).table.split(separator: "\n").map { $0.split(separator: " ") }
        .first { $0.first.map(String.init) == name }.map { String($0[1]) }
    }
    #expect(state("e-live") == "running")
    live.interrupt()
    live.waitUntilExit()
    #expect(live.terminationStatus == 130)
    #expect(state("e-live") == "stopped")
  }

  @Test("kallima sample --out-dir: one PNG per image, the grid's tiles and the EMA sampler's output, in batches")
  func sampleFolder() throws {
    let folder = try TemporaryFolder()
    var options = try tinyOptions(folder, steps: 4)
    options.recipe.ema = 0.9
    try TrainingRun(options: options, backend: CPUBackend()).run()
    let checkpoint = folder.path("run/checkpoints/latest.safetensors")
    let (n, nz, side) = (10, 8, 8)
    let out = folder.path("samples")
    let cli = try launch(
      try kallimaBinary(),
      ["sample", "--checkpoint", checkpoint, "--n", "\(n)", "--batch", "4", "--seed", "3", "--out-dir", out, "--out",
       folder.path("grid.png"), "--device", "cpu"])
    #expect(cli.status == 0, "\(cli.err)")
    #expect(cli.err.contains("generator_ema"), "\(cli.err)")
    let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
    #expect(names == (0..<n).map { String(format: "sample_%05d.png", $0) })

    // The sampler's own output, in one batch, with the EMA weights (and G's, which differ).
    let c = try Checkpoint.read(checkpoint)
    let architecture = try Architecture.named(c.recipe.arch)
    func generate(_ weights: String) throws -> [UInt8] {
      let store = ParameterStore(backend: CPUBackend(), seed: 0)
      let sampler = try Sampler(
        backend: store.backend, network: try architecture.generator(c.config), latentShape: architecture.latentShape(c.config),
        generator: store, count: n)
      try c.restore(store, network: weights, path: checkpoint)
      let images = try sampler.images(z: Sampler.latents(count: n, nz: nz, seed: 3))
      return images.map { UInt8(max(0, min(255, (($0 + 1) * 127.5).rounded()))) }
    }
    let ema = try generate("generator_ema")
    #expect(try generate("generator") != ema, "the EMA weights equal G's: the test cannot tell which were used")

    let grid = try ImageIO.read(folder.path("grid.png"))
    let columns = 4  // ceil(sqrt(10))
    for i in 0..<n {
      let image = try ImageIO.read(out + "/" + SampleFolder.fileName(index: i, total: n))
      #expect(image.width == side && image.height == side)
      // Gray images decode as R = G = B.
      let gray = stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] }
      #expect(gray == Array(ema[(i * side * side)..<((i + 1) * side * side)]), "image \(i) differs from the sampler's")
      let (left, top) = (2 + (i % columns) * (side + 2), 2 + (i / columns) * (side + 2))
      let tile = (0..<side).flatMap { y in (0..<side).map { x in grid.pixels[((top + y) * grid.width + left + x) * 3] } }
      #expect(tile == gray, "image \(i) differs from the grid's tile")
    }
    // Without --out-dir, the grid alone, in batches of another size: the same pixels.
    let gridOnly = try launch(
      try kallimaBinary(),
      ["sample", "--checkpoint", checkpoint, "--n", "\(n)", "--batch", "3", "--seed", "3", "--out", folder.path("grid-only.png"),
       "--device", "cpu"])
    #expect(gridOnly.status == 0, "\(gridOnly.err)")
    #expect(try ImageIO.read(folder.path("grid-only.png")) == grid)
    #expect(SampleFolder.fileName(index: 7, total: 100_001) == "sample_000007.png")
    #expect(SampleFolder.fileName(index: 99_999, total: 100_000) == "sample_99999.png")
  }
}
