/// Shape validation shared by every backend, so that both throw the same errors, naming
/// the op and the shapes involved.
public enum ShapeCheck {
  public static func expect(_ op: String, _ cond: Bool, _ message: @autoclosure () -> String) throws {
    if !cond { throw KallimaError.shapeMismatch(op: op, message: message()) }
  }

  /// Requires `t` to have exactly `shape`.
  public static func same(_ op: String, _ role: String, _ t: Tensor, _ shape: Shape) throws {
    try expect(op, t.shape == shape, "\(role) is \(t.shape), expected \(shape)")
  }

  /// Requires every tensor to have the shape of the first.
  public static func allSame(_ op: String, _ tensors: [(String, Tensor)]) throws {
    guard let (firstRole, first) = tensors.first else { return }
    for (role, t) in tensors.dropFirst() {
      try expect(op, t.shape == first.shape, "\(role) is \(t.shape) but \(firstRole) is \(first.shape)")
    }
  }

  /// conv2d: x [N,C,H,W], weight [K,C,KH,KW], y [N,K,OH,OW], bias [K].
  public static func conv2d(
    _ op: String, x: Shape, weight: Shape, y: Shape, bias: Shape?, params p: Conv2dParams
  ) throws -> ConvGeometry {
    let (n, c, h, w) = try x.nchw(op, "x")
    let (k, wc, kh, kw) = try weight.nchw(op, "weight")
    try expect(op, wc == c, "weight \(weight) expects \(wc) input channels but x \(x) has \(c)")
    try expect(op, p.stride.h > 0 && p.stride.w > 0, "stride must be positive")
    try expect(op, p.padding.h >= 0 && p.padding.w >= 0, "padding must be non-negative")
    let oh = (h + 2 * p.padding.h - kh) / p.stride.h + 1
    let ow = (w + 2 * p.padding.w - kw) / p.stride.w + 1
    try expect(
      op, h + 2 * p.padding.h >= kh && w + 2 * p.padding.w >= kw,
      "kernel \(kh)x\(kw) larger than padded input \(x)")
    let expected: Shape = [n, k, oh, ow]
    try expect(op, y == expected, "y is \(y), expected \(expected) for x \(x) and weight \(weight)")
    if let bias { try expect(op, bias == [k], "bias is \(bias), expected [\(k)]") }
    return ConvGeometry(
      n: n, c: c, h: h, w: w, k: k, oh: oh, ow: ow, kh: kh, kw: kw, sh: p.stride.h,
      sw: p.stride.w, ph: p.padding.h, pw: p.padding.w)
  }

  /// Transposed conv2d: x [N,C,H,W], weight [C,K,KH,KW], y [N,K,OH,OW], bias [K].
  /// The returned geometry has the image side = y and the patch-grid side = x.
  public static func convTranspose2d(
    _ op: String, x: Shape, weight: Shape, y: Shape, bias: Shape?, params p: ConvTranspose2dParams
  ) throws -> ConvGeometry {
    let (n, c, h, w) = try x.nchw(op, "x")
    let (wc, k, kh, kw) = try weight.nchw(op, "weight")
    try expect(op, wc == c, "weight \(weight) expects \(wc) input channels but x \(x) has \(c)")
    try expect(op, p.stride.h > 0 && p.stride.w > 0, "stride must be positive")
    try expect(
      op, p.outputPadding.h < p.stride.h && p.outputPadding.w < p.stride.w,
      "output padding must be smaller than the stride")
    let oh = (h - 1) * p.stride.h - 2 * p.padding.h + kh + p.outputPadding.h
    let ow = (w - 1) * p.stride.w - 2 * p.padding.w + kw + p.outputPadding.w
    try expect(op, oh > 0 && ow > 0, "output would be \(oh)x\(ow) for x \(x)")
    let expected: Shape = [n, k, oh, ow]
    try expect(op, y == expected, "y is \(y), expected \(expected) for x \(x) and weight \(weight)")
    if let bias { try expect(op, bias == [k], "bias is \(bias), expected [\(k)]") }
    return ConvGeometry(
      n: n, c: k, h: oh, w: ow, k: c, oh: h, ow: w, kh: kh, kw: kw, sh: p.stride.h,
      sw: p.stride.w, ph: p.padding.h, pw: p.padding.w)
  }

  /// Channel-wise ops: x [N, C, ...] and a per-channel vector [C].
  /// Returns (outer = N, channels = C, inner = product of the trailing axes).
  /// x [A, B, rest…] and y [B, A, rest…]: returns (A, B, rest count).
  public static func transpose01(_ op: String, x: Shape, y: Shape) throws -> (a: Int, b: Int, inner: Int) {
    try expect(op, x.rank >= 2, "x must have at least two axes, got \(x)")
    let swapped = Shape([x[1], x[0]] + Array(x.dims.dropFirst(2)))
    try expect(op, y == swapped, "y is \(y), expected \(swapped) for x \(x)")
    return (x[0], x[1], x.dims.dropFirst(2).reduce(1, *))
  }

