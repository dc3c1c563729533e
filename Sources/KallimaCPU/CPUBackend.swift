import Foundation
import KallimaCore

/// Storage of the CPU reference backend: Double, so the oracle's own rounding error is
/// negligible next to float32 and finite differences are meaningful.
public final class CPUBuffer: DeviceBuffer {
  public var values: [Double]
  public var count: Int { values.count }
  public var backendName: String { "cpu" }
  init(count: Int) { values = [Double](repeating: 0, count: count) }
}

/// The reference backend: one plain Swift function per kernel, with the same name and
/// argument order as the OpenCL backend, accumulating in Double. It is the oracle the
/// OpenCL kernels are tested against, not a fast path.
public final class CPUBackend: Backend {
  public let name = "cpu"
  public internal(set) var traffic = HostTraffic()

  public init() {}

  func buf(_ t: Tensor, _ op: String) throws -> CPUBuffer {
    try t.storage(CPUBuffer.self, op: op, backend: name)
  }

  // MARK: Memory

  public func makeBuffer(count: Int) throws -> DeviceBuffer { CPUBuffer(count: count) }

  public func write(_ values: [Float], to tensor: Tensor) throws {
    try writeDouble(values.map(Double.init), to: tensor)
  }

  /// Writes Double values directly (finite-difference checks perturb inputs in Double).
  public func writeDouble(_ values: [Double], to tensor: Tensor) throws {
    try ShapeCheck.expect(
      "write", values.count == tensor.count, "\(values.count) values for tensor \(tensor.shape)")
    let b = try buf(tensor, "write")
    for i in values.indices { b.values[i] = values[i] }
    traffic.bytesToDevice += values.count * MemoryLayout<Float>.size
  }

  public func read(_ tensor: Tensor) throws -> [Float] {
    try readDouble(tensor).map { Float($0) }
  }

  /// The tensor's values at full (Double) precision.
  public func readDouble(_ tensor: Tensor) throws -> [Double] {
    traffic.blockingReads += 1
    traffic.bytesFromDevice += tensor.count * MemoryLayout<Float>.size
    return Array(try buf(tensor, "read").values[0..<tensor.count])
  }

  public func synchronize() throws { traffic.synchronizations += 1 }

  public func fill(_ y: Tensor, value: Float) throws {
    let b = try buf(y, "fill")
    for i in 0..<y.count { b.values[i] = Double(value) }
  }

  // MARK: Pointwise

  /// Applies f to every element of the named inputs, writing y.
  func map(
    _ op: String, _ inputs: [Tensor], y: Tensor, _ f: ([Double]) -> Double
  ) throws {
    try ShapeCheck.allSame(op, inputs.enumerated().map { ("input \($0.offset)", $0.element) } + [("y", y)])
    let ins = try inputs.map { try buf($0, op).values }
    let out = try buf(y, op)
    var args = [Double](repeating: 0, count: ins.count)
    for i in 0..<y.count {
      for j in ins.indices { args[j] = ins[j][i] }
      out.values[i] = f(args)
    }
  }

  public func activation_fwd(_ kind: Activation, x: Tensor, y: Tensor) throws {
    try map("activation_fwd", [x], y: y) { a in
      let v = a[0]
      switch kind {
      case .relu: return max(v, 0)
      case .leakyRelu(let slope): return v > 0 ? v : Double(slope) * v
      case .tanh: return Foundation.tanh(v)
      case .sigmoid: return 1 / (1 + Foundation.exp(-v))
      case .sqrt: return v.squareRoot()
      case .square: return v * v
      case .rsqrt: return 1 / v.squareRoot()
      case .exp: return Foundation.exp(v)
      }
    }
  }

  public func activation_bwd(_ kind: Activation, x: Tensor, y: Tensor, dy: Tensor, dx: Tensor) throws {
    try map("activation_bwd", [x, y, dy], y: dx) { a in
      let (xv, yv, g) = (a[0], a[1], a[2])
      switch kind {
      case .relu: return xv > 0 ? g : 0
      case .leakyRelu(let slope): return xv > 0 ? g : Double(slope) * g
      case .tanh: return g * (1 - yv * yv)
      case .sigmoid: return g * yv * (1 - yv)
      case .sqrt: return g * 0.5 / yv
      case .square: return 2 * xv * g
      case .rsqrt: return -0.5 * yv * yv * yv * g
      case .exp: return yv * g
      }
    }
  }

