import KallimaCore

extension TrainingRun {
  /// Runs `body`, which allocates `what` on the device. A device that is out of memory
  /// becomes an error naming what was being allocated, the size asked for (from the
  /// backend's error) and what to change.
  static func allocating<T>(_ what: String, options: TrainingOptions, _ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let error as KallimaError {
      guard case .outOfMemory = error else { throw error }
      throw KallimaError.noDevice(
        "train: out of device memory allocating \(what): \(error.description). To fit: a smaller --batch (now "
          + "\(options.batch)), a smaller model (--width, now \(options.ngf); --size, now \(options.size)), or another "
          + "--device (kallima devices lists them)")
    }
  }
}
