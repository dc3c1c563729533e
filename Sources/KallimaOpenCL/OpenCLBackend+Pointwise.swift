import Foundation
import KallimaCore

/// Elementwise ops, reductions, losses, optimisers and random fills: one kernel each.
extension OpenCLBackend {
  /// The entry-point suffix of each activation kind in Kernels/elementwise.cl, and its slope.
  static func activationKernel(_ kind: Activation) -> (String, Float) {
    switch kind {
    case .relu: return ("relu", 0)
    case .leakyRelu(let slope): return ("leaky_relu", slope)
    case .tanh: return ("tanh", 0)
    case .sigmoid: return ("sigmoid", 0)
    case .sqrt: return ("sqrt", 0)
    case .square: return ("square", 0)
    case .rsqrt: return ("rsqrt", 0)
    case .exp: return ("exp", 0)
    }
  }

  public func activation_fwd(_ kind: Activation, x: Tensor, y: Tensor) throws {
    let op = "activation_fwd"
    try ShapeCheck.allSame(op, [("x", x), ("y", y)])
    let (suffix, slope) = OpenCLBackend.activationKernel(kind)
    try launch(
      "\(op)_\(suffix)", items: x.count, [.float(slope), .buffer(mem(x, op)), .buffer(mem(y, op)), .int(x.count)])
  }

  public func activation_bwd(_ kind: Activation, x: Tensor, y: Tensor, dy: Tensor, dx: Tensor) throws {
    let op = "activation_bwd"
    try ShapeCheck.allSame(op, [("x", x), ("y", y), ("dy", dy), ("dx", dx)])
    let (suffix, slope) = OpenCLBackend.activationKernel(kind)
    try launch(
      "\(op)_\(suffix)", items: x.count,
      [
        .float(slope), .buffer(mem(x, op)), .buffer(mem(y, op)), .buffer(mem(dy, op)), .buffer(mem(dx, op)),
        .int(x.count),
      ])
  }

  public func add(_ a: Tensor, _ b: Tensor, y: Tensor) throws {
    try ShapeCheck.allSame("add", [("a", a), ("b", b), ("y", y)])
    try launch("add", items: y.count, [.buffer(mem(a, "add")), .buffer(mem(b, "add")), .buffer(mem(y, "add")), .int(y.count)])
  }

  public func mul(_ a: Tensor, _ b: Tensor, y: Tensor) throws {
    try ShapeCheck.allSame("mul", [("a", a), ("b", b), ("y", y)])
    try launch("mul", items: y.count, [.buffer(mem(a, "mul")), .buffer(mem(b, "mul")), .buffer(mem(y, "mul")), .int(y.count)])
  }

  public func scale(_ x: Tensor, alpha: Float, y: Tensor) throws {
    try ShapeCheck.allSame("scale", [("x", x), ("y", y)])
    try launch("scale", items: y.count, [.buffer(mem(x, "scale")), .float(alpha), .buffer(mem(y, "scale")), .int(y.count)])
  }

  public func mul_scalar(_ x: Tensor, _ s: Tensor, y: Tensor) throws {
    try scalarOperand("mul_scalar", x, s, y)
  }

  public func div_scalar(_ x: Tensor, _ s: Tensor, y: Tensor) throws {
    try scalarOperand("div_scalar", x, s, y)
  }

  func scalarOperand(_ op: String, _ x: Tensor, _ s: Tensor, _ y: Tensor) throws {
    try ShapeCheck.scalar(op, "s", s)
    try ShapeCheck.allSame(op, [("x", x), ("y", y)])
    try launch(op, items: y.count, [.buffer(mem(x, op)), .buffer(mem(s, op)), .buffer(mem(y, op)), .int(y.count)])
  }

  public func clamp_fwd(_ x: Tensor, y: Tensor, min: Float, max: Float) throws {
    let op = "clamp_fwd"
    try ShapeCheck.allSame(op, [("x", x), ("y", y)])
    try launch(op, items: y.count, [.buffer(mem(x, op)), .buffer(mem(y, op)), .float(min), .float(max), .int(y.count)])
  }

