/// Checks for the row-wise softmax ops: x [N, C] with C on the last axis.
extension ShapeCheck {
  /// Rows and classes of a [N, C] logits tensor.
  public static func softmaxRows(_ op: String, _ x: Tensor) throws -> (rows: Int, classes: Int) {
    try expect(op, x.shape.rank == 2 && x.count > 0, "logits must be [N, C] and non-empty, got \(x.shape)")
    return (x.shape[0], x.shape[1])
  }

  public static func softmax_cross_entropy(_ op: String, logits: Tensor, targets: Tensor, scalar: Tensor) throws
    -> (rows: Int, classes: Int)
  {
    try allSame(op, [("logits", logits), ("targets", targets)])
    try expect(op, scalar.count == 1, "loss tensor must hold one element, got \(scalar.shape)")
    return try softmaxRows(op, logits)
  }
}