  public func add(_ a: Tensor, _ b: Tensor, y: Tensor) throws {
    try map("add", [a, b], y: y) { $0[0] + $0[1] }
  }

  public func mul(_ a: Tensor, _ b: Tensor, y: Tensor) throws {
    try map("mul", [a, b], y: y) { $0[0] * $0[1] }
  }

  public func scale(_ x: Tensor, alpha: Float, y: Tensor) throws {
    try map("scale", [x], y: y) { Double(alpha) * $0[0] }
  }

  public func mul_scalar(_ x: Tensor, _ s: Tensor, y: Tensor) throws {
    try ShapeCheck.scalar("mul_scalar", "s", s)
    let v = try buf(s, "mul_scalar").values[0]
    try map("mul_scalar", [x], y: y) { $0[0] * v }
  }

  public func div_scalar(_ x: Tensor, _ s: Tensor, y: Tensor) throws {
    try ShapeCheck.scalar("div_scalar", "s", s)
    let v = try buf(s, "div_scalar").values[0]
    try map("div_scalar", [x], y: y) { $0[0] / v }
  }

  public func clamp_fwd(_ x: Tensor, y: Tensor, min lo: Float, max hi: Float) throws {
    let (l, h) = (Double(lo), Double(hi))
    try map("clamp_fwd", [x], y: y) { a in
      let v = a[0]
      if v.isNaN { return v }
      let raised = v < l ? l : v
      return raised > h ? h : raised
    }
  }

  public func clamp_bwd(x: Tensor, dy: Tensor, dx: Tensor, min lo: Float, max hi: Float) throws {
    let (l, h) = (Double(lo), Double(hi))
    try map("clamp_bwd", [x, dy], y: dx) { a in a[0] >= l && a[0] <= h ? a[1] : 0 }
  }

  func channelMap(
    _ op: String, _ x: Tensor, _ v: Tensor, _ role: String, y: Tensor, _ f: (Double, Double) -> Double
  ) throws {
    let (outer, channels, inner) = try ShapeCheck.channelVector(op, x: x.shape, vector: v.shape, role: role)
    try ShapeCheck.allSame(op, [("x", x), ("y", y)])
    let xs = try buf(x, op).values
    let vs = try buf(v, op).values
    let out = try buf(y, op)
    for n in 0..<outer {
      for c in 0..<channels {
        for i in 0..<inner {
          let idx = (n * channels + c) * inner + i
          out.values[idx] = f(xs[idx], vs[c])
        }
      }
    }
  }

  public func add_channel(_ x: Tensor, bias: Tensor, y: Tensor) throws {
    try channelMap("add_channel", x, bias, "bias", y: y, +)
  }

  public func mul_channel(_ x: Tensor, scale: Tensor, y: Tensor) throws {
    try channelMap("mul_channel", x, scale, "scale", y: y, *)
  }

  public func copy_channels(x: Tensor, xStart: Int, y: Tensor, yStart: Int, count: Int) throws {
    let (outer, xc, yc, inner) = try ShapeCheck.copyChannels(
      "copy_channels", x: x.shape, xStart: xStart, y: y.shape, yStart: yStart, count: count)
    let xs = try buf(x, "copy_channels").values
    let out = try buf(y, "copy_channels")
    for n in 0..<outer {
      for c in 0..<count {
        for i in 0..<inner {
          out.values[(n * yc + yStart + c) * inner + i] = xs[(n * xc + xStart + c) * inner + i]
        }
      }
    }
  }

  public func transpose01(_ x: Tensor, y: Tensor) throws {
    let (a, b, inner) = try ShapeCheck.transpose01("transpose01", x: x.shape, y: y.shape)
    let xs = try buf(x, "transpose01").values
    let out = try buf(y, "transpose01")
    for i in 0..<a {
      for j in 0..<b {
        for k in 0..<inner { out.values[(j * a + i) * inner + k] = xs[(i * b + j) * inner + k] }
      }
    }
  }

