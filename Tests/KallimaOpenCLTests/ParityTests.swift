import KallimaCPU
import KallimaCore
import KallimaOpSuite
import KallimaOpenCL
import Testing

/// Every op, forward and backward, on the CPU reference and on OpenCL, over the sweep in
/// `OpCatalog.parityCases` (work-group edges, batch 1, odd channels, DCGAN geometries).
/// Outputs start as a NaN sentinel on both backends (`TensorInit.output`), so an element a
/// kernel skips or accumulates into fails the case (`OpCase.mismatches`). That the sweep
/// covers every Backend op is checked in KallimaCPUTests/OpSuiteTests (no device needed).
@Suite("CPU vs OpenCL parity")
struct ParityTests {
  static let cases = OpCatalog.parityCases()

  @Test("op parity", arguments: 0..<cases.count)
  func parity(index: Int) throws {
    let c = Self.cases[index]
    let cl = try sharedOpenCL.get()
    let cpu = CPUBackend()
    let initial = c.initialValues()
    let onCPU = try c.materialize(on: cpu, values: initial)
    let onCL = try c.materialize(on: cl, values: initial)
    try c.run(cpu, onCPU)
    try c.run(cl, onCL)
    var reference: [String: [Float]] = [:]
    var candidate: [String: [Float]] = [:]
    for spec in c.tensors {
      reference[spec.role] = try cpu.read(onCPU[spec.role]!)
      candidate[spec.role] = try cl.read(onCL[spec.role]!)
    }
    for problem in c.mismatches(reference: reference, candidate: candidate) {
      Issue.record(Comment(rawValue: "\(c.name): \(problem)"))
    }
  }
}
