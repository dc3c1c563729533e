import KallimaCore

/// One case run on a candidate backend and on the reference from the same initial values:
/// what `kallima selftest` reports per case and what the parity tests assert on, so the two
/// cannot drift apart.
public struct CaseComparison: Sendable {
  /// The op family ("conv2d_fwd").
  public let op: String
  /// Shapes and parameters ("x[2, 3, 8, 8] w[5, 3, 4, 4] s2 p1").
  public let detail: String
  /// The largest |candidate − reference| / (atol + rtol·|reference|) over every tensor of the
  /// case: at most 1 passes. Bit-exact cases give 0 or infinity; a NaN gives infinity.
  public let worstRatio: Double
  /// One message per failing tensor (`OpCase.mismatches`); empty when the case passes.
  public let problems: [String]

  public var passed: Bool { problems.isEmpty }
  public var name: String { "\(op) \(detail)" }

  public init(op: String, detail: String, worstRatio: Double, problems: [String]) {
    self.op = op
    self.detail = detail
    self.worstRatio = worstRatio
    self.problems = problems
  }
}

extension OpCase {
  /// Runs the case on `reference` and on `candidate` from the same values and compares
  /// every tensor.
  public func compare(on candidate: Backend, reference: Backend) throws -> CaseComparison {
    let initial = initialValues()
    let onReference = try materialize(on: reference, values: initial)
    let onCandidate = try materialize(on: candidate, values: initial)
    try run(reference, onReference)
    try run(candidate, onCandidate)
    var expected: [String: [Float]] = [:]
    var actual: [String: [Float]] = [:]
    for spec in tensors {
      expected[spec.role] = try reference.read(onReference[spec.role]!)
      actual[spec.role] = try candidate.read(onCandidate[spec.role]!)
    }
    let (atol, rtol) = tolerance
    let worst = tensors.map { spec in
      exact
        ? Comparison.bitRatio(actual[spec.role]!, expected[spec.role]!)
        : Comparison.worstRatio(actual[spec.role]!, expected[spec.role]!, atol: atol, rtol: rtol)
    }.max() ?? 0
    return CaseComparison(
      op: op, detail: detail, worstRatio: worst, problems: mismatches(reference: expected, candidate: actual))
  }
}

extension Comparison {
  /// max |a − e| / (atol + rtol·|e|) over the elements (0 where a == e; infinity for a NaN,
  /// a zero allowance with a difference, or different lengths): at most 1 exactly when
  /// `close` passes.
  public static func worstRatio(_ actual: [Float], _ expected: [Float], atol: Float, rtol: Float) -> Double {
    guard actual.count == expected.count else { return .infinity }
    var worst = 0.0
    for (a, e) in zip(actual, expected) where a != e {
      let allowed = Double(atol) + Double(rtol) * Double(abs(e))
      let ratio = Double(abs(a - e)) / allowed
      worst = ratio.isNaN ? .infinity : max(worst, ratio)
    }
    return worst
  }

  /// 0 when every value has the same bits, else infinity (`bitIdentical`'s verdict as a ratio).
  public static func bitRatio(_ actual: [Float], _ expected: [Float]) -> Double {
    bitIdentical(actual, expected) == nil ? 0 : .infinity
  }
}
