import Foundation
import KallimaCore

/// What `kallima tune` measured on one device: the CLBlast parameter overrides it ran with,
/// the fastest GEMM algorithm for each shape it timed (with the figures, for the record),
/// the algorithm for shapes it did not time, and when and how it measured.
///
/// Stored as JSON (format tag `kallima-tuning-1`) in `tuning/` under the cache folder, one
/// file per device (see `DeviceTuning`); tables measured here also ship compiled into the
/// binary (`ShippedTuning`).
public struct TuningTable: Codable, Equatable, Sendable {
  public static let currentFormat = "kallima-tuning-1"

  /// The device a table was measured on. A table applies to a device with the same
  /// platform and device names; the driver version is kept to tell a stale table.
  public struct DeviceIdentity: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var platform: String
    public var device: String
    public var driverVersion: String

    public init(platform: String, device: String, driverVersion: String) {
      (self.platform, self.device, self.driverVersion) = (platform, device, driverVersion)
    }

    public init(_ info: OpenCLDeviceInfo) {
      self.init(platform: info.platformName, device: info.name, driverVersion: info.driverVersion)
    }

    /// Same platform and device name (the driver may differ).
    public func matches(_ info: OpenCLDeviceInfo) -> Bool { platform == info.platformName && device == info.name }

    public var description: String { "\(device) (\(platform), driver \(driverVersion))" }
  }

  /// The measured winner for one GEMM shape.
  public struct ShapeChoice: Codable, Equatable, Sendable {
    public var shape: GemmShape
    public var algorithm: GemmAlgorithm
    /// Best time of the winner (seconds per GEMM) and its rate.
    public var seconds: Double
    public var gflops: Double
    /// The second fastest algorithm and its time, when more than one was timed.
    public var runnerUp: GemmAlgorithm?
    public var runnerUpSeconds: Double?
    /// CLBlast's time with the table's overrides, when it was timed.
    public var clblastSeconds: Double?
    public var clblastGflops: Double?
    /// The untuned choice's time (`GemmSelection.untuned`: what the device ran before).
    public var untunedSeconds: Double?
    public var untunedGflops: Double?
    /// Algorithms timed for this shape (fewer than offered when the budget ran out).
    public var candidatesTimed: Int

    public init(
      shape: GemmShape, algorithm: GemmAlgorithm, seconds: Double, runnerUp: GemmAlgorithm? = nil,
      runnerUpSeconds: Double? = nil, clblastSeconds: Double? = nil, untunedSeconds: Double? = nil,
      candidatesTimed: Int
    ) {
      self.shape = shape
      self.algorithm = algorithm
      self.seconds = seconds
      self.gflops = shape.flops / seconds / 1e9
      self.runnerUp = runnerUp
      self.runnerUpSeconds = runnerUpSeconds
      self.clblastSeconds = clblastSeconds
      self.clblastGflops = clblastSeconds.map { shape.flops / $0 / 1e9 }
      self.untunedSeconds = untunedSeconds
      self.untunedGflops = untunedSeconds.map { shape.flops / $0 / 1e9 }
      self.candidatesTimed = candidatesTimed
    }

    /// CLBlast's time over the winner's (1 when CLBlast won).
    public var speedupOverCLBlast: Double? { clblastSeconds.map { $0 / seconds } }

    /// The untuned choice's time over the winner's (1 when it won).
    public var speedupOverUntuned: Double? { untunedSeconds.map { $0 / seconds } }
  }

  /// When and how the table was measured.
  public struct Measurement: Codable, Equatable, Sendable {
    /// ISO 8601, UTC.
    public var date: String
    /// The search's time budget and the time it took (set-up and compilation included).
    public var budgetSeconds: Double
    public var secondsSpent: Double
    /// False when the budget ran out before every candidate was timed on every shape.
    public var complete: Bool
    /// Timed runs per candidate (best of), after one run that compiles.
    public var repetitions: Int
    /// The command line that measured it.
    public var command: String

    public init(
      date: String, budgetSeconds: Double, secondsSpent: Double, complete: Bool, repetitions: Int, command: String
    ) {
      (self.date, self.budgetSeconds, self.secondsSpent) = (date, budgetSeconds, secondsSpent)
      (self.complete, self.repetitions, self.command) = (complete, repetitions, command)
    }
  }

  /// `kallima-tuning-1`.
  public var format: String
  public var device: DeviceIdentity
  /// CLBlast parameter overrides by kernel ("Xgemm", "GemmRoutine"): parameter → value.
  public var clblast: [String: [String: Int]]
  /// Per-shape winners, largest FLOP count first.
  public var gemm: [ShapeChoice]
  /// The algorithm for shapes the table does not list.
  public var fallback: GemmAlgorithm
  public var measured: Measurement

  public init(
    device: DeviceIdentity, clblast: [String: [String: Int]], gemm: [ShapeChoice], fallback: GemmAlgorithm,
    measured: Measurement
  ) {
    self.format = TuningTable.currentFormat
    self.device = device
    self.clblast = clblast
    self.gemm = gemm.sorted { ($0.shape.flops, $0.shape) > ($1.shape.flops, $1.shape) }
    self.fallback = fallback
    self.measured = measured
  }

  /// The GEMM choices as a backend applies them.
  public var selection: GemmSelection {
    GemmSelection(
      byShape: Dictionary(gemm.map { ($0.shape, $0.algorithm) }, uniquingKeysWith: { first, _ in first }),
      fallback: fallback)
  }

  /// Pretty-printed JSON with sorted keys (stable diffs for shipped tables).
  public func encoded() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(self)
  }

  /// Decodes a table, refusing other formats with a message that names the one found.
  /// `origin` names the file or entry in errors.
  public static func decode(_ data: Data, origin: String) throws -> TuningTable {
    struct Tag: Decodable { var format: String? }
    guard let tag = try? JSONDecoder().decode(Tag.self, from: data) else {
      throw KallimaError.io(path: origin, message: "not a Kallima tuning table (not a JSON object)")
    }
    guard tag.format == currentFormat else {
      throw KallimaError.io(
        path: origin,
        message: "format '\(tag.format ?? "none")' is not \(currentFormat); re-run `kallima tune` to replace it")
    }
    do {
      return try JSONDecoder().decode(TuningTable.self, from: data)
    } catch let error as DecodingError {
      throw KallimaError.io(path: origin, message: "unreadable tuning table: \(describe(error))")
    }
  }

  /// One line for a decoding error: what is wrong and where.
  static func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
      context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
    switch error {
    case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is missing"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
      return "\(path(context)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
  }
}
