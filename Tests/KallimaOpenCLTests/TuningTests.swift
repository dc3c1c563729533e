import Foundation
import KallimaCore
@testable import KallimaOpenCL
import Testing

/// Tuning tables: the JSON format, finding a device's table (user file, shipped, untuned),
/// refusing corrupt and foreign files, applying a table to a backend, and the search that
/// `kallima tune` runs. No test reads the user's real cache folder: each uses a folder of
/// its own.
@Suite struct TuningTests {
  /// A fresh folder under the system temporary folder, removed by the caller.
  func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("kallima-tuning-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  func device() throws -> OpenCLDeviceInfo { try sharedOpenCL.get().device }

  /// A two-shape table for `device` (CLBlast overrides as the device's generic ones, so that
  /// applying it changes nothing for the tests sharing the process).
  func sampleTable(for device: OpenCLDeviceInfo, tile: GemmTile = GemmTile(rows: 4, vectors: 1, width: 16, unroll: 1))
    -> TuningTable
  {
    TuningTable(
      device: .init(device), clblast: CLBlastTuning.genericOverrides(for: device),
      gemm: [
        .init(
          shape: GemmShape(m: 64, n: 4096, k: 48), algorithm: .kernel(tile), seconds: 0.002,
          runnerUp: .clblast, runnerUpSeconds: 0.004, clblastSeconds: 0.004, untunedSeconds: 0.003,
          candidatesTimed: 2),
        .init(shape: GemmShape(m: 1, n: 64, k: 8192), algorithm: .clblast, seconds: 0.001, candidatesTimed: 1),
      ],
      fallback: .clblast,
      measured: .init(
        date: "2026-11-29T05:00:00Z", budgetSeconds: 60, secondsSpent: 12.5, complete: true, repetitions: 3,
        command: "kallima tune --shapes 64x4096x48,1x64x8192"))
  }

  /// Where the device's table comes from with no user folder (shipped or untuned).
  func withoutUserTable(_ device: OpenCLDeviceInfo) -> TuningSource {
    DeviceTuning.resolve(for: device, directory: nil, environment: [:]).source
  }

  @Test func tableRoundTripsThroughJSON() throws {
    let table = sampleTable(for: try device())
    let data = try table.encoded()
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains("\"format\" : \"kallima-tuning-1\""))
    #expect(text.contains("\"kernel 4x1x16u1\""))
    let decoded = try TuningTable.decode(data, origin: "test")
    #expect(decoded == table)
    // Largest FLOP count first, whatever order the choices were given in.
    #expect(decoded.gemm.map(\.shape) == [GemmShape(m: 64, n: 4096, k: 48), GemmShape(m: 1, n: 64, k: 8192)])
    #expect(decoded.gemm[0].speedupOverCLBlast == 2)
    #expect(decoded.gemm[0].speedupOverUntuned == 1.5)
    #expect(abs(decoded.gemm[0].gflops - 64.0 * 4096 * 48 * 2 / 0.002 / 1e9) < 1e-9)
    let selection = decoded.selection
    #expect(selection.algorithm(for: GemmShape(m: 64, n: 4096, k: 48)) == .kernel(GemmTile("4x1x16u1")!))
    #expect(selection.algorithm(for: GemmShape(m: 7, n: 7, k: 7)) == .clblast)
  }

  @Test func fileNameIsTheDeviceSlug() {
    let identity = TuningTable.DeviceIdentity(
      platform: "Portable Computing Language", device: "pthread-skylake-avx512", driverVersion: "3.1+debian")
    #expect(DeviceTuning.fileName(for: identity) == "portable-computing-language--pthread-skylake-avx512.json")
    let odd = TuningTable.DeviceIdentity(platform: "NVIDIA CUDA", device: "NVIDIA GeForce RTX 3090 (ti)", driverVersion: "1")
    #expect(DeviceTuning.fileName(for: odd) == "nvidia-cuda--nvidia-geforce-rtx-3090-ti.json")
  }

