import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpSuite
@testable import KallimaOpenCL
import Testing

/// Kernels/gemm.cl under every tile `kallima tune` may choose, and CLBlast, through the
/// backend's GEMM selection. Inputs are small multiples of 1/4, so every product and every
/// partial sum is exact in float32 whatever the summation order: results must equal the
/// float64 reference bit for bit, on tails, split reductions and alpha/beta alike.
@Suite("GEMM kernel and selection", .serialized)
struct GemmTests {
  /// A backend of its own: the tests change its GEMM selection, which other suites running
  /// in parallel on the shared backend must not see. Profiling, so that a test can list
  /// the launches a GEMM became.
  static let backend = Result { try OpenCLBackend(selector: "opencl", profiling: true) }

  /// Values in {-1, -0.75, ..., 1}, deterministic per seed.
  static func values(_ count: Int, seed: Int) -> [Float] {
    (0..<count).map { Float((($0 &* 7919 &+ seed &* 104_729) % 9) - 4) / 4 }
  }

  /// C = alpha·A·B + beta·C0 through `matmul` with the selection's fallback `algorithm`,
  /// compared with the float64 product.
  static func check(
    _ algorithm: GemmAlgorithm, m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0, transposeA: Bool = false,
    transposeB: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let cl = try backend.get()
    cl.gemmSelection = GemmSelection(fallback: algorithm)
    let a = values(m * k, seed: 1)  // stored [m, k], or [k, m] when transposed
    let b = values(k * n, seed: 2)  // stored [k, n], or [n, k] when transposed
    let c0 = values(m * n, seed: 3)
    func aAt(_ i: Int, _ p: Int) -> Double { Double(transposeA ? a[p * m + i] : a[i * k + p]) }
    func bAt(_ p: Int, _ j: Int) -> Double { Double(transposeB ? b[j * k + p] : b[p * n + j]) }
    var expected = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n {
        var acc = 0.0
        for p in 0..<k { acc += aAt(i, p) * bAt(p, j) }
        expected[i * n + j] = Float(Double(alpha) * acc + Double(beta) * Double(c0[i * n + j]))
      }
    }
    let ta = try cl.makeTensor(transposeA ? [k, m] : [m, k], values: a)
    let tb = try cl.makeTensor(transposeB ? [n, k] : [k, n], values: b)
    let tc = try cl.makeTensor([m, n], values: c0)
    try cl.matmul(ta, transposeA: transposeA, tb, transposeB: transposeB, c: tc, alpha: alpha, beta: beta)
    let what = "\(algorithm) \(m)x\(n)x\(k)\(transposeA ? " Aᵀ" : "")\(transposeB ? " Bᵀ" : "") alpha \(alpha) beta \(beta)"
    expectBitIdentical(try cl.read(tc), expected, what, sourceLocation: sourceLocation)
  }

  /// Shapes around a tile's edges: one element, one past a tile, a partial last strip,
  /// rows fewer than the tile, several strips.
  static func edgeShapes(_ tile: GemmTile) -> [(Int, Int, Int)] {
    [(1, 1, 1), (tile.rows + 1, tile.columns + 1, 3), (max(1, tile.rows - 1), 2 * tile.columns, 17),
     (2 * tile.rows + 3, tile.columns - 1, 5), (3, 3 * tile.width, 64)]
  }

  @Test("every tuning candidate tile is exact on edge shapes", arguments: GemmTile.candidates(width: 16))
  func candidateTiles(tile: GemmTile) throws {
    for (m, n, k) in Self.edgeShapes(tile) { try Self.check(.kernel(tile), m: m, n: n, k: k) }
  }

  @Test("narrower vector widths", arguments: [GemmTile(rows: 8, vectors: 2, width: 8, unroll: 4), GemmTile(rows: 4, vectors: 3, width: 4, unroll: 1)])
  func widths(tile: GemmTile) throws {
    for (m, n, k) in Self.edgeShapes(tile) { try Self.check(.kernel(tile), m: m, n: n, k: k) }
  }

  @Test("alpha and beta", arguments: [GemmAlgorithm.kernel(.cpuDefault), .clblast])
  func alphaBeta(algorithm: GemmAlgorithm) throws {
    try Self.check(algorithm, m: 9, n: 33, k: 20, alpha: 0.75, beta: 0.5)
    try Self.check(algorithm, m: 16, n: 64, k: 3000, alpha: 0.5, beta: 0.25)  // kernel: 3 slices, beta 1 after the first
  }

  /// Long reductions are split into k-slices summed in order: the kernel's slices of 1024
  /// (`kernelSlices`), and CLBlast's small-product split (`clblastSplit`).
  @Test("split reductions", arguments: [GemmAlgorithm.kernel(.cpuDefault), .clblast])
  func splitReductions(algorithm: GemmAlgorithm) throws {
    try Self.check(algorithm, m: 5, n: 48, k: 4096)
    try Self.check(algorithm, m: 17, n: 40, k: 2048 + 512)  // kernel: 1024 + 1024 + 512
    try Self.check(algorithm, m: 3, n: 7, k: 3001)  // kernel: a last slice of 953; CLBlast: no exact split
  }

  /// A B whose rows are a multiple of 1 KiB apart goes through a padded copy (`paddedRows`).
  @Test("B rows 1 KiB apart", arguments: [GemmAlgorithm.kernel(.cpuDefault), .clblast])
  func paddedB(algorithm: GemmAlgorithm) throws {
    try Self.check(algorithm, m: 7, n: 256, k: 33)
    try Self.check(algorithm, m: 3, n: 512, k: 2048)  // padded and split
    try Self.check(algorithm, m: 5, n: 1024, k: 9, alpha: 0.5, beta: 0.25)
  }

  /// Transposed operands (a linear layer's x·Wᵀ) are transposed into workspaces for the kernel.
  @Test("transposed operands", arguments: [GemmAlgorithm.kernel(.cpuDefault), .clblast])
  func transposed(algorithm: GemmAlgorithm) throws {
    for (ta, tb) in [(true, false), (false, true), (true, true)] {
      try Self.check(algorithm, m: 9, n: 37, k: 20, alpha: 0.75, beta: 0.5, transposeA: ta, transposeB: tb)
      try Self.check(algorithm, m: 64, n: 100, k: 2048, transposeA: ta, transposeB: tb)  // split
      try Self.check(algorithm, m: 3, n: 256, k: 17, transposeA: ta, transposeB: tb)  // B rows 1 KiB apart
    }
  }

  @Test("split policy")
  func splitPolicy() throws {
    let device = try Self.backend.get().device
    #expect(OpenCLBackend.kernelSlices(k: 16384).count == 16)
    #expect(OpenCLBackend.kernelSlices(k: 1024) == [0..<1024])
    #expect(OpenCLBackend.kernelSlices(k: 3001) == [0..<1024, 1024..<2048, 2048..<3001])
    #expect(OpenCLBackend.kernelSlices(k: 0) == [0..<0])
    #expect(OpenCLBackend.clblastSplit(GemmShape(m: 1024, n: 1024, k: 4096), device: device) == 1)
  }

  /// Convolutions whose GEMMs reduce over several k-slices, writing C with padded rows
  /// (the channel-major workspace, ldc ≠ n): 128 channels × 4×4 = 2048 for the forward and
  /// the transpose's data gradient, 2 × 32×32 = 2048 positions for the weight gradient.
  /// The slices used to be taken only when ldc = n, so a DCGAN-64 step's 256x4096x2048
  /// forward ran whole, at about half its tuned speed.
  @Test("convolutions with k-sliced GEMMs into padded rows match the CPU reference")
  func slicedConvolutions() throws {
    let cl = try Self.backend.get()
    cl.gemmSelection = GemmSelection(fallback: .kernel(.cpuDefault))
    let cases = [
      OpCatalog.conv2d("fwd", n: 2, c: 128, h: 6, w: 6, k: 24, kernel: 4, stride: 2, padding: 1),
      OpCatalog.conv2d("bwd_weight", n: 2, c: 3, h: 64, w: 64, k: 8, kernel: 4, stride: 2, padding: 1),
      OpCatalog.convTranspose2d("bwd_data", n: 2, c: 24, h: 3, w: 3, k: 128, kernel: 4, stride: 2, padding: 1),
    ]
    cl.startKernelTimings()
    for c in cases { try expectParity(c, on: cl, label: "k-sliced") }
    let launches = try cl.stopKernelTimings().map(\.name).filter { $0.hasPrefix("gemm") }
    // The forward's and the transpose's data gradient's 24x18x2048 (n = 2 × 3×3
    // positions; C's rows padded to 32), each as two slices of 1024.
    #expect(launches.filter { $0.hasPrefix("gemm 1x(24x18x1024)") }.count == 4, "\(launches)")
  }

  @Test("the untuned CPU tile is a valid gemm.cl tile for every reported vector width")
  func untunedTiles() {
    for width in 0...32 { #expect(GemmTile.cpuDefault(width: width).isValid, "width \(width)") }
    #expect(GemmTile.cpuDefault(width: 16) == GemmTile(rows: 4, vectors: 4, width: 16, unroll: 4))
    #expect(GemmTile.cpuDefault(width: 8).width == 8 && GemmTile.cpuDefault(width: 1).width == 4)
  }

  @Test("an untuned kernel fallback narrows its strip to divide n")
  func fallbackNarrowing() {
    let selection = GemmSelection(fallback: .kernel(GemmTile(rows: 8, vectors: 2, width: 16, unroll: 4)))
    #expect(selection.algorithm(for: GemmShape(m: 64, n: 48, k: 9)) == .kernel(GemmTile(rows: 8, vectors: 1, width: 16, unroll: 4)))
    #expect(selection.algorithm(for: GemmShape(m: 64, n: 64, k: 9)) == .kernel(GemmTile(rows: 8, vectors: 2, width: 16, unroll: 4)))
    #expect(selection.algorithm(for: GemmShape(m: 64, n: 50, k: 9)) == .kernel(GemmTile(rows: 8, vectors: 2, width: 16, unroll: 4)))
    let listed = GemmSelection(byShape: [GemmShape(m: 64, n: 48, k: 9): .clblast], fallback: selection.fallback)
    #expect(listed.algorithm(for: GemmShape(m: 64, n: 48, k: 9)) == .clblast)
  }

  @Test("algorithm names round-trip, bad ones are refused")
  func names() throws {
    for algorithm in [GemmAlgorithm.clblast, .kernel(.cpuDefault), .kernel(GemmTile(rows: 14, vectors: 1, width: 8, unroll: 1))] {
      #expect(GemmAlgorithm(algorithm.description) == algorithm)
      let data = try JSONEncoder().encode([algorithm])
      #expect(try JSONDecoder().decode([GemmAlgorithm].self, from: data) == [algorithm])
    }
    for bad in ["", "kernel", "kernel 8x2x16", "kernel 8x2x12u4", "kernel 0x2x16u4", "cublas"] {
      #expect(GemmAlgorithm(bad) == nil, "\(bad)")
    }
    #expect(throws: DecodingError.self) { try JSONDecoder().decode([GemmAlgorithm].self, from: Data(#"["kernel 9"]"#.utf8)) }
  }

  /// The convolutions as GPUs run them (CLBlast, col2im gathering per output): the parity
  /// sweep's conv cases, forward and both gradients, against the CPU reference.
  @Test("convolutions through CLBlast and gathering col2im match the CPU reference")
  func convolutionsThroughCLBlast() throws {
    let cl = try Self.backend.get()
    cl.gemmSelection = GemmSelection(fallback: .clblast)
    cl.col2imGathers = true
    defer { cl.col2imGathers = cl.device.type != "CPU" }
    let cases = OpCatalog.parityCases().filter { $0.op.hasPrefix("conv") }
    #expect(cases.count >= 30)
    for c in cases { try expectParity(c, on: cl, label: "CLBlast, gathering col2im") }
  }
}
