import Testing

/// Records an issue unless |actual − expected| <= atol + rtol·|expected|, naming the value.
func expectClose(
  _ actual: Double, _ expected: Double, rtol: Double, atol: Double = 0, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let error = abs(actual - expected)
  #expect(
    error <= atol + rtol * abs(expected),
    "\(what): got \(actual), expected \(expected) (error \(error), allowed \(atol + rtol * abs(expected)))",
    sourceLocation: sourceLocation)
}