  @Test func corruptOrForeignFilesWarnAndFallBack() throws {
    let device = try device()
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent(DeviceTuning.fileName(for: .init(device)))
    let fallback = withoutUserTable(device)
    #expect(!fallback.isTuned || fallback.summary == "shipped")

    let cases: [(String, Data, String)] = [
      ("truncated JSON", Data("{\"format\": \"kallima-tun".utf8), "not a Kallima tuning table"),
      ("another format", Data("{\"format\": \"kallima-tuning-0\"}".utf8), "format 'kallima-tuning-0' is not kallima-tuning-1"),
      ("a field missing", Data("{\"format\": \"kallima-tuning-1\", \"gemm\": []}".utf8), "is missing"),
      ("another device's table", try {
        var foreign = sampleTable(for: device)
        foreign.device.device = "some other device"
        return try foreign.encoded()
      }(), "it was measured on some other device"),
    ]
    for (label, data, reason) in cases {
      try data.write(to: path)
      let resolution = DeviceTuning.resolve(for: device, directory: folder, environment: [:])
      #expect(resolution.source == fallback, "\(label)")
      #expect(resolution.warnings.count == 1, "\(label)")
      let warning = resolution.warnings.first ?? ""
      #expect(warning.hasPrefix("kallima: ignoring tuning table \(path.path): "), "\(label): \(warning)")
      #expect(warning.contains(reason), "\(label): \(warning)")
      #expect(!warning.contains("\n"), "\(label): one line")
    }
  }

  @Test func userTableIsFoundAndKallimaTuningOffIgnoresIt() throws {
    let device = try device()
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let table = sampleTable(for: device)
    let url = try DeviceTuning.write(table, directory: folder.appendingPathComponent("tuning"))
    #expect(url.lastPathComponent == DeviceTuning.fileName(for: .init(device)))
    let found = DeviceTuning.resolve(for: device, directory: url.deletingLastPathComponent(), environment: [:])
    #expect(found.table == table)
    #expect(found.source == .user(path: url.path, date: table.measured.date))
    #expect(found.source.summary == "tuned 2026-11-29")
    #expect(found.warnings.isEmpty)
    let off = DeviceTuning.resolve(
      for: device, directory: url.deletingLastPathComponent(), environment: ["KALLIMA_TUNING": "off"])
    #expect(off.table == nil && off.source == .disabled && !off.source.isTuned)

    // Another driver version: still this device's table, with a note that it may be stale.
    var older = table
    older.device.driverVersion = "0.1-old"
    try DeviceTuning.write(older, directory: url.deletingLastPathComponent())
    let stale = DeviceTuning.resolve(for: device, directory: url.deletingLastPathComponent(), environment: [:])
    #expect(stale.table == older)
    #expect(stale.warnings.count == 1 && stale.warnings[0].contains("measured under driver 0.1-old"))
  }

