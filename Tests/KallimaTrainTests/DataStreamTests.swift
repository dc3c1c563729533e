import Foundation
import KallimaCPU
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaOpenCL
import KallimaTrain
import Testing

/// The dataset as 8-bit images (resident) and streamed from the host give exactly the batches
/// (and so the training runs) the float32 dataset gave before.
@Suite("8-bit and streamed data", .serialized)
struct DataStreamTests {
  /// 40 8x8 gray images (batch 4: an epoch is 10 batches).
  func dataset(_ folder: TemporaryFolder) throws -> ImageDataset {
    let path = folder.path("images-idx3-ubyte")
    try writeIDX(path, count: 40)
    return try ImageDataset.load(path: path, size: 8, channels: nil)
  }

  @Test("the device's byte-to-float conversion is the host's v / 127.5 - 1 for all 256 bytes")
  func conversion() {
    // Kernels/data.cl's unit_from_byte, step by step in float32 (Swift's * and
    // addingProduct are IEEE: rounded once, as OpenCL's * and fma).
    let r = Float(bitPattern: 0x3C00_8081)  // 0x1.010102p-7f
    #expect(r == 1 / Float(127.5), "the kernel's constant is the float nearest 1/127.5")
    for b in 0...255 {
      let v = Float(b)
      let q = v * r
      let residual = v.addingProduct(-q, 127.5)  // fma(-q, 127.5f, v)
      let corrected = q.addingProduct(residual, r)  // fma(residual, r, q)
      #expect(corrected - 1 == DataOrder.unit(UInt8(b)), "byte \(b)")
    }
  }

  @Test("byte gathers, resident and streamed, equal the float gather over three epochs", arguments: ["cpu", "opencl"])
  func batches(device: String) throws {
    let folder = try TemporaryFolder()
    let data = try dataset(folder)
    // A backend of its own: its traffic counters must see this test's commands only (the
    // shared one also runs TrainingRunTests in parallel, whose waits would count here).
    let backend: Backend = device == "cpu" ? CPUBackend() : try OpenCLBackend()
    let order = DataOrder(seed: 0xDA7A, count: data.count)
    let (batch, batches) = (4, 30)
    let shape: Shape = [batch, 1, 8, 8]
    let floats = try backend.makeTensor([data.count, 1, 8, 8], values: data.pixels)
    let bytes = try backend.makeByteTensor([data.count, 1, 8, 8])
    try data.bytes.withUnsafeBytes { try backend.write(bytes: $0, to: bytes, offset: 0) }
    let stream = try ImageStream(dataset: data, order: order, batch: batch, backend: backend, depth: 3)
    let window = try backend.makeByteTensor(shape)
    var streamed: [Tensor] = []
    try backend.synchronize()
    let before = backend.traffic
    for b in 0..<batches {
      let position = UInt64(b * batch)
      let y = try backend.makeTensor(shape)
      try stream.enqueueBatch(position: position, into: window)
      try backend.gather_images_u8(source: window, y: y, order: order, position: position, flip: true, streamed: true)
      streamed.append(y)
    }
    let during = backend.traffic.since(before)
    // Streaming enqueues only: the training thread never waits on the device for it.
    #expect(during.hostWaits == 0, "\(during)")
    #expect(during.bytesToDevice == batches * batch * 64)
    for b in 0..<batches {
      let position = UInt64(b * batch)
      let (fromFloat, fromBytes) = (try backend.makeTensor(shape), try backend.makeTensor(shape))
      try backend.gather_images(source: floats, y: fromFloat, order: order, position: position, flip: true)
      try backend.gather_images_u8(
        source: bytes, y: fromBytes, order: order, position: position, flip: true, streamed: false)
      let expected = try backend.read(fromFloat)
      #expect(try backend.read(fromBytes).map(\.bitPattern) == expected.map(\.bitPattern), "resident batch \(b) on \(device)")
      #expect(try backend.read(streamed[b]).map(\.bitPattern) == expected.map(\.bitPattern), "streamed batch \(b) on \(device)")
    }
  }

