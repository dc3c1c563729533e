extension ShapeCheck {
  /// Reflection padding: x [N,C,H,W], y [N,C,H+top+bottom,W+left+right], every padding
  /// non-negative and smaller than its axis. Returns (planes N·C, H, W, OH, OW).
  public static func reflectionPad2d(_ op: String, x: Shape, y: Shape, padding p: Padding2d) throws
    -> (planes: Int, h: Int, w: Int, oh: Int, ow: Int)
  {
    let (n, c, h, w) = try x.nchw(op, "x")
    _ = try y.nchw(op, "y")
    try expect(
      op, min(p.top, p.bottom, p.left, p.right) >= 0, "padding must be non-negative, got \(p)")
    try expect(
      op, p.top < h && p.bottom < h && p.left < w && p.right < w,
      "\(p) must be smaller than the input's \(h)x\(w) (reflection cannot repeat the edge)")
    let expected = p.outputShape(x)
    try expect(op, y == expected, "y is \(y), expected \(expected) for x \(x) and \(p)")
    return (n * c, h, w, expected[2], expected[3])
  }

  /// Nearest upsampling by integer `scale`: x [N,C,H,W], y [N,C,scale·H,scale·W].
  /// Returns (planes N·C, H, W).
  public static func upsampleNearest2d(_ op: String, x: Shape, y: Shape, scale: Int) throws
    -> (planes: Int, h: Int, w: Int)
  {
    let (n, c, h, w) = try x.nchw(op, "x")
    try expect(op, scale >= 1, "scale must be a positive integer, got \(scale)")
    let expected: Shape = [n, c, h * scale, w * scale]
    try expect(op, y == expected, "y is \(y), expected \(expected) for x \(x) and scale \(scale)")
    return (n * c, h, w)
  }

  /// A device-side scalar operand: one element.
  public static func scalar(_ op: String, _ role: String, _ s: Tensor) throws {
    try expect(op, s.count == 1, "\(role) must hold one element, got \(s.shape)")
  }

  /// Optimiser state tensors shaped like the parameter; `required` ones must be present.
  /// rmsprop_step's tensors: param, grad and square_avg alike, the momentum buffer when
  /// momentum > 0 and the gradient average when centred.
  public static func rmsprop(
    _ op: String, param: Tensor, grad: Tensor, squareAvg: Tensor, momentumBuffer: Tensor?, gradAvg: Tensor?,
    params h: RMSpropParams
  ) throws {
    try allSame(op, [("param", param), ("grad", grad), ("squareAvg", squareAvg)])
    try optimizerState(
      op, param: param, [("momentumBuffer", momentumBuffer, h.momentum > 0), ("gradAvg", gradAvg, h.centered)])
  }

  public static func optimizerState(_ op: String, param: Tensor, _ state: [(String, Tensor?, Bool)]) throws {
    for (role, t, required) in state {
      if let t {
        try expect(op, t.shape == param.shape, "\(role) is \(t.shape) but param is \(param.shape)")
      } else if required {
        throw KallimaError.invalidArgument(op: op, message: "needs \(role) with these hyper-parameters")
      }
    }
  }
}
