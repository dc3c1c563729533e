import Foundation
import Testing

/// `kallima selftest` as a user runs it: exit status, JSON on standard output, refusals.
@Suite("kallima selftest")
struct SelfTestCommandTests {
  @Test("a filtered quick run passes with status 0, its JSON on standard output and no control codes on a pipe")
  func passes() throws {
    let run = try launch(try kallimaBinary(), ["selftest", "--quick", "--filter", "add_channel", "--no-training", "--json"])
    #expect(run.status == 0, "\(run.err)")
    let report = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any]
    #expect(report?["passed"] as? Bool == true, "\(run.out)")
    let ops = report?["ops"] as? [[String: Any]] ?? []
    #expect(ops.map { $0["op"] as? String } == ["add_channel"], "\(run.out)")
    #expect(!run.err.contains("\u{1B}"), "control codes on a pipe: \(run.err)")
  }

  @Test("the CPU reference cannot test itself; an empty filter says so")
  func refusals() throws {
    let cpu = try launch(try kallimaBinary(), ["selftest", "--device", "cpu"])
    #expect(cpu.status == 1 && cpu.err.contains("reference itself"), "\(cpu.err)")
    let none = try launch(try kallimaBinary(), ["selftest", "--filter", "no such op", "--no-training"])
    #expect(none.status == 1 && none.err.contains("no parity case"), "\(none.err)")
  }
}