  @Test("a resume mid-stream re-aims the ring: batches after a jump are the right ones")
  func jump() throws {
    let folder = try TemporaryFolder()
    let data = try dataset(folder)
    let backend = CPUBackend()
    let order = DataOrder(seed: 5, count: data.count)
    let stream = try ImageStream(dataset: data, order: order, batch: 4, backend: backend, depth: 2)
    let window = try backend.makeByteTensor([4, 1, 8, 8])
    // Forward, a jump ahead, a jump back into part of the ring's range, and back to the start.
    for position: UInt64 in [0, 4, 52, 56, 60, 48, 52, 56, 60, 64, 8, 0] {
      try stream.enqueueBatch(position: position, into: window)
      let expected = (0..<4).flatMap { i -> [UInt8] in
        let k = order.index(position + UInt64(i))
        return Array(data.bytes[(data.bytes.startIndex + k * 64)..<(data.bytes.startIndex + (k + 1) * 64)])
      }
      #expect(try backend.byteValues(window) == expected, "window at \(position)")
    }
  }

  @Test("a stream with a stride (rank 1 of 2) fills exactly its own slices, ahead of time")
  func stride() throws {
    let folder = try TemporaryFolder()
    let data = try dataset(folder)
    let backend = CPUBackend()
    let order = DataOrder(seed: 5, count: data.count)
    let stream = try ImageStream(dataset: data, order: order, batch: 2, stride: 4, backend: backend, depth: 3)
    let window = try backend.makeByteTensor([2, 1, 8, 8])
    for step in 0..<25 {
      let position = UInt64(step * 4 + 2)  // rank 1's half of a job batch of 4
      try stream.enqueueBatch(position: position, into: window)
      let expected = (0..<2).flatMap { i -> [UInt8] in
        let k = order.index(position + UInt64(i))
        return Array(data.bytes[(data.bytes.startIndex + k * 64)..<(data.bytes.startIndex + (k + 1) * 64)])
      }
      #expect(try backend.byteValues(window) == expected, "window at \(position)")
      usleep(2_000)  // the filler's time to run ahead, as a training step gives it
    }
    // The ring followed the stride instead of re-aiming at every request: only the first
    // request (and a filler that fell behind) waited.
    #expect(stream.stalls <= 3, "\(stream.stalls) of 25 requests waited")
  }

