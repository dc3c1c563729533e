import Foundation

/// The register tile of Kernels/gemm.cl: each work-item computes `rows` rows × `vectors`
/// vectors of `width` floats of C, unrolling the reduction `unroll` times.
public struct GemmTile: Hashable, Sendable, CustomStringConvertible {
  public var rows: Int
  public var vectors: Int
  public var width: Int
  public var unroll: Int

  public init(rows: Int, vectors: Int, width: Int, unroll: Int) {
    self.rows = rows
    self.vectors = vectors
    self.width = width
    self.unroll = unroll
  }

  /// Columns of C per work-item.
  public var columns: Int { vectors * width }

  /// "8x2x16u4": rows × vectors × width, unroll.
  public var description: String { "\(rows)x\(vectors)x\(width)u\(unroll)" }

  public init?(_ text: String) {
    let parts = text.split(separator: "u")
    guard parts.count == 2, let unroll = Int(parts[1]) else { return nil }
    let dims = parts[0].split(separator: "x").compactMap { Int($0) }
    guard dims.count == 3 else { return nil }
    self.init(rows: dims[0], vectors: dims[1], width: dims[2], unroll: unroll)
    guard isValid else { return nil }
  }

  /// Whether gemm.cl compiles this tile: widths 4, 8 or 16, 1–16 rows, 1–4 vectors.
  public var isValid: Bool {
    [4, 8, 16].contains(width) && (1...16).contains(rows) && (1...4).contains(vectors) && (1...16).contains(unroll)
  }

  /// Compile-time constants of Kernels/gemm.cl.
  var defines: [(String, Int)] {
    [("GEMM_MR", rows), ("GEMM_NV", vectors), ("GEMM_VW", width), ("GEMM_KU", unroll)]
  }

  /// The untuned tile on a CPU whose preferred float vector width is `width`: with 16
  /// (AVX-512, 32 vector registers) 4 rows × 4 vectors, `kallima tune`'s fallback on the
  /// development machine (the most frequent winner; 150-280 GFLOP/s on DCGAN-64's shapes
  /// against CLBlast's 4-70); narrower (AVX2, 16 registers) 6 × 2, which keeps its 12
  /// accumulators in registers (not measured: no AVX2 machine was at hand).
  public static func cpuDefault(width: Int) -> GemmTile {
    width >= 16
      ? GemmTile(rows: 4, vectors: 4, width: 16, unroll: 4)
      : GemmTile(rows: 6, vectors: 2, width: width >= 8 ? 8 : 4, unroll: 4)
  }

  /// The untuned tile on the AVX-512 development machine.
  public static let cpuDefault = cpuDefault(width: 16)

  /// The tiles `kallima tune` tries on a device whose preferred vector width is `width`
  /// (register budgets of AVX2's 16 and AVX-512's 32 vector registers and a few between).
  public static func candidates(width: Int) -> [GemmTile] {
    var result: [GemmTile] = []
    for (rows, vectors) in [(8, 2), (6, 2), (4, 2), (12, 2), (14, 2), (6, 4), (4, 4), (8, 3), (4, 3), (8, 1), (16, 1)] {
      for unroll in [1, 4] { result.append(GemmTile(rows: rows, vectors: vectors, width: width, unroll: unroll)) }
    }
    return result
  }
}

/// How one SGEMM runs: through CLBlast, or through Kernels/gemm.cl with a tile.
public enum GemmAlgorithm: Hashable, Sendable, CustomStringConvertible, Codable {
  case clblast
  case kernel(GemmTile)

  public var description: String {
    switch self {
    case .clblast: "clblast"
    case .kernel(let tile): "kernel \(tile)"
    }
  }

  public init?(_ text: String) {
    if text == "clblast" {
      self = .clblast
    } else if text.hasPrefix("kernel "), let tile = GemmTile(String(text.dropFirst("kernel ".count))) {
      self = .kernel(tile)
    } else {
      return nil
    }
  }

  public init(from decoder: Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    guard let value = GemmAlgorithm(text) else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not 'clblast' or 'kernel RxVxWuU'"))
    }
    self = value
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }
}

/// The size of a row-major C[m, n] = A[m, k]·B[k, n] with no transposes (the form every
/// convolution GEMM takes; transposed products of `matmul` run through CLBlast).
public struct GemmShape: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
  public var m: Int
  public var n: Int
  public var k: Int

  public init(m: Int, n: Int, k: Int) {
    self.m = m
    self.n = n
    self.k = k
  }

  public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
  public var description: String { "\(m)x\(n)x\(k)" }
  public static func < (a: GemmShape, b: GemmShape) -> Bool { (a.m, a.n, a.k) < (b.m, b.n, b.k) }
}

/// Which algorithm each GEMM shape uses on one backend: the measured winner for shapes a
/// tuning table lists, else `fallback`.
public struct GemmSelection: Sendable {
  public var byShape: [GemmShape: GemmAlgorithm]
  public var fallback: GemmAlgorithm

  public init(byShape: [GemmShape: GemmAlgorithm] = [:], fallback: GemmAlgorithm) {
    self.byShape = byShape
    self.fallback = fallback
  }

  /// The listed winner for `shape`, else the fallback, with a kernel tile narrowed to fewer
  /// vectors when that makes its columns divide n (gemm.cl's partial last strip is scalar:
  /// n = 48 runs as 3 full 16-wide strips instead of 32 + a scalar 16).
  public func algorithm(for shape: GemmShape) -> GemmAlgorithm {
    if let listed = byShape[shape] { return listed }
    guard case .kernel(var tile) = fallback, shape.n % tile.columns != 0, shape.n % tile.width == 0 else {
      return fallback
    }
    while (shape.n / tile.width) % tile.vectors != 0 { tile.vectors -= 1 }
    return .kernel(tile)
  }

  /// Untuned: Kallima's kernel on CPU devices (where it measured 2-40x CLBlast), CLBlast
  /// elsewhere (GPUs, where CLBlast's work-group tiling and its tuning database suit).
  public static func untuned(for device: OpenCLDeviceInfo) -> GemmSelection {
    GemmSelection(fallback: device.type == "CPU" ? .kernel(.cpuDefault(width: device.preferredFloatWidth)) : .clblast)
  }
}
