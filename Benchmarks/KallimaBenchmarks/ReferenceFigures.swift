import KallimaCore
import KallimaOpenCL

/// Figures measured on the same device in the same run, to judge each op against: what
/// the device's GEMM reaches, and how fast it streams memory.
public struct ReferenceFigures: Codable, Equatable {
  /// c = a·b on square [n, n] tensors through `backend.matmul` (on OpenCL, the algorithm the
  /// GEMM selection names for the shape: Kernels/gemm.cl or CLBlast).
  public struct GEMM: Codable, Equatable {
    public var n: Int
    public var timing: Timing
    public var gflops: Double
  }

  /// A streaming copy: read `bytes / 2`, write `bytes / 2`.
  public struct Bandwidth: Codable, Equatable {
    /// How the copy was made, e.g. "backend.scale, alpha 1" or "clEnqueueCopyBuffer".
    public var method: String
    public var floats: Int
    /// Bytes moved per run (read plus write).
    public var bytes: Double
    public var timing: Timing
    /// 1 GB = 1e9 bytes.
    public var gbps: Double
  }

  public var sgemm: [GEMM]
  /// The copy the ratio column divides by: Kallima's own `scale` kernel with alpha 1,
  /// launched like every other elementwise op.
  public var copy: Bandwidth
  /// The driver's copy (`clEnqueueCopyBuffer`), OpenCL only; for comparison.
  public var driverCopy: Bandwidth?
  /// The `scale` copy again at the size of the benchmark's activation tensors: on CPUs
  /// with a large last-level cache these fit in it, and elementwise ops beat `copy`.
  public var opSizedCopy: Bandwidth?

  /// The GEMM the ratio column divides by: n = 1024 when measured, else the largest.
  public var ratioGEMM: GEMM? {
    sgemm.first { $0.n == 1024 } ?? sgemm.max { $0.n < $1.n }
  }

  /// Measures SGEMM at each of `sgemmSizes` and copy bandwidth over `copyFloats` floats.
  public static func measure(
    on backend: Backend, policy: TimingPolicy, sgemmSizes: [Int] = [512, 1024], copyFloats: Int = 1 << 24,
    opSizedCopyFloats: Int? = nil
  ) throws -> ReferenceFigures {
    var gemms: [GEMM] = []
    for n in sgemmSizes {
      let a = try backend.makeTensor([n, n])
      let b = try backend.makeTensor([n, n])
      let c = try backend.makeTensor([n, n])
      try backend.fill(a, value: 0.5)
      try backend.fill(b, value: 0.25)
      try backend.fill(c, value: 0)
      let timing = try Timing.measure(policy, on: backend) {
        try backend.matmul(a, transposeA: false, b, transposeB: false, c: c, alpha: 1, beta: 0)
      }
      gemms.append(GEMM(n: n, timing: timing, gflops: 2 * Double(n) * Double(n) * Double(n) / timing.mean / 1e9))
    }
    let x = try backend.makeTensor([copyFloats])
    let y = try backend.makeTensor([copyFloats])
    try backend.fill(x, value: 1)
    try backend.fill(y, value: 0)
    let bytes = 2 * Double(copyFloats) * 4
    let copyTiming = try Timing.measure(policy, on: backend) { try backend.scale(x, alpha: 1, y: y) }
    let copy = Bandwidth(
      method: "backend.scale, alpha 1", floats: copyFloats, bytes: bytes, timing: copyTiming,
      gbps: bytes / copyTiming.mean / 1e9)
    var driverCopy: Bandwidth?
    if let cl = backend as? OpenCLBackend {
      let t = try Timing.measure(policy, on: backend) { try cl.copyBuffer(x, to: y) }
      driverCopy = Bandwidth(
        method: "clEnqueueCopyBuffer", floats: copyFloats, bytes: bytes, timing: t, gbps: bytes / t.mean / 1e9)
    }
    var opSizedCopy: Bandwidth?
    if let n = opSizedCopyFloats, n > 0, n < copyFloats {
      let xs = try backend.makeTensor([n])
      let ys = try backend.makeTensor([n])
      try backend.fill(xs, value: 1)
      try backend.fill(ys, value: 0)
      let t = try Timing.measure(policy, on: backend) { try backend.scale(xs, alpha: 1, y: ys) }
      opSizedCopy = Bandwidth(
        method: "backend.scale, alpha 1", floats: n, bytes: 8 * Double(n), timing: t, gbps: 8 * Double(n) / t.mean / 1e9)
    }
    return ReferenceFigures(sgemm: gemms, copy: copy, driverCopy: driverCopy, opSizedCopy: opSizedCopy)
  }
}