  @Test("training from bytes is bit-identical to training from float32, on OpenCL")
  func bytesTrainLikeFloats() throws {
    let folder = try TemporaryFolder()
    let data = try dataset(folder)
    let backend = try trainOpenCL.get()
    let config = DCGANConfig(nz: 8, ngf: 4, ndf: 4, channels: 1, imageSize: 8)
    let floats = try backend.makeTensor([data.count, 1, 8, 8], values: data.pixels)
    let bytes = try backend.makeByteTensor([data.count, 1, 8, 8])
    try data.bytes.withUnsafeBytes { try backend.write(bytes: $0, to: bytes, offset: 0) }
    var results: [[String: [Float]]] = []
    for images in [floats, bytes] {
      let trainer = try GANTrainer(
        backend: backend, config: config, batch: 4, seed: 3, noise: .device(seed: 9),
        data: .dataset(images, seed: 77, flip: true))
      for _ in 0..<12 { try trainer.step() }
      results.append(try trainerParameters(trainer))
    }
    #expect(results[0].count > 4)
    for (name, values) in results[0] { #expect(results[1][name]!.map(\.bitPattern) == values.map(\.bitPattern), "\(name)") }
  }

  @Test("a streamed training run writes the same checkpoints as a resident one, over 2.5 epochs")
  func streamedRunMatchesResident() throws {
    let backend = try trainOpenCL.get()
    var checkpoints: [Data] = []
    var notes: [[String]] = []
    let data = try TemporaryFolder()
    for budget in [nil, 100] as [Int?] {
      let folder = try TemporaryFolder()
      var options = try tinyOptions(data, steps: 25)
      options.out = folder.path("run")
      options.dataMemory = budget  // 40 images of 64 bytes: 2560 bytes, streamed under a budget of 100
      var seen: [String] = []
      let run = try TrainingRun(options: options, backend: backend) { if case .note(let n) = $0 { seen.append(n) } }
      try run.run()
      checkpoints.append(try Data(contentsOf: URL(fileURLWithPath: run.latestCheckpoint)))
      notes.append(seen)
    }
    #expect(notes[0].allSatisfy { !$0.contains("streaming") }, "\(notes[0])")
    #expect(notes[1].contains { $0.contains("streaming it from the host") }, "\(notes[1])")
    #expect(checkpoints[0] == checkpoints[1], "the streamed run's latest checkpoint differs from the resident run's")
  }

  /// Each rank streams only its own slices (a stride of the job's batch) and gets exactly
  /// the images the resident sharded gather picks.
  @Test("a data-parallel job (2 ranks as threads) streaming its data writes the checkpoint a resident job writes")
  func streamedRanksMatchResident() throws {
    let data = try TemporaryFolder()
    var checkpoints: [Data] = []
    for budget in [nil, 100] as [Int?] {
      let folder = try TemporaryFolder()
      var options = try tinyOptions(data, steps: 25)
      options.out = folder.path("run")
      options.dataMemory = budget
      let job = options
      let group = ThreadGroup(size: 2)
      try group.run { rank in
        try TrainingRun(options: job, backend: try OpenCLBackend(), collective: group.member(rank)).run()
      }
      checkpoints.append(try Data(contentsOf: URL(fileURLWithPath: folder.path("run/checkpoints/latest.safetensors"))))
    }
    #expect(checkpoints[0] == checkpoints[1], "the streamed job's latest checkpoint differs from the resident job's")
  }

  @Test("a streamed run stopped mid-epoch and resumed ends where an uninterrupted resident run does")
  func streamedResume() throws {
    let backend = try trainOpenCL.get()
    let data = try TemporaryFolder()
    let (straight, interrupted) = (try TemporaryFolder(), try TemporaryFolder())
    var options = try tinyOptions(data, steps: 25)
    options.out = straight.path("run")
    let uninterrupted = try TrainingRun(options: options, backend: backend)
    try uninterrupted.run()
    options.out = interrupted.path("run")
    options.dataMemory = 100
    options.steps = 13  // mid-epoch: 10 batches an epoch
    try TrainingRun(options: options, backend: backend).run()
    options.steps = 25
    let resumed = try TrainingRun(options: options, backend: backend, resume: options.out)
    try resumed.run()
    let (expected, actual) = (try parameters(uninterrupted), try parameters(resumed))
    #expect(expected.count > 4 && expected.keys == actual.keys)
    for (name, values) in expected {
      #expect(actual[name]?.map(\.bitPattern) == values.map(\.bitPattern), "\(name) differs after a streamed resume")
    }
  }

  @Test("--eval-every on a streamed dataset stops before training and says what to change")
  func evaluationNeedsResidentData() throws {
    let data = try TemporaryFolder()
    var options = try tinyOptions(data, steps: 2)
    (options.dataMemory, options.evalEvery) = (100, 1)
    do {
      _ = try TrainingRun(options: options, backend: try trainOpenCL.get())
      Issue.record("a streamed run with --eval-every started")
    } catch let error as KallimaError {
      #expect("\(error)".contains("--data-memory") && "\(error)".contains("streamed"), "\(error)")
    }
  }
}

func trainerParameters(_ trainer: GANTrainer) throws -> [String: [Float]] {
  var all: [String: [Float]] = [:]
  for (prefix, store) in [("G.", trainer.generatorParameters), ("D.", trainer.discriminatorParameters)] {
    for e in store.entries { all[prefix + e.name] = try trainer.backend.read(e.tensor) }
  }
  return all
}

extension CPUBackend {
  func byteValues(_ t: Tensor) throws -> [UInt8] {
    Array(try t.storage(CPUByteBuffer.self, op: "test", backend: name).bytes.prefix(t.count))
  }
}