  public func clamp_bwd(x: Tensor, dy: Tensor, dx: Tensor, min: Float, max: Float) throws {
    let op = "clamp_bwd"
    try ShapeCheck.allSame(op, [("x", x), ("dy", dy), ("dx", dx)])
    try launch(
      op, items: x.count,
      [.buffer(mem(x, op)), .buffer(mem(dy, op)), .buffer(mem(dx, op)), .float(min), .float(max), .int(x.count)])
  }

  func channelBroadcast(_ op: String, _ x: Tensor, _ v: Tensor, _ role: String, _ y: Tensor) throws {
    let (outer, channels, inner) = try ShapeCheck.channelVector(op, x: x.shape, vector: v.shape, role: role)
    try ShapeCheck.allSame(op, [("x", x), ("y", y)])
    try launchRowRuns(
      op + "_planes", rowLength: inner, rows: outer * channels,
      [.buffer(mem(x, op)), .buffer(mem(v, op)), .buffer(mem(y, op)), .int(channels), .int(inner), .int(outer * channels)])
  }

  public func add_channel(_ x: Tensor, bias: Tensor, y: Tensor) throws {
    try channelBroadcast("add_channel", x, bias, "bias", y)
  }

  public func mul_channel(_ x: Tensor, scale: Tensor, y: Tensor) throws {
    try channelBroadcast("mul_channel", x, scale, "scale", y)
  }

  public func copy_channels(x: Tensor, xStart: Int, y: Tensor, yStart: Int, count: Int) throws {
    let op = "copy_channels"
    let (outer, xc, yc, inner) = try ShapeCheck.copyChannels(
      op, x: x.shape, xStart: xStart, y: y.shape, yStart: yStart, count: count)
    try launchRowRuns(
      op, rowLength: inner, rows: outer * count,
      [
        .buffer(mem(x, op)), .int(xStart), .int(xc), .buffer(mem(y, op)), .int(yStart), .int(yc),
        .int(count), .int(inner), .int(outer * count),
      ])
  }

  public func transpose01(_ x: Tensor, y: Tensor) throws {
    let op = "transpose01"
    let (a, b, inner) = try ShapeCheck.transpose01(op, x: x.shape, y: y.shape)
    if inner == 1 {
      // A plain matrix transpose: row runs of one value would be one work-item per
      // element; the blocked transpose the GEMMs use reads and writes along rows.
      return try transpose(mem(x, op), rows: a, columns: b, ldSource: b, into: mem(y, op), ldDestination: a)
    }
    try launchRowRuns(
      op, rowLength: inner, rows: a * b, [.buffer(mem(x, op)), .buffer(mem(y, op)), .int(a), .int(b), .int(inner), .int(a * b)])
  }

  // MARK: Reductions

  public func reduce_sum(_ x: Tensor, y: Tensor, alpha: Float) throws {
    let op = "reduce_sum"
    try ShapeCheck.expect(op, y.count == 1, "y must hold one element, got \(y.shape)")
    try locked {
      try sumRows(mem(x, op), into: mem(y, op), rows: 1, count: x.count, inner: x.count, outerStride: 0, alpha: alpha)
    }
  }

  public func channel_sum(_ x: Tensor, y: Tensor) throws {
    let op = "channel_sum"
    let (outer, channels, inner) = try ShapeCheck.channelVector(op, x: x.shape, vector: y.shape, role: "y")
    try locked {
      try sumRows(
        mem(x, op), into: mem(y, op), rows: channels, count: outer * inner, inner: inner, outerStride: channels * inner)
    }
  }

  // MARK: Losses

  /// A mean loss through its pass-1 kernel `op`_partials (Kernels/loss.cl).
  func lossForward(_ op: String, _ x: Tensor, _ t: Tensor, _ loss: Tensor) throws {
    try ShapeCheck.loss(op, x: x, target: t, scalar: loss)
    try meanLoss(op + "_partials", x: mem(x, op), t: mem(t, op), loss: mem(loss, op), n: x.count)
  }

  func lossBackward(_ op: String, _ x: Tensor, _ t: Tensor, _ dloss: Tensor, _ dx: Tensor) throws {
    try ShapeCheck.loss(op, x: x, target: t, scalar: dloss)
    try ShapeCheck.allSame(op, [("input", x), ("dx", dx)])
    try launch(
      op, items: x.count,
      [.buffer(mem(x, op)), .buffer(mem(t, op)), .buffer(mem(dloss, op)), .buffer(mem(dx, op)), .int(x.count)])
  }

