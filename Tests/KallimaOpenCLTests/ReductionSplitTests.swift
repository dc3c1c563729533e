import Foundation
import KallimaCore
import KallimaOpSuite
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

  @Test("the host's row segment is the kernels' ROW_SEGMENT; every program gets the backend's REDUCE_WG")
  func constantsAgree() throws {
    #expect(Self.headerDefine("ROW_SEGMENT", in: "rows.h") == OpenCLBackend.rowSegment)
    let cl = try sharedOpenCL.get()
    #expect(cl.buildOptions.contains("-DREDUCE_WG=\(cl.reduceGroupSize) ") || cl.buildOptions.hasSuffix("-DREDUCE_WG=\(cl.reduceGroupSize)"))
    // reduce.h's default is #ifndef-guarded, so the option wins.
    #expect(EmbeddedKernels.files["reduce.h"]?.contains("#ifndef REDUCE_WG") == true)
  }

  @Test("the reductions' group size: 16 on CPUs, else 256 or the largest power of two the device allows")
  func groupSizes() throws {
    let cl = try sharedOpenCL.get()
    #expect(cl.reduceGroupSize == OpenCLBackend.reductionGroupSize(type: cl.device.type, maxWorkGroupSize: cl.device.maxWorkGroupSize))
    for (limit, size) in [(1024, 256), (256, 256), (200, 128), (64, 64), (1, 1)] {
      #expect(OpenCLBackend.reductionGroupSize(type: "GPU", maxWorkGroupSize: limit) == size, "max work-group \(limit)")
    }
    #expect(OpenCLBackend.reductionGroupSize(type: "CPU", maxWorkGroupSize: 4096) == 16)
    #expect(throws: KallimaError.self) { try OpenCLBackend(device: cl.device, reductionGroupSize: 24) }
  }

  @Test(
    "splits cover each row once in balanced chunks of whole float8s, at most ⌈count / minimumChunk⌉ of them and rows × ⌈target / rows⌉ groups",
    arguments: [1, 7, 255, 256, 257, 2047, 2048, 2049, 16385, 100_003, 1 << 21])
  func splitsCoverRows(count: Int) {
    for (rows, target) in [(1, 8), (1, 528), (3, 8), (128, 8), (8192, 8)] {
      for groupSize in [16, 256] {
        let s = OpenCLBackend.ReductionSplit(rows: rows, count: count, targetGroups: target, groupSize: groupSize)
        let minimumChunk = OpenCLBackend.ReductionSplit.minimumChunk(groupSize: groupSize)
        let what = "rows \(rows) target \(target) group \(groupSize): \(s)"
        #expect(s.chunk % 8 == 0)
        #expect(s.splits * s.chunk >= count, "\(what) leaves values out")
        #expect((s.splits - 1) * s.chunk < count, "\(what) has an empty split")
        #expect(s.splits == 1 || 2 * s.chunk > minimumChunk, "\(what)")
        #expect(s.splits <= (count + minimumChunk - 1) / minimumChunk || s.splits == 1, "\(what)")
        #expect(s.groups < rows + target, "\(what) makes more groups than rows × ⌈target / rows⌉")
      }
    }
  }

  @Test("the parity lengths reach the multi-split path with either group size")
  func parityReachesSplits() throws {
    let cl = try sharedOpenCL.get()
    #expect(cl.reductionSplit(rows: 1, count: 2049).splits > 1)
    #expect(cl.reductionSplit(rows: 1, count: 100_003).splits > 2)
    let wide = try Self.wideGroups.get()
    #expect(wide.reductionSplit(rows: 1, count: 2049).splits == 2)
    #expect(wide.reductionSplit(rows: 1, count: 100_003).splits > 2)
  }

  /// The same device with the reductions' GPU configuration (groups of 256, reduce.h's
  /// tree 8 levels deep), so that a CPU-only CI proves both.
  static let wideGroups = Result { try OpenCLBackend(device: try sharedOpenCL.get().device, reductionGroupSize: 256) }

  @Test("the reduction parity cases pass with groups of 256 too", arguments: 0..<OpCatalog.reductionParityCases().count)
  func wideGroupParity(index: Int) throws {
    try expectParity(OpCatalog.reductionParityCases()[index], on: try Self.wideGroups.get(), label: "groups of 256")
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
