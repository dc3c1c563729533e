import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpSuite
import KallimaOpenCL
@testable import KallimaSelfTest
import Testing

/// `kallima selftest`'s library side: the quick selection, the comparison catching a wrong
/// result, the report's verdict, and the quick self-test passing on this device.
@Suite("Self-test")
struct SelfTestTests {
  @Test("--quick keeps the first two and the last case of every op, and every op")
  func quickSelection() {
    let all = SelfTest.cases(quick: false)
    let quick = SelfTest.cases(quick: true)
    #expect(Set(quick.map(\.op)) == Set(all.map(\.op)))
    #expect(quick.count < all.count / 2, "\(quick.count) of \(all.count)")
    for op in Set(all.map(\.op)) {
      let names = all.filter { $0.op == op }.map(\.name)
      let kept = quick.filter { $0.op == op }.map(\.name)
      #expect(kept == Array(Set([names.first!, names.dropFirst().first, names.last!].compactMap { $0 })).sorted { a, b in
        names.firstIndex(of: a)! < names.firstIndex(of: b)!
      }, "\(op)")
    }
    #expect(SelfTest.cases(quick: false, filter: "CONV2D_FWD").allSatisfy { $0.op == "conv2d_fwd" })
  }

  @Test("a device result off by more than the tolerance fails its case, naming the tensor")
  func catchesWrongResults() throws {
    let cl = try sharedOpenCL.get()
    // Doubles on the CPU, doubles plus 1e-3 on the device: 4.5x the allowed 2.2e-4
    // (atol 1e-5·(1 + √1) + rtol 1e-4 · 2).
    let wrong = OpCase("scale", "deliberately wrong on OpenCL", tensors: [.init("x", [7], .constant(1)), .init("y", [7], .output)]) { be, t in
      try be.scale(t["x"]!, alpha: be is OpenCLBackend ? 2.001 : 2, y: t["y"]!)
    }
    let result = try wrong.compare(on: cl, reference: CPUBackend())
    #expect(!result.passed)
    #expect(result.problems.contains { $0.hasPrefix("y: ") }, "\(result.problems)")
    #expect(result.worstRatio > 4.4 && result.worstRatio < 4.6, "\(result.worstRatio)")
    let right = OpCase("scale", "same on both", tensors: [.init("x", [7], .constant(1)), .init("y", [7], .output)]) { be, t in
      try be.scale(t["x"]!, alpha: 2, y: t["y"]!)
    }
    let same = try right.compare(on: cl, reference: CPUBackend())
    #expect(same.passed && same.worstRatio == 0)
  }

  @Test("the report fails on one failing case or training entry, names it, and writes infinities as null")
  func verdict() throws {
    let failing = SelfTest.OpRow(op: "conv2d_fwd", cases: 3, worstRatio: .infinity, failures: ["conv2d_fwd x[1, 1, 1, 1]: y: 1 of 1 values outside"])
    let passing = SelfTest.OpRow(op: "add", cases: 2, worstRatio: 0.01, failures: [])
    let report = SelfTest.Report(device: "test device", quick: true, ops: [passing, failing], training: nil, seconds: 1)
    #expect(!report.passed && report.failedCases == 1)
    #expect(report.table.contains("FAIL: 1 of 5 cases failed"))
    #expect(report.table.contains("  conv2d_fwd x[1, 1, 1, 1]: y:"))
    let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
    #expect(json.contains("\"worstRatio\":null"))
    let ok = SelfTest.Report(device: "test device", quick: true, ops: [passing], training: nil, seconds: 1)
    #expect(ok.passed && ok.table.contains("PASS: 2 cases of 1 ops"))
  }

  @Test("the quick self-test passes on this device")
  func quickPasses() throws {
    let cl = try sharedOpenCL.get()
    let report = try SelfTest.run(on: cl, deviceName: cl.name, quick: true, trainingSteps: 3)
    #expect(report.passed, "\(report.table)")
    #expect(report.training?.entries.count ?? 0 > 12)
    print(report.table)
  }
}
