import Foundation
import Testing

/// `kallima tune` and the tuning column of `kallima devices`, run as the user runs them,
/// against a cache folder of the test's own (never the user's).
@Suite struct TuneCommandTests {
  struct Listing: Decodable {
    struct Device: Decodable {
      var selector: String
      var type: String
      var tuning: String?
    }
    var devices: [Device]
  }

  /// A fresh cache folder, removed by the caller.
  func cacheFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("kallima-tune-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  func devices(_ environment: [String: String]) throws -> Listing {
    let run = try launch(try kallimaBinary(), ["devices", "--json"], environment: environment)
    #expect(run.status == 0, "kallima devices --json: \(run.err)")
    return try JSONDecoder().decode(Listing.self, from: Data(run.out.utf8))
  }

  /// The device the tests run on: `$KALLIMA_DEVICE` when it names an OpenCL device, else the first.
  var selector: String {
    ProcessInfo.processInfo.environment["KALLIMA_DEVICE"].flatMap { $0.hasPrefix("opencl:") ? $0 : nil } ?? "opencl:0:0"
  }

  /// Tuning one small shape writes the device's table in the cache folder and `kallima
  /// devices` then says the device is tuned; before, a backend made for benchmarking said
  /// once that `kallima tune` would help when (and only when) the device was untuned.
  @Test func tuneWritesATableThatDevicesReports() throws {
    let cache = try cacheFolder()
    defer { try? FileManager.default.removeItem(at: cache) }
    let environment = ["KALLIMA_CACHE_DIR": cache.path, "KALLIMA_DEVICE": selector]

    let before = try devices(environment)
    let device = try #require(before.devices.first { $0.selector == selector })
    let cpu = try #require(before.devices.first { $0.selector == "cpu" })
    #expect(cpu.tuning == nil)
    #expect(device.tuning == "untuned" || device.tuning == "shipped", "\(device.tuning ?? "nil")")

    // A backend made for benchmarking: the hint appears once on an untuned device, never on a tuned one.
    let hint = "kallima tune --device \(selector)"
    let bench = ["bench", "ops", "--filter", "activation_fwd relu", "--no-reference", "--min-time", "0", "--min-runs", "1", "--quiet"]
    let untunedRun = try launch(try kallimaBinary(), bench, environment: environment)
    #expect(untunedRun.status == 0, "\(untunedRun.err)")
    let hints = untunedRun.err.components(separatedBy: hint).count - 1
    #expect(hints == (device.tuning == "untuned" ? 1 : 0), "\(untunedRun.err)")

    // Budget of a few seconds: the search stops when it is spent and keeps the best so far.
    let tune = try launch(
      try kallimaBinary(), ["tune", "--shapes", "16x48x8", "--budget", "2", "--repetitions", "1", "--json", "--replace"],
      environment: environment)
    #expect(tune.status == 0, "kallima tune: \(tune.err)")
    #expect(!tune.err.contains("\u{1B}"), "no terminal control codes when stderr is a pipe")
    #expect(tune.err.contains("on 16x48x8"), "\(tune.err)")
    struct Table: Decodable {
      struct Choice: Decodable {
        var algorithm: String
        var seconds: Double
      }
      var format: String
      var gemm: [Choice]
    }
    let printed = try JSONDecoder().decode(Table.self, from: Data(tune.out.utf8))
    #expect(printed.format == "kallima-tuning-1")
    #expect(printed.gemm.count == 1 && printed.gemm.allSatisfy { $0.seconds > 0 })
    let files = try FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("tuning").path)
    #expect(files.count == 1 && files.allSatisfy { $0.hasSuffix(".json") }, "\(files)")

    let after = try devices(environment)
    let tuned = try #require(after.devices.first { $0.selector == selector })
    #expect(tuned.tuning?.hasPrefix("tuned 20") == true, "\(tuned.tuning ?? "nil")")

    // A second model's tune adds its shapes to the table in effect; --replace keeps only its own.
    let second = try launch(
      try kallimaBinary(), ["tune", "--shapes", "8x32x4", "--budget", "2", "--repetitions", "1", "--json"],
      environment: environment)
    #expect(second.status == 0 && second.err.contains("keeping 1 shapes"), "\(second.err)")
    #expect(try JSONDecoder().decode(Table.self, from: Data(second.out.utf8)).gemm.count == 2)
    let replaced = try launch(
      try kallimaBinary(), ["tune", "--shapes", "8x32x4", "--budget", "2", "--repetitions", "1", "--json", "--replace"],
      environment: environment)
    #expect(replaced.status == 0, "\(replaced.err)")
    #expect(try JSONDecoder().decode(Table.self, from: Data(replaced.out.utf8)).gemm.count == 1)

    // KALLIMA_TUNING=off: the table is not consulted.
    var off = environment
    off["KALLIMA_TUNING"] = "off"
    #expect(try devices(off).devices.first { $0.selector == selector }?.tuning == "off")
  }

  @Test func dryRunListsShapesAndCandidates() throws {
    let cache = try cacheFolder()
    defer { try? FileManager.default.removeItem(at: cache) }
    let run = try launch(
      try kallimaBinary(), ["tune", "--shapes", "64x4096x48,1x64x8192", "--dry-run"],
      environment: ["KALLIMA_CACHE_DIR": cache.path, "KALLIMA_DEVICE": selector])
    #expect(run.status == 0, "\(run.err)")
    #expect(run.out.contains("64x4096x48") && run.out.contains("1x64x8192"), "\(run.out)")
    #expect(run.out.contains("2 shapes × "), "\(run.out)")
    #expect(!FileManager.default.fileExists(atPath: cache.appendingPathComponent("tuning").path), "a dry run writes nothing")

    let bad = try launch(try kallimaBinary(), ["tune", "--shapes", "64x0x48", "--dry-run"])
    #expect(bad.status != 0 && bad.err.contains("'64x0x48' is not MxNxK"), "\(bad.err)")
  }

  /// A DCGAN step records its GEMM shapes (the convolutions run through `gemm()`): a tiny
  /// network at batch 2 lists shapes of its layers, e.g. D's first convolution (8 output
  /// channels, 3·4·4 = 48 patch values, 2·16·16 = 512 positions) as 8x512x48.
  @Test func dryRunRecordsTheDCGANShapes() throws {
    let run = try launch(
      try kallimaBinary(), ["tune", "--batch", "2", "--size", "32", "--width", "8", "--dry-run"],
      // The user's program cache speeds the step up; their tuning table is not consulted.
      environment: ["KALLIMA_DEVICE": selector, "KALLIMA_TUNING": "off"])
    #expect(run.status == 0, "\(run.err)")
    #expect(run.out.contains("8x512x48"), "\(run.out)")
    let count = run.out.split(separator: "\n").last { $0.contains(" shapes × ") }?.split(separator: " ").first
    #expect(count.flatMap { Int($0) }.map { $0 >= 10 } == true, "\(run.out)")
    // --channels 1 (the Fashion-MNIST recipe): D's first convolution has 1·4·4 = 16 patch values.
    let gray = try launch(
      try kallimaBinary(), ["tune", "--batch", "2", "--size", "32", "--width", "8", "--channels", "1", "--dry-run"],
      environment: ["KALLIMA_DEVICE": selector, "KALLIMA_TUNING": "off"])
    #expect(gray.status == 0 && gray.out.contains("8x512x16"), "\(gray.out)")
  }
}