  // MARK: Matrix

  public func matmul(
    _ a: Tensor, transposeA: Bool, _ b: Tensor, transposeB: Bool, c: Tensor, alpha: Float, beta: Float
  ) throws {
    let (m, n, k) = try ShapeCheck.matmul(
      "matmul", a: a.shape, transposeA: transposeA, b: b.shape, transposeB: transposeB, c: c.shape)
    let av = try buf(a, "matmul").values
    let bv = try buf(b, "matmul").values
    let out = try buf(c, "matmul")
    let (lda, ldb) = (a.shape[1], b.shape[1])
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k {
          let x = transposeA ? av[p * lda + i] : av[i * lda + p]
          let y = transposeB ? bv[j * ldb + p] : bv[p * ldb + j]
          s += x * y
        }
        let old = beta == 0 ? 0 : Double(beta) * out.values[i * n + j]
        out.values[i * n + j] = Double(alpha) * s + old
      }
    }
  }

  // MARK: Reductions

  public func reduce_sum(_ x: Tensor, y: Tensor, alpha: Float) throws {
    try ShapeCheck.expect("reduce_sum", y.count == 1, "y must hold one element, got \(y.shape)")
    let xs = try buf(x, "reduce_sum").values
    try buf(y, "reduce_sum").values[0] = Double(alpha) * xs[0..<x.count].reduce(0, +)
  }

  public func channel_sum(_ x: Tensor, y: Tensor) throws {
    try ShapeCheck.expect("channel_sum", x.shape.rank >= 2, "x must be [N, C, ...], got \(x.shape)")
    let (outer, channels, inner) = try ShapeCheck.channelVector(
      "channel_sum", x: x.shape, vector: y.shape, role: "y")
    let xs = try buf(x, "channel_sum").values
    let out = try buf(y, "channel_sum")
    for c in 0..<channels {
      var s = 0.0
      for n in 0..<outer {
        for i in 0..<inner { s += xs[(n * channels + c) * inner + i] }
      }
      out.values[c] = s
    }
  }

  // MARK: Losses

  func lossForward(
    _ op: String, _ x: Tensor, _ t: Tensor, _ loss: Tensor, _ f: (Double, Double) -> Double
  ) throws {
    try ShapeCheck.loss(op, x: x, target: t, scalar: loss)
    let xs = try buf(x, op).values
    let ts = try buf(t, op).values
    var s = 0.0
    for i in 0..<x.count { s += f(xs[i], ts[i]) }
    try buf(loss, op).values[0] = s / Double(x.count)
  }

  func lossBackward(
    _ op: String, _ x: Tensor, _ t: Tensor, _ dloss: Tensor, _ dx: Tensor,
    _ f: (Double, Double) -> Double
  ) throws {
    try ShapeCheck.loss(op, x: x, target: t, scalar: dloss)
    try ShapeCheck.allSame(op, [("input", x), ("dx", dx)])
    let g = try buf(dloss, op).values[0] / Double(x.count)
    let xs = try buf(x, op).values
    let ts = try buf(t, op).values
    let out = try buf(dx, op)
    for i in 0..<x.count { out.values[i] = g * f(xs[i], ts[i]) }
  }

  public func bce_logits_fwd(logits: Tensor, targets: Tensor, loss: Tensor) throws {
    try lossForward("bce_logits_fwd", logits, targets, loss) { x, t in
      max(x, 0) - x * t + Foundation.log1p(Foundation.exp(-abs(x)))
    }
  }

  public func bce_logits_bwd(logits: Tensor, targets: Tensor, dloss: Tensor, dlogits: Tensor) throws {
    try lossBackward("bce_logits_bwd", logits, targets, dloss, dlogits) { x, t in
      1 / (1 + Foundation.exp(-x)) - t
    }
  }

  /// log Σ exp(row) and the row maximum, in Double.
  func logSumExp(_ row: ArraySlice<Double>) -> Double {
    let top = row.max() ?? 0
    return top + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - top) })
  }

  public func softmax_cross_entropy_fwd(logits: Tensor, targets: Tensor, loss: Tensor) throws {
    let op = "softmax_cross_entropy_fwd"
    let (n, c) = try ShapeCheck.softmax_cross_entropy(op, logits: logits, targets: targets, scalar: loss)
    let (xs, ts) = (try buf(logits, op).values, try buf(targets, op).values)
    var total = 0.0
    for r in 0..<n {
      let row = xs[(r * c)..<((r + 1) * c)]
      let lse = logSumExp(row)
      for j in 0..<c { total -= ts[r * c + j] * (xs[r * c + j] - lse) }
    }
    try buf(loss, op).values[0] = total / Double(n)
  }

  public func softmax_cross_entropy_bwd(logits: Tensor, targets: Tensor, dloss: Tensor, dlogits: Tensor) throws {
    let op = "softmax_cross_entropy_bwd"
    let (n, c) = try ShapeCheck.softmax_cross_entropy(op, logits: logits, targets: targets, scalar: dloss)
    try ShapeCheck.allSame(op, [("logits", logits), ("dlogits", dlogits)])
    let (xs, ts) = (try buf(logits, op).values, try buf(targets, op).values)
    let g = try buf(dloss, op).values[0] / Double(n)
    let out = try buf(dlogits, op)
    for r in 0..<n {
      let lse = logSumExp(xs[(r * c)..<((r + 1) * c)])
      let mass = ts[(r * c)..<((r + 1) * c)].reduce(0, +)
      for j in 0..<c { out.values[r * c + j] = g * (Foundation.exp(xs[r * c + j] - lse) * mass - ts[r * c + j]) }
    }
  }

  public func softmax_fwd(_ x: Tensor, y: Tensor) throws {
    let op = "softmax_fwd"
    let (n, c) = try ShapeCheck.softmaxRows(op, x)
    try ShapeCheck.allSame(op, [("x", x), ("y", y)])
    let xs = try buf(x, op).values
    let out = try buf(y, op)
    for r in 0..<n {
      let lse = logSumExp(xs[(r * c)..<((r + 1) * c)])
      for j in 0..<c { out.values[r * c + j] = Foundation.exp(xs[r * c + j] - lse) }
    }
  }

  public func mse_fwd(x: Tensor, target: Tensor, loss: Tensor) throws {
    try lossForward("mse_fwd", x, target, loss) { ($0 - $1) * ($0 - $1) }
  }

  public func mse_bwd(x: Tensor, target: Tensor, dloss: Tensor, dx: Tensor) throws {
    try lossBackward("mse_bwd", x, target, dloss, dx) { 2 * ($0 - $1) }
  }

  public func l1_fwd(x: Tensor, target: Tensor, loss: Tensor) throws {
    try lossForward("l1_fwd", x, target, loss) { abs($0 - $1) }
  }

  public func l1_bwd(x: Tensor, target: Tensor, dloss: Tensor, dx: Tensor) throws {
    try lossBackward("l1_bwd", x, target, dloss, dx) { x, t in
      x > t ? 1 : (x < t ? -1 : 0)
    }
  }

  // MARK: Optimisers

  public func adam_step(
    param: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: Int, params h: AdamParams
  ) throws {
    let op = "adam_step"
    try ShapeCheck.allSame(op, [("param", param), ("grad", grad), ("m", m), ("v", v)])
    try ShapeCheck.expect(op, step >= 1, "step is 1-based, got \(step)")
    let (p, g, mb, vb) = (try buf(param, op), try buf(grad, op), try buf(m, op), try buf(v, op))
    let (b1, b2) = (h.beta1, h.beta2)
    let stepSize = h.lr / (1 - Foundation.pow(b1, Double(step)))
    let bc2Sqrt = (1 - Foundation.pow(b2, Double(step))).squareRoot()
    for i in 0..<param.count {
      let gi = g.values[i] + h.weightDecay * p.values[i]
      mb.values[i] += (1 - b1) * (gi - mb.values[i])
      vb.values[i] = b2 * vb.values[i] + (1 - b2) * gi * gi
      let denom = vb.values[i].squareRoot() / bc2Sqrt + h.eps
      p.values[i] -= stepSize * mb.values[i] / denom
    }
  }

  public func sgd_step(param: Tensor, grad: Tensor, momentumBuffer: Tensor?, params h: SGDParams) throws {
    let op = "sgd_step"
    try ShapeCheck.allSame(op, [("param", param), ("grad", grad)])
    let (p, g) = (try buf(param, op), try buf(grad, op))
    let mom = try momentumBuffer.map { b -> CPUBuffer in
      try ShapeCheck.allSame(op, [("param", param), ("momentumBuffer", b)])
      return try buf(b, op)
    }
    if h.momentum != 0 && mom == nil {
      throw KallimaError.invalidArgument(op: op, message: "momentum \(h.momentum) needs a momentum buffer")
    }
    for i in 0..<param.count {
      var d = g.values[i] + Double(h.weightDecay) * p.values[i]
      if let mom, h.momentum != 0 {
        mom.values[i] = Double(h.momentum) * mom.values[i] + d
        d = mom.values[i]
      }
      p.values[i] -= Double(h.lr) * d
    }
  }

  public func rmsprop_step(
    param: Tensor, grad: Tensor, squareAvg: Tensor, momentumBuffer: Tensor?, gradAvg: Tensor?,
    params h: RMSpropParams
  ) throws {
    let op = "rmsprop_step"
    try ShapeCheck.rmsprop(
      op, param: param, grad: grad, squareAvg: squareAvg, momentumBuffer: momentumBuffer, gradAvg: gradAvg, params: h)
    let (p, g, v) = (try buf(param, op), try buf(grad, op), try buf(squareAvg, op))
    let b = h.momentum > 0 ? try buf(momentumBuffer!, op) : nil
    let ga = h.centered ? try buf(gradAvg!, op) : nil
    for i in 0..<param.count {
      let gi = g.values[i] + h.weightDecay * p.values[i]
      v.values[i] = h.alpha * v.values[i] + (1 - h.alpha) * gi * gi
      var second = v.values[i]
      if let ga {
        ga.values[i] += (1 - h.alpha) * (gi - ga.values[i])
        second -= ga.values[i] * ga.values[i]
      }
      let denom = second.squareRoot() + h.eps
      if let b {
        b.values[i] = h.momentum * b.values[i] + gi / denom
        p.values[i] -= h.lr * b.values[i]
      } else {
        p.values[i] -= h.lr * gi / denom
      }
    }
  }

  public func ema_update(ema: Tensor, param: Tensor, beta: Double) throws {
    let op = "ema_update"
    try ShapeCheck.allSame(op, [("ema", ema), ("param", param)])
    let (e, p) = (try buf(ema, op), try buf(param, op))
    for i in 0..<ema.count {
      e.values[i] = beta == 0 ? p.values[i] : beta * e.values[i] + (1 - beta) * p.values[i]
    }
  }

  // MARK: Data

  public func gather_images(source: Tensor, y: Tensor, order: DataOrder, position: UInt64, flip: Bool) throws {
    let op = "gather_images"
    let src = try buf(source, op).values
    try gather(op, source: source, y: y, order: order, position: position, flip: flip, streamed: false) { src[$0] }
  }

  // MARK: Random

  public func random_uniform(_ y: Tensor, stream: RandomStream, low: Float, high: Float) throws {
    let out = try buf(y, "random_uniform")
    for i in 0..<y.count {
      out.values[i] = Double(Philox.uniform(stream: stream, index: i, low: low, high: high))
    }
  }

  public func random_normal(_ y: Tensor, stream: RandomStream, mean: Float, std: Float) throws {
    let out = try buf(y, "random_normal")
    for i in 0..<y.count {
      out.values[i] = Double(Philox.normal(stream: stream, index: i, mean: mean, std: std))
    }
  }

  public func dropout_mask(_ y: Tensor, stream: RandomStream, p: Float) throws {
    let op = "dropout_mask"
    try Philox.checkDropout(op, p: p)
    let out = try buf(y, op)
    for i in 0..<y.count {
      out.values[i] = Double(Philox.dropoutMask(stream: stream, index: i, p: p))
    }
  }
}
