import KallimaCPU
import KallimaCore
import KallimaOpSuite
import Testing

/// `mismatch_rows` on the CPU reference: against a plainly written brute force on batches
/// full of equal rows (class labels, tag sets), its defining properties over 200 random
/// batches, and its shape errors. OpenCL parity runs through KallimaOpenCLTests/ParityTests
/// on the catalogue's `mismatch_rows` cases, whose coverage is checked here.
@Suite("mismatch_rows: mismatched conditions on the CPU reference")
struct MismatchRowsTests {
  /// The definition, spelled out: for row i, try j = i+1, i+2, … (wrapping) and take the
  /// first row with some element different from row i; nil when there is none.
  static func bruteForce(_ x: [Float], n: Int, d: Int) -> (y: [Float], shifts: [Int?]) {
    var y = [Float](repeating: 0, count: n * d)
    var shifts: [Int?] = []
    for i in 0..<n {
      var chosen: Int? = nil
      var s = 1
      while s < n && chosen == nil {
        let j = (i + s) % n
        var differs = false
        for k in 0..<d where x[j * d + k] != x[i * d + k] { differs = true }
        if differs { chosen = s }
        s += 1
      }
      shifts.append(chosen)
      if let s = chosen {
        for k in 0..<d { y[i * d + k] = x[((i + s) % n) * d + k] }
      }
    }
    return (y, shifts)
  }

  /// mismatch_rows of x [n, d] on a fresh CPU backend, y starting as the NaN sentinel.
  static func run(_ x: [Float], n: Int, d: Int) throws -> [Float] {
    let cpu = CPUBackend()
    let xt = try cpu.makeTensor([n, d], values: x)
    let yt = try cpu.outputTensor([n, d])
    try cpu.mismatch_rows(x: xt, y: yt)
    return try cpu.read(yt)
  }

  /// A batch of n condition rows of width d with many equal rows: one-hot over `classes`
  /// (d = classes), or multi-hot over d tags, each tag on with probability 0.3.
  static func batch(seed: UInt64, n: Int, oneHotClasses classes: Int?, tags: Int = 5) -> (x: [Float], d: Int) {
    let stream = RandomStream(seed: seed)
    func u(_ i: Int) -> Float { Philox.uniform(stream: stream, index: i, low: 0, high: 1) }
    if let classes {
      var x = [Float](repeating: 0, count: n * classes)
      for r in 0..<n { x[r * classes + min(Int(u(r) * Float(classes)), classes - 1)] = 1 }
      return (x, classes)
    }
    return ((0..<(n * tags)).map { u($0) < 0.3 ? 1 : 0 }, tags)
  }

  static func row(_ x: [Float], _ i: Int, _ d: Int) -> [Float] { Array(x[(i * d)..<((i + 1) * d)]) }

  @Test("one-hot labels of 3 classes in a batch of 7: each row takes the nearest following other class")
  func handWorkedExample() throws {
    // Classes 0 0 1 1 1 2 0. Row 2 (class 1) skips rows 3 and 4 (class 1) to row 5 (class 2):
    // shift 3; row 6 (class 0) wraps past rows 0 and 1 (class 0) to row 2: shift 3.
    let classes = [0, 0, 1, 1, 1, 2, 0]
    var x = [Float](repeating: 0, count: 21)
    for (r, c) in classes.enumerated() { x[r * 3 + c] = 1 }
    let y = try Self.run(x, n: 7, d: 3)
    let expectedClasses = [1, 1, 2, 2, 2, 0, 1]
    for r in 0..<7 {
      var expected = [Float](repeating: 0, count: 3)
      expected[expectedClasses[r]] = 1
      #expect(Self.row(y, r, 3) == expected, "row \(r)")
    }
    #expect(Self.bruteForce(x, n: 7, d: 3).shifts == [2, 1, 3, 2, 1, 1, 3])
  }

