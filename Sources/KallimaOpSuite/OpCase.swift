import KallimaCore

/// How a tensor of a case starts out.
public enum TensorInit {
  /// N(0, std²).
  case normal(Float)
  /// U[low, high).
  case uniform(Float, Float)
  case zeros
  case constant(Float)
  /// One-hot rows along the last axis (class labels): each row a 1 at a class drawn
  /// uniformly from 0 ..< classes (classes ≤ the last axis), zeros elsewhere.
  case oneHot(classes: Int)
  /// Every element an integer drawn uniformly from 0 ..< levels (levels 2: multi-hot tags).
  case levels(Int)
  /// low + (high − low)·i/count in element order: a trend, so that parts of a tensor have
  /// different means (splits of a reduction then disagree, as they do in real activations).
  case ramp(Float, Float)
  /// Written in full by the op: starts as `OpCase.sentinel` (NaN), so an element the op
  /// skips, or adds into instead of overwriting, stays NaN and fails `mismatches`.
  case output
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
      case .oneHot(let classes):
        let width = spec.shape.rank == 0 ? 1 : spec.shape[spec.shape.rank - 1]
        precondition(classes >= 1 && classes <= width, "\(classes) classes do not fit rows of \(width) in \(spec.shape)")
        var rows = [Float](repeating: 0, count: n)
        for r in 0..<(n / width) {
          rows[r * width + OpCase.draw(stream, index: r, below: classes)] = 1
        }
        values[spec.role] = rows
      case .levels(let k):
        values[spec.role] = (0..<n).map { Float(OpCase.draw(stream, index: $0, below: k)) }
      case .ramp(let lo, let hi):
        values[spec.role] = (0..<n).map { lo + (hi - lo) * Float($0) / Float(max(n, 1)) }
      case .output: values[spec.role] = [Float](repeating: OpCase.sentinel, count: n)
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

  /// What every output holds before the op runs: a quiet NaN with a recognisable payload
  /// (any arithmetic on it gives NaN, so accumulating into it shows too).
  public static let sentinel = Float(bitPattern: 0x7FC0_5E17)

  /// The roles of the tensors the op must write in full (`TensorInit.output`).
  public var outputRoles: [String] {
    tensors.compactMap { if case .output = $0.initial { return $0.role } else { return nil } }
  }

  /// The parity tolerance |a − r| ≤ atol + rtol·|r|, atol growing with the longest
  /// reduction behind one value.
  public var tolerance: (atol: Float, rtol: Float) { (1e-5 * (1 + Float(reductionLength).squareRoot()), 1e-4) }

  /// What is wrong with a candidate backend's tensors after a run, compared with the
  /// reference's (`values` hold every tensor read back, by role): an output that still holds
  /// NaN on either side (the sentinel was never overwritten, or was added into), or a tensor
  /// that differs (bitwise when `exact`, else beyond `tolerance`). One message per failing
  /// tensor; empty when the candidate passes.
  public func mismatches(reference: [String: [Float]], candidate: [String: [Float]]) -> [String] {
    var problems: [String] = []
    let outputs = Set(outputRoles)
    for spec in tensors {
      let (r, a) = (reference[spec.role] ?? [], candidate[spec.role] ?? [])
      if outputs.contains(spec.role) {
        for (side, values) in [("reference", r), ("candidate", a)] {
          let unwritten = values.indices.filter { values[$0].isNaN }
          if !unwritten.isEmpty {
            problems.append(
              "\(spec.role): \(unwritten.count) of \(values.count) elements on the \(side) still hold the NaN sentinel "
                + "(never written, or accumulated into); first at \(unwritten.prefix(5).map(String.init).joined(separator: ", "))")
          }
        }
      }
      let (atol, rtol) = tolerance
      if let m = exact ? Comparison.bitIdentical(a, r) : Comparison.close(a, r, atol: atol, rtol: rtol) {
        problems.append("\(spec.role): \(m)")
      }
    }
    return problems
  }

  /// An integer uniform in 0 ..< k from element `index` of the stream.
  static func draw(_ stream: RandomStream, index: Int, below k: Int) -> Int {
    min(Int(Philox.uniform(stream: stream, index: index, low: 0, high: Float(k))), k - 1)
  }

  static func seed(_ text: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return h
  }
}

/// Elementwise comparisons of a result with its expected values, shared by the parity,
/// golden and backend tests: nil when they pass, else what failed, with the first indices.
public enum Comparison {
  /// Whether |actual − expected| ≤ atol + rtol·|expected| everywhere (NaN never passes).
  public static func close(_ actual: [Float], _ expected: [Float], atol: Float, rtol: Float) -> String? {
    guard actual.count == expected.count else { return "\(actual.count) values, expected \(expected.count)" }
    let bad = actual.indices.filter { i in
      let (a, e) = (actual[i], expected[i])
      return !(a == e || abs(a - e) <= atol + rtol * abs(e))
    }
    guard !bad.isEmpty else { return nil }
    let first = bad.prefix(5).map { "[\($0)] expected \(expected[$0]), got \(actual[$0]) (diff \(abs(actual[$0] - expected[$0])))" }
    return "\(bad.count) of \(actual.count) values outside atol \(atol) + rtol \(rtol): " + first.joined(separator: "; ")
  }

  /// Whether every value has the same bits.
  public static func bitIdentical(_ actual: [Float], _ expected: [Float]) -> String? {
    guard actual.count == expected.count else { return "\(actual.count) values, expected \(expected.count)" }
    let diffs = actual.indices.filter { actual[$0].bitPattern != expected[$0].bitPattern }
    guard !diffs.isEmpty else { return nil }
    let first = diffs.prefix(5).map { "[\($0)] expected \(expected[$0]), got \(actual[$0])" }
    return "\(diffs.count) values differ bitwise; first: " + first.joined(separator: "; ")
  }
}

extension Backend {
  /// A tensor for an op to write, filled with `OpCase.sentinel`: an element the op does not
  /// overwrite stays NaN, so a comparison of the result fails instead of passing on zeros.
  public func outputTensor(_ shape: Shape) throws -> Tensor {
    let t = try makeTensor(shape)
    try fill(t, value: OpCase.sentinel)
    return t
  }
}