  public static func channelVector(_ op: String, x: Shape, vector: Shape, role: String) throws
    -> (outer: Int, channels: Int, inner: Int)
  {
    try expect(op, x.rank >= 2, "x must have a channel axis (rank >= 2), got \(x)")
    let c = x[1]
    try expect(op, vector == [c], "\(role) is \(vector), expected [\(c)] for x \(x)")
    return (x[0], c, x.dims.dropFirst(2).reduce(1, *))
  }

  /// Matrix product shapes; returns (m, n, k).
  public static func matmul(
    _ op: String, a: Shape, transposeA: Bool, b: Shape, transposeB: Bool, c: Shape
  ) throws -> (m: Int, n: Int, k: Int) {
    try expect(op, a.rank == 2 && b.rank == 2 && c.rank == 2, "matmul needs 2-D a, b, c: \(a) \(b) \(c)")
    let (m, ka) = transposeA ? (a[1], a[0]) : (a[0], a[1])
    let (kb, n) = transposeB ? (b[1], b[0]) : (b[0], b[1])
    try expect(
      op, ka == kb,
      "inner dimensions differ: op(a) is \(m)x\(ka), op(b) is \(kb)x\(n) (a \(a), b \(b))")
    try expect(op, c == [m, n], "c is \(c), expected [\(m), \(n)]")
    return (m, n, ka)
  }

  /// Loss inputs: same shapes, a one-element loss.
  public static func loss(_ op: String, x: Tensor, target: Tensor, scalar: Tensor) throws {
    try allSame(op, [("input", x), ("target", target)])
    try expect(op, scalar.count == 1, "loss tensor must hold one element, got \(scalar.shape)")
    try expect(op, x.count > 0, "empty input")
  }
}

extension ShapeCheck {
  /// copy_channels: x [N, Cx, ...] and y [N, Cy, ...] agree outside axis 1 and the channel
  /// ranges fit. Returns (outer, xChannels, yChannels, inner).
  public static func copyChannels(
    _ op: String, x: Shape, xStart: Int, y: Shape, yStart: Int, count: Int
  ) throws -> (outer: Int, xChannels: Int, yChannels: Int, inner: Int) {
    try expect(op, x.rank >= 2 && x.rank == y.rank, "x \(x) and y \(y) need equal rank >= 2")
    try expect(
      op, x[0] == y[0] && Array(x.dims.dropFirst(2)) == Array(y.dims.dropFirst(2)),
      "x \(x) and y \(y) differ outside axis 1")
    try expect(
      op, count >= 0 && xStart >= 0 && yStart >= 0 && xStart + count <= x[1]
        && yStart + count <= y[1],
      "channels \(xStart)..<\(xStart + count) of x \(x) into \(yStart)..<\(yStart + count) of y \(y) are out of range")
    return (x[0], x[1], y[1], x.dims.dropFirst(2).reduce(1, *))
  }

  /// Batch norm tensors: x and y NCHW (or [N, C]); every per-channel tensor [C]. With
  /// `batchStatistics` (train mode) a channel needs more than one value; eval mode normalises
  /// by the running statistics, so one image is fine. Returns (N, C, inner).
  public static func batchnorm(
    _ op: String, x: Tensor, y: Tensor, channelTensors: [(String, Tensor)], batchStatistics: Bool = true
  ) throws -> (n: Int, c: Int, inner: Int) {
    try allSame(op, [("x", x), ("y", y)])
    try expect(op, x.shape.rank >= 2, "x must be [N, C, ...], got \(x.shape)")
    let c = x.shape[1]
    for (role, t) in channelTensors {
      try expect(op, t.shape == [c], "\(role) is \(t.shape), expected [\(c)] for x \(x.shape)")
    }
    let inner = x.shape.dims.dropFirst(2).reduce(1, *)
    try expect(op, !batchStatistics || x.shape[0] * inner > 1, "needs more than one value per channel, got x \(x.shape)")
    return (x.shape[0], c, inner)
  }

  /// Instance norm tensors: x, y NCHW; mean/invstd [N·C]; gamma/beta [C] when present.
  public static func instancenorm(
    _ op: String, x: Tensor, y: Tensor, stats: [(String, Tensor)], affine: [(String, Tensor?)]
  ) throws -> (n: Int, c: Int, inner: Int) {
    try allSame(op, [("x", x), ("y", y)])
    let (n, c, h, w) = try x.shape.nchw(op, "x")
    try expect(op, h * w > 1, "needs more than one pixel per instance, got x \(x.shape)")
    for (role, t) in stats {
      try expect(op, t.shape == [n * c], "\(role) is \(t.shape), expected [\(n * c)] (N·C)")
    }
    for case (let role, let t?) in affine {
      try expect(op, t.shape == [c], "\(role) is \(t.shape), expected [\(c)]")
    }
    return (n, c, h * w)
  }
}