  @Test func loadingATableSetsTheBackendsSelectionAndSource() throws {
    let backend = try OpenCLBackend(device: try device())
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let untuned = withoutUserTable(backend.device)
    #expect(backend.loadTuning(from: folder) == untuned)
    #expect(backend.tuning == untuned)

    let table = sampleTable(for: backend.device)
    let url = try DeviceTuning.write(table, directory: folder)
    let source = backend.loadTuning(from: folder)
    #expect(source == .user(path: url.path, date: table.measured.date))
    #expect(backend.tuning == source)
    #expect(backend.gemmSelection.byShape == table.selection.byShape)
    #expect(backend.gemmSelection.algorithm(for: GemmShape(m: 64, n: 4096, k: 48)) == .kernel(GemmTile("4x1x16u1")!))
    #expect(backend.gemmSelection.fallback == .clblast)
    if !CLBlastTuning.isDisabled { #expect(backend.clblastOverrides == table.clblast) }

    try FileManager.default.removeItem(at: url)
    #expect(backend.loadTuning(from: folder) == untuned)
    if untuned == .untuned {
      #expect(backend.gemmSelection.byShape.isEmpty)
      #expect(backend.gemmSelection.fallback == GemmSelection.untuned(for: backend.device).fallback)
    }
  }

  @Test func shippedTablesDecodeAndNameTheirDevices() {
    #expect(ShippedTuning.tables.count == ShippedTuning.json.count)
    for table in ShippedTuning.tables {
      #expect(!table.device.platform.isEmpty && !table.device.device.isEmpty)
      #expect(!table.gemm.isEmpty)
      #expect(table.gemm.allSatisfy { $0.seconds > 0 && $0.gflops > 0 })
    }
  }

  @Test func recordingCollectsTheShapesGemmRuns() throws {
    let backend = try OpenCLBackend(device: try device())
    let shapes = [GemmShape(m: 5, n: 33, k: 7), GemmShape(m: 16, n: 16, k: 16)]
    let recorded = try backend.recordingGemmShapes {
      for shape in shapes { _ = try backend.timeGemm(shape, .kernel(.cpuDefault), repetitions: 1) }
    }
    #expect(recorded == Set(shapes))
  }

  /// A search over two small shapes: every shape gets a winner among the candidates with a
  /// positive time, and the figures agree with each other.
  @Test func tunerKeepsTheFastestCandidatePerShape() throws {
    let backend = try OpenCLBackend(device: try device())
    let width = GemmTuner.tileWidth(for: backend.device)
    let candidates: [GemmAlgorithm] = [
      .kernel(GemmTile(rows: 4, vectors: 1, width: width, unroll: 1)), .clblast,
      GemmSelection.untuned(for: backend.device).fallback,
    ]
    let selectionBefore = backend.gemmSelection.byShape
    var tuner = GemmTuner(backend: backend, budget: 120, algorithms: candidates)
    tuner.repetitions = 2
    var steps = 0
    tuner.progress = { step in
      steps += 1
      #expect(step.failure == nil, "\(step.algorithm) on \(step.shape): \(step.failure ?? "")")
    }
    let shapes = [GemmShape(m: 33, n: 40, k: 17), GemmShape(m: 8, n: 64, k: 64)]
    let result = try tuner.run(shapes: shapes)
    #expect(steps == 6 + 2 * 2 * 3)  // every candidate on both shapes, then the 3 finalists twice each
    #expect(result.complete)
    #expect(result.choices.map(\.shape) == [GemmShape(m: 8, n: 64, k: 64), GemmShape(m: 33, n: 40, k: 17)])  // by FLOP count
    for choice in result.choices {
      #expect(candidates.map { GemmTuner.effective($0, on: choice.shape) }.contains(choice.algorithm))
      #expect(choice.candidatesTimed == 3)
      #expect(choice.seconds > 0 && choice.gflops > 0)
      let runnerUp = try #require(choice.runnerUpSeconds)
      #expect(choice.seconds <= runnerUp)
      let clblast = try #require(choice.clblastSeconds)
      #expect(choice.seconds <= clblast)
      // The untuned choice (4x4x16u4 on an AVX-512 CPU, CLBlast elsewhere) is among the candidates.
      let untuned = try #require(choice.untunedSeconds)
      #expect(choice.seconds <= untuned && choice.speedupOverUntuned! >= 1)
    }
    #expect(candidates.contains(result.fallback))
    // The backend's own selection is left as it was.
    #expect(backend.gemmSelection.byShape == selectionBefore)
  }

  /// A tile whose columns do not divide n runs narrowed (GemmSelection); the table lists the
  /// tile that ran, and two candidates that narrow to the same tile are timed once.
  @Test func tunerListsTheTileThatRan() throws {
    let backend = try OpenCLBackend(device: try device())
    let wide = GemmTile(rows: 8, vectors: 2, width: 16, unroll: 4)
    let narrow = GemmTile(rows: 8, vectors: 1, width: 16, unroll: 4)
    var tuner = GemmTuner(backend: backend, budget: 60, algorithms: [.kernel(wide), .kernel(narrow)])
    var ran: [GemmAlgorithm] = []
    tuner.progress = { ran.append($0.algorithm) }
    let shape = GemmShape(m: 24, n: 48, k: 40)  // 48 = 3 strips of 16: 2 vectors narrow to 1
    let result = try tuner.run(shapes: [shape])
    // Timed once (the second reuses it), then the one finalist twice more.
    #expect(ran == [GemmAlgorithm](repeating: .kernel(narrow), count: 4))
    let choice = try #require(result.choices.first)
    #expect(choice.algorithm == .kernel(narrow))
    #expect(choice.candidatesTimed == 1 && choice.runnerUp == nil)
    #expect(result.fallback == .kernel(wide))  // as asked: it narrows where it must
  }

  @Test func tunerStopsWhenTheBudgetIsSpent() throws {
    let backend = try OpenCLBackend(device: try device())
    let tuner = GemmTuner(backend: backend, budget: 1e-9)
    let result = try tuner.run(shapes: [GemmShape(m: 8, n: 8, k: 8)])
    #expect(!result.complete)
    #expect(result.choices.isEmpty)
    #expect(result.fallback == GemmSelection.untuned(for: backend.device).fallback)
  }

  @Test func candidatesStartWithTheUntunedChoiceAndCLBlast() throws {
    let device = try device()
    let candidates = GemmTuner.candidates(for: device)
    #expect(candidates.first == GemmSelection.untuned(for: device).fallback)
    #expect(candidates.contains(.clblast))
    #expect(Set(candidates).count == candidates.count)
    let tiles = GemmTile.candidates(width: GemmTuner.tileWidth(for: device)).map(GemmAlgorithm.kernel)
    #expect(Set(candidates) == Set([GemmSelection.untuned(for: device).fallback, .clblast] + tiles))
    #expect([4, 8, 16].contains(GemmTuner.tileWidth(for: device)))
  }

  @Test func xgemmSamplesSatisfyCLBlastsConstraints() throws {
    let device = try device()
    let generic = CLBlastTuning.pocl["Xgemm"]!
    #expect(XgemmSearch.isValid(generic, localMemory: 32768, maxWorkGroupSize: 256))
    var bad = generic
    bad["MWG"] = 16  // 16 is not a multiple of MDIMC·VWM = 64
    #expect(!XgemmSearch.isValid(bad, localMemory: 32768, maxWorkGroupSize: 256))
    bad = generic
    bad["KWI"] = 8
    bad["KWG"] = 4  // not a multiple of KWI
    #expect(!XgemmSearch.isValid(bad, localMemory: 32768, maxWorkGroupSize: 256))
    bad = generic
    (bad["SA"], bad["SB"]) = (1, 1)  // (32·128/8 + 32·128/8)·4 = 4 KiB of local memory
    #expect(XgemmSearch.isValid(bad, localMemory: 4096, maxWorkGroupSize: 256))
    #expect(!XgemmSearch.isValid(bad, localMemory: 4095, maxWorkGroupSize: 256))
    #expect(!XgemmSearch.isValid(generic, localMemory: 32768, maxWorkGroupSize: 63))  // 8·8 items

    let samples = XgemmSearch.sample(count: 40, for: device, seed: 7)
    #expect(samples.count == 40)
    #expect(Set(samples.map { $0.sorted { $0.key < $1.key }.map(\.value) }).count == 40)
    for p in samples {
      #expect(XgemmSearch.isValid(p, localMemory: device.localMemory, maxWorkGroupSize: device.maxWorkGroupSize))
      #expect(p.keys.count == generic.keys.count && Set(p.keys) == Set(generic.keys))
    }
    #expect(XgemmSearch.sample(count: 40, for: device, seed: 7) == samples)
  }
}
