import KallimaCore

/// Output shapes of each graph op from its input shapes, validated with the same checks
/// the backends apply at run time.
enum ShapeInference {
  static func fail(_ op: GraphOp, _ message: String) -> KallimaError {
    .shapeMismatch(op: "\(op)", message: message)
  }

  static func arity(_ op: GraphOp, _ inputs: [Shape], _ counts: ClosedRange<Int>) throws {
    if !counts.contains(inputs.count) {
      throw fail(op, "takes \(counts.lowerBound == counts.upperBound ? "\(counts.lowerBound)" : "\(counts)") inputs, got \(inputs.count)")
    }
  }

  static func outputShapes(_ op: GraphOp, _ s: [Shape]) throws -> [Shape] {
    let name = "\(op)"
    switch op {
    case .input, .parameter, .constant, .randomNormal, .randomUniform, .dropoutMask:
      throw fail(op, "is a leaf; use Graph.input/parameter/constant/randomNormal/randomUniform/dropoutMask")
    case .conv2d(let p):
      try arity(op, s, 2...3)
      let (n, _, h, w) = try s[0].nchw(name, "x")
      let (k, _, kh, kw) = try s[1].nchw(name, "weight")
      let y: Shape = [n, k, (h + 2 * p.padding.h - kh) / p.stride.h + 1, (w + 2 * p.padding.w - kw) / p.stride.w + 1]
      _ = try ShapeCheck.conv2d(name, x: s[0], weight: s[1], y: y, bias: s.count == 3 ? s[2] : nil, params: p)
      return [y]
    case .conv2dBwdData(let p, let input):
      try arity(op, s, 2...2)
      _ = try ShapeCheck.conv2d(name, x: input, weight: s[1], y: s[0], bias: nil, params: p)
      return [input]
    case .conv2dBwdWeight(let p, let weight):
      try arity(op, s, 2...2)
      _ = try ShapeCheck.conv2d(name, x: s[0], weight: weight, y: s[1], bias: nil, params: p)
      return [weight]
    case .convTranspose2d(let p):
      try arity(op, s, 2...3)
      let (n, _, h, w) = try s[0].nchw(name, "x")
      let (_, k, kh, kw) = try s[1].nchw(name, "weight")
      let y: Shape = [
        n, k, (h - 1) * p.stride.h - 2 * p.padding.h + kh + p.outputPadding.h,
        (w - 1) * p.stride.w - 2 * p.padding.w + kw + p.outputPadding.w,
      ]
      _ = try ShapeCheck.convTranspose2d(name, x: s[0], weight: s[1], y: y, bias: s.count == 3 ? s[2] : nil, params: p)
      return [y]
    case .convTranspose2dBwdData(let p, let input):
      try arity(op, s, 2...2)
      _ = try ShapeCheck.convTranspose2d(name, x: input, weight: s[1], y: s[0], bias: nil, params: p)
      return [input]
    case .convTranspose2dBwdWeight(let p, let weight):
      try arity(op, s, 2...2)
      _ = try ShapeCheck.convTranspose2d(name, x: s[0], weight: weight, y: s[1], bias: nil, params: p)
      return [weight]
    case .maxPool2d(let p), .avgPool2d(let p, _):
      try arity(op, s, 1...1)
      _ = try s[0].nchw(name, "x")
      let y = p.outputShape(s[0])
      _ = try ShapeCheck.pool2d(name, x: s[0], y: y, params: p)
      return [y]
    case .maxPool2dBwd(let p):
      try arity(op, s, 2...2)
      _ = try ShapeCheck.pool2d(name, x: s[0], y: s[1], params: p)
      return [s[0]]
    case .avgPool2dBwd(let p, _, let input):
      try arity(op, s, 1...1)
      _ = try ShapeCheck.pool2d(name, x: input, y: s[0], params: p)
      return [input]
    case .upsampleBilinear(let height, let width):
      try arity(op, s, 1...1)
      let (n, c, _, _) = try s[0].nchw(name, "x")
      let y: Shape = [n, c, height, width]
      _ = try ShapeCheck.resize2d(name, x: s[0], y: y)
      return [y]
    case .upsampleBilinearBwd(let input):
      try arity(op, s, 1...1)
      _ = try ShapeCheck.resize2d(name, x: input, y: s[0])
      return [input]
    case .batchnormTrain:
      try arity(op, s, 5...5)
      guard s[0].rank >= 2 else { throw fail(op, "x must be [N, C, ...], got \(s[0])") }
      let c: Shape = [s[0][1]]
      for (i, role) in [(1, "gamma"), (2, "beta"), (3, "runningMean"), (4, "runningVar")] where s[i] != c {
        throw fail(op, "\(role) is \(s[i]), expected \(c) for x \(s[0])")
      }
      return [s[0], c, c]
    case .batchnormEval:
      try arity(op, s, 5...5)
      guard s[0].rank >= 2 else { throw fail(op, "x must be [N, C, ...], got \(s[0])") }
      let c: Shape = [s[0][1]]
      for (i, role) in [(1, "gamma"), (2, "beta"), (3, "runningMean"), (4, "runningVar")] where s[i] != c {
        throw fail(op, "\(role) is \(s[i]), expected \(c) for x \(s[0])")
      }
      return [s[0]]
    case .gatherImages(let order, let batch, _):
      try arity(op, s, 1...1)
      let (m, c, h, w) = try s[0].nchw(name, "source")
      guard order.count == m else { throw fail(op, "order covers \(order.count) images, source has \(m)") }
      return [[batch, c, h, w]]
    case .mismatchRows:
      try arity(op, s, 1...1)
      guard s[0].rank == 2 else {
        throw fail(op, "x must be [N, D], one condition per row, got \(s[0]); reshape the conditions to [N, D] first")
      }
      return [s[0]]
    case .randomCrop(_, let height, let width):
      try arity(op, s, 1...1)
      let (n, c, h, w) = try s[0].nchw(name, "x")
      guard height > 0, width > 0, height <= h, width <= w else {
        throw fail(op, "the crop \(height)x\(width) must fit the images \(h)x\(w); load the images at least at the crop size")
      }
      return [[n, c, height, width]]
    case .imagePool:
      try arity(op, s, 2...2)
      let (p, c, h, w) = try s[0].nchw(name, "pool")
      let (_, xc, xh, xw) = try s[1].nchw(name, "x")
      guard p >= 1, (c, h, w) == (xc, xh, xw) else {
        throw fail(op, "the pool \(s[0]) must hold at least one image shaped like the new ones \(s[1])")
      }
      return [s[1]]
    case .batchnormBwd:
      try arity(op, s, 5...5)
      guard s[0] == s[1] else { throw fail(op, "dy \(s[0]) and x \(s[1]) differ") }
      return [s[1], s[2], s[2]]
    case .activation:
      try arity(op, s, 1...1)
      return [s[0]]
    case .activationBwd:
      try arity(op, s, 3...3)
      guard s[0] == s[1] && s[1] == s[2] else { throw fail(op, "x \(s[0]), y \(s[1]), dy \(s[2]) must agree") }
      return [s[0]]
    case .add, .mul:
      try arity(op, s, 2...2)
      guard s[0] == s[1] else { throw fail(op, "operands \(s[0]) and \(s[1]) differ") }
      return [s[0]]
    case .scale:
      try arity(op, s, 1...1)
      return [s[0]]
    case .addChannel, .mulChannel:
      try arity(op, s, 2...2)
      _ = try ShapeCheck.channelVector(name, x: s[0], vector: s[1], role: "vector")
      return [s[0]]
    case .channelSum:
      try arity(op, s, 1...1)
      guard s[0].rank >= 2 else { throw fail(op, "x must have a channel axis, got \(s[0])") }
      return [[s[0][1]]]
    case .channelBroadcast(let target):
      try arity(op, s, 1...1)
      _ = try ShapeCheck.channelVector(name, x: target, vector: s[0], role: "g")
      return [target]
    case .matmul(let ta, let tb, _):
      try arity(op, s, 2...2)
      guard s[0].rank == 2, s[1].rank == 2 else { throw fail(op, "needs 2-D operands, got \(s[0]) and \(s[1])") }
      let m = ta ? s[0][1] : s[0][0]
      let n = tb ? s[1][0] : s[1][1]
      _ = try ShapeCheck.matmul(name, a: s[0], transposeA: ta, b: s[1], transposeB: tb, c: [m, n])
      return [[m, n]]
    case .reduceSum:
      try arity(op, s, 1...1)
      return [[1]]
    case .scalarBroadcast(let target, _):
      try arity(op, s, 1...1)
      guard s[0].count == 1 else { throw fail(op, "g must hold one element, got \(s[0])") }
      return [target]
    case .reshape(let target):
      try arity(op, s, 1...1)
      guard target.count == s[0].count else { throw fail(op, "cannot view \(s[0]) as \(target)") }
      return [target]
    case .bceLogits, .mse, .l1:
      try arity(op, s, 2...2)
      guard s[0] == s[1] else { throw fail(op, "input \(s[0]) and target \(s[1]) differ") }
      return [[1]]
    case .softmaxCrossEntropy:
      try arity(op, s, 2...2)
      guard s[0].rank == 2, s[0] == s[1] else { throw fail(op, "logits \(s[0]) and targets \(s[1]) must be the same [N, C]") }
      return [[1]]
    case .softmaxCrossEntropyBwd:
      try arity(op, s, 3...3)
      guard s[0].rank == 2, s[0] == s[1], s[2].count == 1 else {
        throw fail(op, "logits \(s[0]), targets \(s[1]), dloss \(s[2])")
      }
      return [s[0]]
    case .softmax:
      try arity(op, s, 1...1)
      guard s[0].rank == 2 else { throw fail(op, "logits must be [N, C], got \(s[0])") }
      return [s[0]]
    case .bceLogitsBwd, .mseBwd, .l1Bwd:
      try arity(op, s, 3...3)
      guard s[0] == s[1], s[2].count == 1 else { throw fail(op, "input \(s[0]), target \(s[1]), dloss \(s[2])") }
      return [s[0]]
    case .concat:
      guard let first = s.first, first.rank >= 2 else { throw fail(op, "needs inputs [N, C, ...]") }
      var out = first
      out.dims[1] = 0
      for t in s {
        var expected = first
        expected.dims[1] = t.rank >= 2 ? t[1] : -1
        guard t == expected else { throw fail(op, "input \(t) does not match \(first) outside axis 1") }
        out.dims[1] += t[1]
      }
      return [out]
    case .slice(let start, let count):
      try arity(op, s, 1...1)
      guard s[0].rank >= 2, start >= 0, count > 0, start + count <= s[0][1] else {
        throw fail(op, "channels \(start)..<\(start + count) out of range for \(s[0])")
      }
      var out = s[0]
      out.dims[1] = count
      return [out]
    case .channelPad(let start, let target):
      try arity(op, s, 1...1)
      _ = try ShapeCheck.copyChannels(name, x: s[0], xStart: 0, y: target, yStart: start, count: s[0].rank > 1 ? s[0][1] : 0)
      return [target]
    case .detach, .clamp:
      try arity(op, s, 1...1)
      return [s[0]]
    case .clampBwd:
      try arity(op, s, 2...2)
      guard s[0] == s[1] else { throw fail(op, "x \(s[0]) and dy \(s[1]) differ") }
      return [s[0]]
    case .transpose01:
      try arity(op, s, 1...1)
      guard s[0].rank >= 2 else { throw fail(op, "x must have at least two axes, got \(s[0])") }
      return [Shape([s[0][1], s[0][0]] + Array(s[0].dims.dropFirst(2)))]
    case .allreduceMean:
      try arity(op, s, 1...1)
      return [s[0]]
    case .mulScalar, .divScalar:
      try arity(op, s, 2...2)
      guard s[1].count == 1 else { throw fail(op, "s must hold one element, got \(s[1])") }
      return [s[0]]
    case .reflectionPad2d(let p):
      try arity(op, s, 1...1)
      _ = try s[0].nchw(name, "x")
      let y = p.outputShape(s[0])
      _ = try ShapeCheck.reflectionPad2d(name, x: s[0], y: y, padding: p)
      return [y]
    case .reflectionPad2dBwd(let p):
      try arity(op, s, 1...1)
      let (n, c, oh, ow) = try s[0].nchw(name, "dy")
      let x: Shape = [n, c, oh - p.top - p.bottom, ow - p.left - p.right]
      guard x[2] > 0 && x[3] > 0 else { throw fail(op, "dy \(s[0]) is smaller than \(p)") }
      _ = try ShapeCheck.reflectionPad2d(name, x: x, y: s[0], padding: p)
      return [x]
    case .upsampleNearest(let k):
      try arity(op, s, 1...1)
      let (n, c, h, w) = try s[0].nchw(name, "x")
      let y: Shape = [n, c, h * k, w * k]
      _ = try ShapeCheck.upsampleNearest2d(name, x: s[0], y: y, scale: k)
      return [y]
    case .upsampleNearestBwd(let k):
      try arity(op, s, 1...1)
      let (n, c, oh, ow) = try s[0].nchw(name, "dy")
      guard k >= 1, oh % k == 0, ow % k == 0 else { throw fail(op, "dy \(s[0]) is not a multiple of scale \(k)") }
      let x: Shape = [n, c, oh / k, ow / k]
      _ = try ShapeCheck.upsampleNearest2d(name, x: x, y: s[0], scale: k)
      return [x]
    case .assign:
      try arity(op, s, 2...2)
      guard s[0] == s[1] else { throw fail(op, "target \(s[0]) and value \(s[1]) differ") }
      return []
    case .emaUpdate:
      try arity(op, s, 2...2)
      guard s[0] == s[1] else { throw fail(op, "ema \(s[0]) and param \(s[1]) differ") }
      return []
    case .sgdUpdate(let h):
      let count = h.momentum != 0 ? 3 : 2
      try arity(op, s, count...count)
      guard s.allSatisfy({ $0 == s[0] }) else { throw fail(op, "param, grad\(count == 3 ? ", momentumBuffer" : "") must agree: \(s)") }
      return []
    case .rmspropUpdate(let h):
      let count = 3 + (h.momentum > 0 ? 1 : 0) + (h.centered ? 1 : 0)
      try arity(op, s, count...count)
      guard s.allSatisfy({ $0 == s[0] }) else { throw fail(op, "param, grad and state must agree: \(s)") }
      return []
    case .accumulate:
      try arity(op, s, 2...2)
      guard s[0] == s[1] else { throw fail(op, "accumulator \(s[0]) and value \(s[1]) differ") }
      return []
    case .adamUpdate:
      try arity(op, s, 4...4)
      guard s.allSatisfy({ $0 == s[0] }) else { throw fail(op, "param, grad, m, v must agree: \(s)") }
      return []
    case .batchnormEvalBwd:
      try arity(op, s, 5...5)
      guard s[0] == s[1], s[1].rank >= 2 else { throw fail(op, "dy \(s[0]) and x \(s[1]) must be the same [N, C, ...]") }
      let c: Shape = [s[1][1]]
      for (i, role) in [(2, "gamma"), (3, "runningMean"), (4, "runningVar")] where s[i] != c {
        throw fail(op, "\(role) is \(s[i]), expected \(c) for x \(s[1])")
      }
      return [s[1], c, c]
    case .instanceNorm:
      try arity(op, s, 1...1)
      let (n, c, h, w) = try s[0].nchw(name, "x")
      guard h * w > 1 else { throw fail(op, "needs more than one pixel per instance, got x \(s[0])") }
      return [s[0], [n * c], [n * c]]
    case .instanceNormBwd:
      try arity(op, s, 4...4)
      let (n, c, _, _) = try s[1].nchw(name, "x")
      guard s[0] == s[1], s[2] == [n * c], s[3] == [n * c] else {
        throw fail(op, "dy \(s[0]), x \(s[1]), mean \(s[2]), invstd \(s[3]): expected dy = x and [N·C] statistics")
      }
      return [s[1]]
    case .maxPool2dGather(let p):
      try arity(op, s, 2...2)
      guard s[0] == s[1] else { throw fail(op, "x \(s[0]) and g \(s[1]) differ") }
      _ = try s[0].nchw(name, "x")
      let y = p.outputShape(s[0])
      _ = try ShapeCheck.pool2d(name, x: s[0], y: y, params: p)
      return [y]
    }
  }
}
