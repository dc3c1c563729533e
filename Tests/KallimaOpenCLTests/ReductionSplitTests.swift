import Foundation
import KallimaCore
import Testing

@testable import KallimaOpenCL

/// The host side of the multi-work-group reductions and row runs: the constants the host and
/// Kernels/*.h must share, how a reduction is cut into splits, and that a fixed launch shape
/// gives bit-identical sums. (The values themselves are checked against the CPU reference
/// by ParityTests, on `OpCatalog.reductionParityCases`.)
@Suite("Reduction splits and row runs")
struct ReductionSplitTests {
  /// The integer a kernel header #defines for `name`.
  static func headerDefine(_ name: String, in file: String) -> Int? {
    let source = EmbeddedKernels.files[file] ?? ""
    for line in source.split(separator: "\n") where line.hasPrefix("#define \(name) ") {
      return Int(line.dropFirst("#define \(name) ".count).prefix { $0.isNumber })
    }
    return nil
  }

  @Test("the host's group size and row segment are the kernels' REDUCE_WG and ROW_SEGMENT")
  func constantsAgree() {
    #expect(Self.headerDefine("REDUCE_WG", in: "reduce.h") == OpenCLBackend.reduceGroupSize)
    #expect(Self.headerDefine("ROW_SEGMENT", in: "rows.h") == OpenCLBackend.rowSegment)
  }

  @Test(
    "splits cover each row once in balanced chunks of whole float8s, at most ⌈count / minimumChunk⌉ of them and rows × ⌈target / rows⌉ groups",
    arguments: [1, 7, 255, 256, 257, 2047, 2048, 2049, 16385, 100_003, 1 << 21])
  func splitsCoverRows(count: Int) {
    for (rows, target) in [(1, 8), (1, 528), (3, 8), (128, 8), (8192, 8)] {
      let s = OpenCLBackend.ReductionSplit(rows: rows, count: count, targetGroups: target)
      #expect(s.chunk % 8 == 0)
      #expect(s.splits * s.chunk >= count, "rows \(rows) target \(target): \(s) leaves values out")
      #expect((s.splits - 1) * s.chunk < count, "rows \(rows) target \(target): \(s) has an empty split")
      #expect(s.splits == 1 || 2 * s.chunk > OpenCLBackend.ReductionSplit.minimumChunk)
      #expect(s.splits <= (count + OpenCLBackend.ReductionSplit.minimumChunk - 1) / OpenCLBackend.ReductionSplit.minimumChunk || s.splits == 1)
      #expect(s.groups < rows + target, "rows \(rows) target \(target): \(s) makes more groups than rows × ⌈target / rows⌉")
    }
  }

  @Test("the parity lengths reach the multi-split path on this device")
  func parityReachesSplits() throws {
    let cl = try sharedOpenCL.get()
    #expect(cl.reductionSplit(rows: 1, count: 2049).splits == 2)
    #expect(cl.reductionSplit(rows: 1, count: 100_003).splits > 2)
  }

  @Test("a sum repeated on the same tensor is bit-identical (fixed order, no atomics)")
  func deterministic() throws {
    let cl = try sharedOpenCL.get()
    let n = 100_003
    let x = try cl.makeTensor([n], values: (0..<n).map { Float(($0 * 7919) % 1000) * 1e-3 - 0.37 })
    let y = try cl.makeTensor([1])
    var results: [UInt32] = []
    for _ in 0..<3 {
      try cl.reduce_sum(x, y: y, alpha: 1)
      results.append(try cl.read(y)[0].bitPattern)
    }
    #expect(Set(results).count == 1)
  }
}
