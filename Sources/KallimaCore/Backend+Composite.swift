/// Ops built from the primitive op set, so both backends share one definition.
extension Backend {
  /// y = x·Wᵀ + b with x [N, in], weight [out, in] (PyTorch's nn.Linear layout), y [N, out].
  public func linear_fwd(x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor) throws {
    try matmul(x, transposeA: false, weight, transposeB: true, c: y, alpha: 1, beta: 0)
    if let bias { try add_channel(y, bias: bias, y: y) }
  }

  /// dx = dy·W.
  public func linear_bwd_data(dy: Tensor, weight: Tensor, dx: Tensor) throws {
    try matmul(dy, transposeA: false, weight, transposeB: false, c: dx, alpha: 1, beta: 0)
  }

  /// dW = dyᵀ·x; the bias gradient is `channel_sum(dy)`.
  public func linear_bwd_weight(x: Tensor, dy: Tensor, dweight: Tensor) throws {
    try matmul(dy, transposeA: true, x, transposeB: false, c: dweight, alpha: 1, beta: 0)
  }

  /// Concatenates along axis 1 into y.
  public func concat_channels(_ inputs: [Tensor], y: Tensor) throws {
    let total = inputs.reduce(0) { $0 + ($1.shape.rank > 1 ? $1.shape[1] : 0) }
    for t in inputs {
      var expected = y.shape
      guard expected.rank >= 2 else { break }
      expected.dims[1] = t.shape.rank > 1 ? t.shape[1] : -1
      try ShapeCheck.expect(
        "concat_channels", t.shape == expected,
        "input \(t.shape) does not match output \(y.shape) outside axis 1")
    }
    try ShapeCheck.expect(
      "concat_channels", y.shape.rank >= 2 && y.shape[1] == total,
      "output has \(y.shape.rank >= 2 ? y.shape[1] : 0) channels, inputs add up to \(total)")
    var start = 0
    for t in inputs {
      try copy_channels(x: t, xStart: 0, y: y, yStart: start, count: t.shape[1])
      start += t.shape[1]
    }
  }

  /// y = x[:, start ..< start + y.C].
  public func slice_channels(_ x: Tensor, start: Int, y: Tensor) throws {
    try copy_channels(x: x, xStart: start, y: y, yStart: 0, count: y.shape.rank > 1 ? y.shape[1] : 0)
  }

  /// Gradient of `slice_channels`: dx is zero outside the slice.
  public func slice_channels_bwd(dy: Tensor, start: Int, dx: Tensor) throws {
    try fill(dx, value: 0)
    try copy_channels(x: dy, xStart: 0, y: dx, yStart: start, count: dy.shape.rank > 1 ? dy.shape[1] : 0)
  }

  /// y[0] = mean of x.
  public func reduce_mean(_ x: Tensor, y: Tensor) throws {
    try reduce_sum(x, y: y, alpha: 1 / Float(max(x.count, 1)))
  }
}

extension Backend {
  /// Gradient of `reduce_sum(x, alpha)`: dx[i] = alpha·dy[0].
  public func reduce_sum_bwd(dy: Tensor, alpha: Float, dx: Tensor) throws {
    try ShapeCheck.expect("reduce_sum_bwd", dy.count == 1, "dy must hold one element, got \(dy.shape)")
    let column = try dx.reshaped([dx.count, 1])
    try fill(dx, value: 0)
    try add_channel(column, bias: dy.reshaped([1]), y: column)
    if alpha != 1 { try scale(dx, alpha: alpha, y: dx) }
  }

  /// Gradient of `channel_sum(x)`: dx[n, c, ...] = dy[c].
  public func channel_sum_bwd(dy: Tensor, dx: Tensor) throws {
    try fill(dx, value: 0)
    try add_channel(dx, bias: dy, y: dx)
  }
}
