import Foundation
import KallimaCore
import KallimaTrain
import Testing

/// What `kallima train` tells a user whose device is too small or whose kernels do not build.
@Suite("kallima train on device failures")
struct DeviceFailureTests {
  @Test("a batch that does not fit names the plan, the bytes asked for and what to change")
  func outOfMemory() throws {
    let folder = try TemporaryFolder()
    var arguments = try SignalRun.train(out: folder.path("run"), steps: 2)
    arguments += ["--size", "32", "--batch", "64"]  // later options win: 64 images of 32x32 per step
    // A device failure: exit status 2 (bad input is 1).
    let text = try KallimaProcess.run(arguments, environment: ["KALLIMA_DEVICE_MEMORY_LIMIT": "1M"], expecting: 2)
    #expect(text.contains("out of device memory allocating the networks and training plans (D and G steps at batch 64)"), "\(text)")
    #expect(text.contains(#/could not allocate \d+ bytes/#) && text.contains("of the 1048576 bytes allowed"), "\(text)")
    #expect(text.contains("a smaller --batch (now 64)") && text.contains("another --device"), "\(text)")
    // Nothing was trained, so nothing was written as a checkpoint.
    #expect(!FileManager.default.fileExists(atPath: folder.path("run/checkpoints/latest.safetensors")))

    let bad = try KallimaProcess.run(
      arguments, environment: ["KALLIMA_DEVICE_MEMORY_LIMIT": "lots"], expecting: 1)
    #expect(bad.contains("KALLIMA_DEVICE_MEMORY_LIMIT: 'lots' is not a size"), "\(bad)")
  }

  @Test("a kernel that does not build prints the program's name, the options and the build log")
  func brokenKernel() throws {
    let folder = try TemporaryFolder()
    let kernels = folder.path("kernels")
    try FileManager.default.createDirectory(atPath: kernels, withIntermediateDirectories: true)
    let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Kernels/data.cl")
    let source = try String(contentsOf: shipped, encoding: .utf8) + "\nkallima_broken_token here;\n"
    try source.write(toFile: kernels + "/data.cl", atomically: true, encoding: .utf8)
    let text = try KallimaProcess.run(
      try SignalRun.train(out: folder.path("run"), steps: 2),
      environment: ["KALLIMA_KERNELS_DIR": kernels, "KALLIMA_CACHE_DIR": "off"], expecting: 2)
    #expect(text.contains("kernels from KALLIMA_KERNELS_DIR=\(kernels): data.cl"), "\(text)")
    #expect(text.contains("kallima: OpenCL program data.cl failed to build for opencl:"), "\(text)")
    #expect(text.contains("build options: -cl-std=CL1.2"), "\(text)")
    let log = try #require(text.components(separatedBy: "build log:\n").last)
    #expect(log.contains("kallima_broken_token"), "the compiler's log should name the bad token:\n\(text)")
  }
}

/// The exit statuses `kallima` documents: 1 bad input, 2 device failure (above), 3 diverged.
@Suite("kallima exit statuses")
struct ExitStatusTests {
  @Test("a run that diverges exits 3 with the message and a diverged status; bad input exits 1")
  func divergedAndBadInput() throws {
    let folder = try TemporaryFolder()
    var arguments = try SignalRun.train(out: folder.path("run"), steps: 60, checkpointEvery: 1)
    arguments += ["--lr", "1e30", "--log-every", "1"]  // later options win
    let text = try KallimaProcess.run(arguments, expecting: 3)
    #expect(text.contains("training diverged"), "\(text)")
    #expect(try RunStatus.read(folder: folder.path("run"))?.state == .diverged)
    let bad = try KallimaProcess.run(["train", "--data", folder.path("no such folder"), "--out", folder.path("b")], expecting: 1)
    #expect(bad.contains("no such folder"), "\(bad)")
  }
}
