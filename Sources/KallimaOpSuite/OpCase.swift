import KallimaCore

/// How a tensor of a case starts out.
public enum TensorInit {
  /// N(0, std²).
  case normal(Float)
  /// U[low, high).
  case uniform(Float, Float)
  case zeros
  case constant(Float)
}

/// One tensor of a case: its role (name), shape and initial values.
public struct TensorSpec {
  public let role: String
  public let shape: Shape
  public let initial: TensorInit
  public init(_ role: String, _ shape: Shape, _ initial: TensorInit = .normal(1)) {
    self.role = role
    self.shape = shape
    self.initial = initial
  }
}

/// One op invocation, described once and used by both the parity tests (CPU vs OpenCL)
/// and the microbenchmarks (CLBlast's test/routines pattern).
public struct OpCase {
  /// Op family, e.g. "conv2d_fwd".
  public let op: String
  /// Shape and parameter summary.
  public let detail: String
  /// Every tensor the op touches; all are compared after the run.
  public let tensors: [TensorSpec]
  /// Longest sum behind one output value (tolerance grows with it).
  public let reductionLength: Int
  /// Floating-point operations of one run (0 for bandwidth-bound ops).
  public let flops: Double
  /// Bytes the op must move at least once.
  public let bytes: Double
  /// Bit-identical results are required (random fills).
  public let exact: Bool
  /// Runs the op on a backend over tensors made from `tensors`.
  public let run: (Backend, [String: Tensor]) throws -> Void

  public init(
    _ op: String, _ detail: String, tensors: [TensorSpec], reductionLength: Int = 1, flops: Double = 0,
    bytes: Double? = nil, exact: Bool = false, run: @escaping (Backend, [String: Tensor]) throws -> Void
  ) {
    self.op = op
    self.detail = detail
    self.tensors = tensors
    self.reductionLength = reductionLength
    self.flops = flops
    self.bytes = bytes ?? Double(tensors.reduce(0) { $0 + $1.shape.count } * 4)
    self.exact = exact
    self.run = run
  }

  public var name: String { "\(op) \(detail)" }

  /// Deterministic host values for every tensor (seeded by the case name and role).
  public func initialValues() -> [String: [Float]] {
    var values: [String: [Float]] = [:]
    for spec in tensors {
      let seed = OpCase.seed(name + "/" + spec.role)
      let stream = RandomStream(seed: seed)
      let n = spec.shape.count
      switch spec.initial {
      case .normal(let std):
        values[spec.role] = (0..<n).map { Philox.normal(stream: stream, index: $0, mean: 0, std: std) }
      case .uniform(let lo, let hi):
        values[spec.role] = (0..<n).map { Philox.uniform(stream: stream, index: $0, low: lo, high: hi) }
      case .zeros: values[spec.role] = [Float](repeating: 0, count: n)
      case .constant(let c): values[spec.role] = [Float](repeating: c, count: n)
      }
    }
    return values
  }

  /// The case's tensors on `backend`, holding `values`.
  public func materialize(on backend: Backend, values: [String: [Float]]) throws -> [String: Tensor] {
    var result: [String: Tensor] = [:]
    for spec in tensors { result[spec.role] = try backend.makeTensor(spec.shape, values: values[spec.role]!) }
    return result
  }

  static func seed(_ text: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return h
  }
}