  public func bce_logits_fwd(logits: Tensor, targets: Tensor, loss: Tensor) throws {
    try lossForward("bce_logits_fwd", logits, targets, loss)
  }
  public func bce_logits_bwd(logits: Tensor, targets: Tensor, dloss: Tensor, dlogits: Tensor) throws {
    try lossBackward("bce_logits_bwd", logits, targets, dloss, dlogits)
  }
  /// Work-group size for the softmax kernels (one work-item per row, each row a long loop):
  /// small enough that the rows make four groups per compute unit (64 rows on 2 units:
  /// groups of 8), so a short batch does not run on one unit.
  func rowKernelGroup(rows n: Int) -> Int {
    max(1, min(groupSize, n / (4 * max(1, device.computeUnits))))
  }

  public func softmax_cross_entropy_fwd(logits: Tensor, targets: Tensor, loss: Tensor) throws {
    let op = "softmax_cross_entropy_fwd"
    let (n, c) = try ShapeCheck.softmax_cross_entropy(op, logits: logits, targets: targets, scalar: loss)
    try locked {
      let rowLoss = try workspace(OpenCLBackend.rowLossSlot, count: n)
      try launch(
        "softmax_cross_entropy_rows", items: n, group: rowKernelGroup(rows: n),
        [.buffer(mem(logits, op)), .buffer(mem(targets, op)), .buffer(rowLoss), .int(n), .int(c)])
      try sumRows(rowLoss, into: mem(loss, op), rows: 1, count: n, inner: n, outerStride: 0, alpha: 1 / Float(n))
    }
  }

  public func softmax_cross_entropy_bwd(logits: Tensor, targets: Tensor, dloss: Tensor, dlogits: Tensor) throws {
    let op = "softmax_cross_entropy_bwd"
    let (n, c) = try ShapeCheck.softmax_cross_entropy(op, logits: logits, targets: targets, scalar: dloss)
    try ShapeCheck.allSame(op, [("logits", logits), ("dlogits", dlogits)])
    try launch(
      op, items: n, group: rowKernelGroup(rows: n),
      [.buffer(mem(logits, op)), .buffer(mem(targets, op)), .buffer(mem(dloss, op)), .buffer(mem(dlogits, op)),
       .int(n), .int(c)])
  }

  public func softmax_fwd(_ x: Tensor, y: Tensor) throws {
    let op = "softmax_fwd"
    let (n, c) = try ShapeCheck.softmaxRows(op, x)
    try ShapeCheck.allSame(op, [("x", x), ("y", y)])
    try launch(op, items: n, group: rowKernelGroup(rows: n), [.buffer(mem(x, op)), .buffer(mem(y, op)), .int(n), .int(c)])
  }

  public func mse_fwd(x: Tensor, target: Tensor, loss: Tensor) throws {
    try lossForward("mse_fwd", x, target, loss)
  }
  public func mse_bwd(x: Tensor, target: Tensor, dloss: Tensor, dx: Tensor) throws {
    try lossBackward("mse_bwd", x, target, dloss, dx)
  }
  public func l1_fwd(x: Tensor, target: Tensor, loss: Tensor) throws {
    try lossForward("l1_fwd", x, target, loss)
  }
  public func l1_bwd(x: Tensor, target: Tensor, dloss: Tensor, dx: Tensor) throws {
    try lossBackward("l1_bwd", x, target, dloss, dx)
  }

  // MARK: Optimisers

  public func adam_step(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: Int, params h: AdamParams) throws {
    let op = "adam_step"
    try ShapeCheck.allSame(op, [("param", param), ("grad", grad), ("m", m), ("v", v)])
    try ShapeCheck.expect(op, step >= 1, "step is 1-based, got \(step)")
    // Bias corrections in double on the host, as torch.optim.Adam computes them.
    let stepSize = h.lr / (1 - pow(h.beta1, Double(step)))
    let bc2Sqrt = (1 - pow(h.beta2, Double(step))).squareRoot()
    try launch(
      op, items: param.count,
      [
        .buffer(mem(param, op)), .buffer(mem(grad, op)), .buffer(mem(m, op)), .buffer(mem(v, op)),
        .float(Float(stepSize)), .float(Float(bc2Sqrt)), .float(Float(1 - h.beta1)), .float(Float(h.beta2)),
        .float(Float(1 - h.beta2)), .float(Float(h.eps)), .float(Float(h.weightDecay)), .int(param.count),
      ])
  }

