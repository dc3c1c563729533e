import KallimaCore
import KallimaData
import KallimaGAN

extension TrainingRun {
  /// Where the trainer's real batches come from: the dataset in device memory as 8-bit
  /// images when it fits `options.dataMemory` (default `Backend.defaultDataMemory`), else
  /// streamed from the host (`ImageStream`). Both give the same batches, bit for bit.
  /// Returns the device tensor too when the set is resident (the mode classifier reads it).
  /// In a data-parallel job of `ranks`, each rank streams only its own `batch / ranks`
  /// images of every batch.
  public static func realSource(
    _ dataset: ImageDataset, options: TrainingOptions, backend: Backend, seed: UInt64, ranks: Int = 1, events: (Event) -> Void
  ) throws -> (RealSource, images: Tensor?) {
    let budget = options.dataMemory ?? backend.defaultDataMemory
    let megabytes = { (bytes: Int) in String(format: "%.1f MB", Double(bytes) / 1_048_576) }
    if dataset.bytes.count <= budget {
      let images = try backend.makeByteTensor([dataset.count, dataset.channels, dataset.size, dataset.size])
      try dataset.bytes.withUnsafeBytes { try backend.write(bytes: $0, to: images, offset: 0) }
      return (.dataset(images, seed: seed, flip: options.flip), images)
    }
    let stream = try ImageStream(
      dataset: dataset, order: DataOrder(seed: seed, count: dataset.count), batch: options.batch / ranks,
      stride: options.batch, backend: backend)
    events(.note(
      "the dataset takes \(megabytes(dataset.bytes.count)), more than the \(megabytes(budget)) it may use on the "
        + "device (--data-memory): streaming it from the host, \(stream.depth) batches ahead"))
    return (.streamed(stream, count: dataset.count, seed: seed, flip: options.flip), nil)
  }
}
