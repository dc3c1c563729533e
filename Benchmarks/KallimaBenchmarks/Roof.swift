import KallimaOpSuite

/// The roof an op is judged against in `kallima bench ops`, and the share of it the op is
/// expected to reach (a roofline view: an op below its target has work left in it).
public enum Roof: String, Codable, Equatable {
  /// GEMM-shaped: convolutions, matmul, linear. Judged as GFLOP/s ÷ the reference SGEMM.
  case compute
  /// Everything else streams memory: judged as GB/s ÷ the reference copy, even when the
  /// case counts FLOPs (batch norm, Adam do a few per byte).
  case memory

  /// Ops whose work is a GEMM (through CLBlast or Kallima's own kernel).
  static let gemmShapedOps: Set<String> = [
    "conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weight", "conv_transpose2d_fwd", "conv_transpose2d_bwd_data",
    "conv_transpose2d_bwd_weight", "matmul", "linear_fwd", "linear_bwd_data", "linear_bwd_weight",
  ]

  public init(of c: OpCase) {
    self = Roof.gemmShapedOps.contains(c.op) && c.flops > 0 ? .compute : .memory
  }

  /// The ratio an op should reach: 0.7 of SGEMM, 0.5 of copy bandwidth.
  public var target: Double {
    switch self {
    case .compute: return 0.7
    case .memory: return 0.5
    }
  }

  /// What the ratio divides by, for the table.
  public var basisName: String {
    switch self {
    case .compute: return "SGEMM"
    case .memory: return "copy"
    }
  }
}