  @Test("equals the brute force, row for row, on batches of one-hot labels (2–4 classes) and multi-hot tags")
  func matchesBruteForce() throws {
    var longShifts = 0
    var zeroRows = 0
    var alternativeDiffers = 0
    var batches = 0
    for seed in 0..<60 {
      for kind in [2, 3, 4, 0] {
        let n = 1 + (seed * 7 + kind * 13) % 40
        let (x, d) = Self.batch(seed: UInt64(1000 * kind + seed), n: n, oneHotClasses: kind == 0 ? nil : kind)
        let (expected, shifts) = Self.bruteForce(x, n: n, d: d)
        let y = try Self.run(x, n: n, d: d)
        #expect(y == expected, "batch \(seed) kind \(kind) n \(n): \(y) vs \(expected)")
        longShifts += shifts.filter { ($0 ?? 0) > 1 }.count
        zeroRows += shifts.filter { $0 == nil }.count
        // The test can tell shift rules apart: taking the nearest differing row *before* i
        // (a plausible slip) gives other rows in most of these batches.
        var backwards = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
          if let s = (1..<max(n, 1)).first(where: { s in Self.row(x, (i - s + n) % n, d) != Self.row(x, i, d) }) {
            for k in 0..<d { backwards[i * d + k] = x[((i - s + n) % n) * d + k] }
          }
        }
        if backwards != expected { alternativeDiffers += 1 }
        batches += 1
      }
    }
    // Measured: 1,439 rows needed a shift past 1, 13 rows had no differing row (N = 1 or a
    // uniform batch), and the backwards rule differs in 166 of 240 batches.
    #expect(longShifts > 100, "rows needing a shift past 1: \(longShifts)")
    #expect(zeroRows > 0, "rows with no differing row: \(zeroRows)")
    #expect(alternativeDiffers > batches / 2, "backwards rule differs in \(alternativeDiffers) of \(batches)")
    print("mismatch_rows brute force: \(batches) batches, \(longShifts) shifts > 1, \(zeroRows) zero rows, backwards rule differs in \(alternativeDiffers)")
  }

  @Test("200 random batches with two or more distinct rows: no row keeps its condition, every row is one of the batch")
  func properties() throws {
    for seed in 0..<200 {
      let n = 2 + seed % 63
      let classes = seed % 4 == 3 ? nil : 2 + seed % 3
      var (x, d) = Self.batch(seed: UInt64(50_000 + seed), n: n, oneHotClasses: classes)
      if Set((0..<n).map { Self.row(x, $0, d) }).count == 1 {
        // A uniform draw: make the last row another valid row (the next class, or one tag flipped).
        let last = Self.row(x, n - 1, d)
        for k in 0..<d { x[(n - 1) * d + k] = classes == nil ? (k == 0 ? 1 - last[0] : last[k]) : last[(k + d - 1) % d] }
      }
      let inputRows = Set((0..<n).map { Self.row(x, $0, d) })
      #expect(inputRows.count >= 2)
      let y = try Self.run(x, n: n, d: d)
      for i in 0..<n {
        #expect(Self.row(y, i, d) != Self.row(x, i, d), "batch \(seed): row \(i) kept its own condition")
        #expect(inputRows.contains(Self.row(y, i, d)), "batch \(seed): row \(i) is no row of the batch")
      }
    }
  }

  @Test("a uniform batch, and a batch of one, give zeros")
  func uniformBatches() throws {
    let uniform = [Float](repeating: 0.25, count: 9 * 4)
    #expect(try Self.run(uniform, n: 9, d: 4) == [Float](repeating: 0, count: 36))
    var oneHot = [Float](repeating: 0, count: 5 * 3)
    for r in 0..<5 { oneHot[r * 3 + 2] = 1 }
    #expect(try Self.run(oneHot, n: 5, d: 3) == [Float](repeating: 0, count: 15))
    #expect(try Self.run([3, -1, 2], n: 1, d: 3) == [0, 0, 0])
    // IEEE equality: −0 equals +0, so these rows are equal.
    #expect(try Self.run([0, 1, -0.0, 1], n: 2, d: 2) == [0, 0, 0, 0])
  }

  @Test("x not [N, D], y of another shape, or y sharing x's buffer: a shape error saying what to do")
  func shapeErrors() throws {
    let cpu = CPUBackend()
    let x4 = try cpu.makeTensor([2, 3, 1, 1], values: [Float](repeating: 1, count: 6))
    do {
      try cpu.mismatch_rows(x: x4, y: try cpu.makeTensor([2, 3, 1, 1]))
      Issue.record("a rank-4 x was accepted")
    } catch let KallimaError.shapeMismatch(op, message) {
      #expect(op == "mismatch_rows")
      #expect(message.contains("x must be [N, D]") && message.contains("reshape"), "\(message)")
    }
    let x = try cpu.makeTensor([2, 3], values: [1, 0, 0, 0, 1, 0])
    #expect(throws: KallimaError.self) { try cpu.mismatch_rows(x: x, y: try cpu.makeTensor([3, 2])) }
    do {
      try cpu.mismatch_rows(x: x, y: x)
      Issue.record("y = x was accepted")
    } catch let KallimaError.shapeMismatch(_, message) {
      #expect(message.contains("must not share x's buffer"), "\(message)")
    }
  }

  @Test("the parity sweep's mismatch_rows cases include N = 1, uniform batches, shifts past 1 and every work-group edge")
  func parityCasesCoverTheEdges() throws {
    let cases = OpCatalog.parityCases().filter { $0.op == "mismatch_rows" }
    var (batchOfOne, uniform, longShift) = (false, false, false)
    var sizes: Set<Int> = []
    var widths: Set<Int> = []
    for c in cases {
      let shape = c.tensors[0].shape
      let (n, d) = (shape[0], shape[1])
      sizes.insert(n)
      widths.insert(d)
      let x = c.initialValues()["x"]!
      let shifts = Self.bruteForce(x, n: n, d: d).shifts
      if n == 1 { batchOfOne = true }
      if n > 1 && shifts.allSatisfy({ $0 == nil }) { uniform = true }
      if shifts.contains(where: { ($0 ?? 0) > 1 }) { longShift = true }
      #expect(c.exact, "\(c.name): a copy must match bit for bit")
    }
    #expect(batchOfOne && uniform && longShift, "N = 1 \(batchOfOne), uniform \(uniform), shift > 1 \(longShift)")
    #expect(Set([1, 31, 32, 33, 65]).isSubset(of: sizes), "batch sizes \(sizes.sorted())")
    #expect(Set([1, 10, 33]).isSubset(of: widths), "row widths \(widths.sorted())")
  }
}
