import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpSuite
import Testing

/// The parity machinery itself: the op list it must cover is the Backend protocol's, and its
/// NaN sentinel catches the kernels that a zero-filled output would let through.
@Suite("Op suite: the op list and the output sentinel")
struct OpSuiteTests {
  /// Backend functions that move or allocate memory rather than compute: covered by the
  /// runtime tests (KallimaOpenCLTests/RuntimeTests), not by parity cases.
  static let memoryFunctions: Set<String> = [
    "makeBuffer", "write", "read", "synchronize", "makeByteBuffer", "makeStagingBuffer", "upload", "download",
  ]

  /// The `func` names declared inside `public protocol Backend { … }` of Backend.swift and
  /// in Backend+Composite.swift's extensions, read from the source files.
  static func backendFunctionNames() throws -> Set<String> {
    let core = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Sources/KallimaCore")
    let protocolFile = try String(contentsOf: core.appendingPathComponent("Backend.swift"), encoding: .utf8)
    let start = try #require(protocolFile.range(of: "public protocol Backend: AnyObject {"))
    let end = try #require(protocolFile.range(of: "\n}\n", range: start.upperBound..<protocolFile.endIndex))
    let composites = try String(contentsOf: core.appendingPathComponent("Backend+Composite.swift"), encoding: .utf8)
    let regex = try NSRegularExpression(pattern: #"\bfunc\s+(\w+)"#)
    var names: Set<String> = []
    for text in [String(protocolFile[start.upperBound..<end.lowerBound]), composites] {
      let range = NSRange(text.startIndex..., in: text)
      for m in regex.matches(in: text, range: range) { names.insert(String(text[Range(m.range(at: 1), in: text)!])) }
    }
    return names
  }

  @Test("BackendOp lists exactly the computing functions of the Backend protocol and its composites")
  func backendOpsMatchTheProtocol() throws {
    let declared = try Self.backendFunctionNames()
    #expect(declared.count > 50, "read \(declared.count) functions: is the source layout still as expected?")
    let computing = declared.subtracting(Self.memoryFunctions)
    let listed = Set(BackendOp.allCases.map(\.rawValue))
    #expect(computing.subtracting(listed).isEmpty, "Backend functions missing from BackendOp: \(computing.subtracting(listed).sorted())")
    #expect(listed.subtracting(computing).isEmpty, "BackendOp cases with no Backend function: \(listed.subtracting(computing).sorted())")
    #expect(Self.memoryFunctions.isSubset(of: declared), "memory functions renamed: \(Self.memoryFunctions.subtracting(declared))")
  }

  @Test("every parity case's op is a BackendOp, and every BackendOp has a parity case")
  func parityCoversEveryBackendOp() {
    let ops = Set(OpCatalog.parityCases().map(\.op))
    let required = Set(BackendOp.allCases.map(\.rawValue))
    #expect(required.subtracting(ops).isEmpty, "Backend ops without a parity case: \(required.subtracting(ops).sorted())")
    #expect(ops.subtracting(required).isEmpty, "parity cases naming no Backend op: \(ops.subtracting(required).sorted())")
  }

  /// Ops whose parity cases legitimately have no output that starts as the sentinel: they
  /// update state in place (optimiser steps, EMA with beta ≠ 0, clamp in place, matmul with
  /// beta ≠ 0) or write part of their output (copy_channels).
  static let inPlaceOps: Set<String> = [
    "adam_step", "sgd_step", "rmsprop_step", "ema_update", "clamp_fwd", "matmul", "copy_channels",
  ]

  @Test("every parity case starts an output as the sentinel, except the in-place ops")
  func parityCasesDeclareOutputs() {
    let without = OpCatalog.parityCases().filter { $0.outputRoles.isEmpty }
    let unexpected = without.filter { !Self.inPlaceOps.contains($0.op) }.map(\.name)
    #expect(unexpected.isEmpty, "cases with no .output tensor: \(unexpected)")
  }

  /// `c` run correctly on the CPU (the reference), and run by `broken` on a second CPU
  /// backend (the candidate), both from the case's initial values (outputs = sentinel).
  static func compare(_ c: OpCase, broken: (CPUBackend, [String: Tensor]) throws -> Void) throws -> [String] {
    let reference = try Self.results(c) { be, t in try c.run(be, t) }
    return c.mismatches(reference: reference, candidate: try Self.results(c, broken))
  }

  /// Every tensor of `c` after `body` ran on a fresh CPU backend from the case's initial values.
  static func results(_ c: OpCase, _ body: (CPUBackend, [String: Tensor]) throws -> Void) throws -> [String: [Float]] {
    let be = CPUBackend()
    let t = try c.materialize(on: be, values: c.initialValues())
    try body(be, t)
    return try t.mapValues { try be.read($0) }
  }

  /// The case run into a scratch tensor, as a correct kernel would write it.
  static func correctResult(_ c: OpCase, _ be: CPUBackend, _ t: [String: Tensor], output: String) throws -> Tensor {
    var scratch = t
    scratch[output] = try be.makeTensor(t[output]!.shape)
    try c.run(be, scratch)
    return scratch[output]!
  }

  @Test("a kernel that skips the last element of its output fails the comparison (it still holds the sentinel)")
  func skippedElementIsCaught() throws {
    let c = OpCatalog.binary("add", n: 33)
    #expect(c.outputRoles == ["y"])
    let problems = try Self.compare(c) { be, t in
      let y = t["y"]!
      var values = try be.read(try Self.correctResult(c, be, t, output: "y"))
      values[32] = try be.read(y)[32]  // the last element is never written
      try be.write(values, to: y)
    }
    #expect(problems.contains { $0.contains("1 of 33 elements on the candidate still hold the NaN sentinel") }, "\(problems)")
  }

  @Test("a kernel that adds into its output instead of overwriting it fails; on zero-filled outputs it would have passed")
  func accumulationIsCaught() throws {
    let c = OpCatalog.channelBroadcast("mul_channel", shape: [2, 3, 5, 5])
    let accumulate = { (be: CPUBackend, t: [String: Tensor]) in
      try be.add(t["y"]!, try Self.correctResult(c, be, t, output: "y"), y: t["y"]!)  // y += result
    }
    let problems = try Self.compare(c, broken: accumulate)
    #expect(problems.contains { $0.contains("150 of 150 elements on the candidate still hold the NaN sentinel") }, "\(problems)")
    // The old scheme (outputs zero-filled before the run) cannot tell this kernel from a correct one.
    let be = CPUBackend()
    var t = try c.materialize(on: be, values: c.initialValues())
    t["y"] = try be.zeros([2, 3, 5, 5])
    let expected = try be.read(try Self.correctResult(c, be, t, output: "y"))
    try accumulate(be, t)
    #expect(Comparison.close(try be.read(t["y"]!), expected, atol: 0, rtol: 0) == nil)
  }

  @Test("an exact case where both backends skip the same element fails too (bit-identical NaN is not a pass)")
  func sameBugOnBothSidesIsCaught() throws {
    let c = OpCatalog.random("random_uniform", n: 9, counter: 5)
    #expect(c.exact)
    let skipLast = { (be: CPUBackend, t: [String: Tensor]) in
      var y = try be.read(try Self.correctResult(c, be, t, output: "y"))
      y[8] = try be.read(t["y"]!)[8]
      try be.write(y, to: t["y"]!)
    }
    let read = [try Self.results(c, skipLast), try Self.results(c, skipLast)]
    #expect(Comparison.bitIdentical(read[1]["y"]!, read[0]["y"]!) == nil, "the two results are bit-identical")
    let problems = c.mismatches(reference: read[0], candidate: read[1])
    #expect(problems.contains { $0.contains("on the reference still hold the NaN sentinel") }, "\(problems)")
    #expect(problems.contains { $0.contains("on the candidate still hold the NaN sentinel") }, "\(problems)")
  }

  @Test("a correct run passes: the sentinel does not fail a kernel that writes every element")
  func correctRunPasses() throws {
    for c in [OpCatalog.binary("add", n: 33), OpCatalog.random("random_uniform", n: 9, counter: 5)] {
      let problems = try Self.compare(c) { be, t in try c.run(be, t) }
      #expect(problems.isEmpty, "\(c.name): \(problems)")
    }
  }

  @Test("Backend.outputTensor starts every element as the sentinel")
  func outputTensorHoldsTheSentinel() throws {
    let be = CPUBackend()
    let t = try be.outputTensor([3, 7])
    #expect(try be.read(t).allSatisfy { $0.bitPattern == OpCase.sentinel.bitPattern })
  }
}
