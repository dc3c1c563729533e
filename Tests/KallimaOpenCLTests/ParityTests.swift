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
    try expectParity(Self.cases[index], on: try sharedOpenCL.get())
  }
}