  public func sgd_step(param: Tensor, grad: Tensor, momentumBuffer: Tensor?, params h: SGDParams) throws {
    let op = "sgd_step"
    try ShapeCheck.allSame(op, [("param", param), ("grad", grad)])
    if let b = momentumBuffer { try ShapeCheck.allSame(op, [("param", param), ("momentumBuffer", b)]) }
    if h.momentum != 0 && momentumBuffer == nil {
      throw KallimaError.invalidArgument(op: op, message: "momentum \(h.momentum) needs a momentum buffer")
    }
    try launch(
      op, items: param.count,
      [
        .buffer(mem(param, op)), .buffer(mem(grad, op)), .optional(momentumBuffer.map { try mem($0, op) }),
        .float(h.lr), .float(h.momentum), .float(h.weightDecay), .int(param.count),
      ])
  }

  public func rmsprop_step(
    param: Tensor, grad: Tensor, squareAvg: Tensor, momentumBuffer: Tensor?, gradAvg: Tensor?,
    params h: RMSpropParams
  ) throws {
    let op = "rmsprop_step"
    try ShapeCheck.rmsprop(
      op, param: param, grad: grad, squareAvg: squareAvg, momentumBuffer: momentumBuffer, gradAvg: gradAvg, params: h)
    let buf = h.momentum > 0 ? try mem(momentumBuffer!, op) : nil
    let avg = h.centered ? try mem(gradAvg!, op) : nil
    try launch(
      op, items: param.count,
      [
        .buffer(mem(param, op)), .buffer(mem(grad, op)), .buffer(mem(squareAvg, op)), .optional(buf), .optional(avg),
        .float(Float(h.lr)), .float(Float(h.alpha)), .float(Float(1 - h.alpha)), .float(Float(h.eps)),
        .float(Float(h.weightDecay)), .float(Float(h.momentum)), .int(param.count),
      ])
  }

  public func ema_update(ema: Tensor, param: Tensor, beta: Double) throws {
    let op = "ema_update"
    try ShapeCheck.allSame(op, [("ema", ema), ("param", param)])
    try launch(
      op, items: ema.count,
      [.buffer(mem(ema, op)), .buffer(mem(param, op)), .float(Float(beta)), .float(Float(1 - beta)), .int(ema.count)])
  }

  // MARK: Data

  public func gather_images(source: Tensor, y: Tensor, order: DataOrder, position: UInt64, flip: Bool) throws {
    let op = "gather_images"
    let geometry = try ShapeCheck.gatherImages(op, source: source, y: y, order: order)
    try launchGather(op, source: mem(source, op), y: y, order: order, position: position, flip: flip, geometry: geometry)
  }

  // MARK: Random

  public func random_uniform(_ y: Tensor, stream: RandomStream, low: Float, high: Float) throws {
    let op = "random_uniform"
    try launch(
      op, items: (y.count + 3) / 4,
      [.buffer(mem(y, op)), .ulong(stream.seed), .ulong(stream.counter), .float(low), .float(high), .int(y.count)])
  }

  public func random_normal(_ y: Tensor, stream: RandomStream, mean: Float, std: Float) throws {
    let op = "random_normal"
    try launch(
      op, items: (y.count + 3) / 4,
      [.buffer(mem(y, op)), .ulong(stream.seed), .ulong(stream.counter), .float(mean), .float(std), .int(y.count)])
  }

  public func dropout_mask(_ y: Tensor, stream: RandomStream, p: Float) throws {
    let op = "dropout_mask"
    try Philox.checkDropout(op, p: p)
    try launch(
      op, items: (y.count + 3) / 4,
      [
        .buffer(mem(y, op)), .ulong(stream.seed), .ulong(stream.counter), .float(p), .float(Philox.dropoutScale(p: p)),
        .int(y.count),
      ])
  }
}
