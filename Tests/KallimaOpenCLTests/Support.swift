import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpSuite
import KallimaOpenCL
import Testing

/// One OpenCL backend per test process (kernel compilation happens once). `KALLIMA_DEVICE`
/// picks the device (default: the first OpenCL device, PoCL on a machine without a GPU).
/// Creating it throwing fails every OpenCL test: the suite never skips them silently.
let sharedOpenCL: Result<OpenCLBackend, Error> = Result {
  let selector = ProcessInfo.processInfo.environment["KALLIMA_DEVICE"].flatMap { $0.hasPrefix("opencl") ? $0 : nil }
  return try OpenCLBackend(selector: selector ?? "opencl")
}

/// Runs `c` on the CPU reference and on `cl` from the same initial values and records every
/// mismatch of every tensor (`OpCase.mismatches`), prefixed by the case's name and `label`.
func expectParity(_ c: OpCase, on cl: OpenCLBackend, label: String? = nil) throws {
  let result = try c.compare(on: cl, reference: CPUBackend())
  for problem in result.problems {
    Issue.record(Comment(rawValue: "\(c.name)\(label.map { " (\($0))" } ?? ""): \(problem)"))
  }
}

/// Checks |actual − expected| <= atol + rtol·|expected| elementwise; records the first few
/// failing indices with both values, at the caller's source location.
func expectClose(
  _ actual: [Float], _ expected: [Float], atol: Float, rtol: Float, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  if let m = Comparison.close(actual, expected, atol: atol, rtol: rtol) {
    Issue.record(Comment(rawValue: "\(what): \(m)"), sourceLocation: sourceLocation)
  }
}

/// Bitwise equality, reporting the first differing indices.
func expectBitIdentical(
  _ actual: [Float], _ expected: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  if let m = Comparison.bitIdentical(actual, expected) {
    Issue.record(Comment(rawValue: "\(what): \(m)"), sourceLocation: sourceLocation)
  }
}
