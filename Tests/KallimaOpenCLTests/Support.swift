import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpenCL
import Testing

/// One OpenCL backend per test process (kernel compilation happens once). `KALLIMA_DEVICE`
/// picks the device (default: the first OpenCL device, PoCL on a machine without a GPU).
/// Creating it throwing fails every OpenCL test: the suite never skips them silently.
let sharedOpenCL: Result<OpenCLBackend, Error> = Result {
  let selector = ProcessInfo.processInfo.environment["KALLIMA_DEVICE"].flatMap { $0.hasPrefix("opencl") ? $0 : nil }
  return try OpenCLBackend(selector: selector ?? "opencl")
}

/// Checks |actual − expected| <= atol + rtol·|expected| elementwise; records the first few
/// failing indices with both values, at the caller's source location.
func expectClose(
  _ actual: [Float], _ expected: [Float], atol: Float, rtol: Float, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.count == expected.count else {
    Issue.record("\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    return
  }
  var bad: [String] = []
  var badCount = 0
  for i in actual.indices {
    let (a, e) = (actual[i], expected[i])
    let ok = a == e || abs(a - e) <= atol + rtol * abs(e)
    if !ok {
      badCount += 1
      if bad.count < 5 { bad.append("[\(i)] expected \(e), got \(a) (diff \(abs(a - e)))") }
    }
  }
  if badCount > 0 {
    let message: String =
      "\(what): \(badCount) of \(actual.count) values outside atol \(atol) + rtol \(rtol): "
      + bad.joined(separator: "; ")
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
  }
}

/// Bitwise equality, reporting the first differing indices.
func expectBitIdentical(
  _ actual: [Float], _ expected: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  let diffs = actual.indices.filter { actual[$0].bitPattern != expected[$0].bitPattern }
  if actual.count != expected.count || !diffs.isEmpty {
    let first = diffs.prefix(5).map { "[\($0)] expected \(expected[$0]), got \(actual[$0])" }
    let message: String = "\(what): \(diffs.count) values differ bitwise; first: " + first.joined(separator: "; ")
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
  }
}
