import KallimaCore

/// Reverse-mode differentiation that appends the gradient computation to the graph as
/// ordinary nodes, so a gradient can itself be differentiated (WGAN-GP, DRAGAN).
extension Graph {
  /// Values holding d(output)/d(target) for each target (nil where the output does not
  /// depend on it). `seed` is d(loss)/d(output); by default 1 for a one-element output.
  public func gradients(of output: Value, wrt targets: [Value], seed: Value? = nil) throws -> [Value?] {
    let seedValue: Value
    if let seed {
      seedValue = seed
    } else {
      guard shape(output).count == 1 else {
        throw KallimaError.invalidArgument(
          op: "gradients", message: "output \(output) is \(shape(output)); give a seed for non-scalar outputs")
      }
      seedValue = constant(1, shape(output), name: "d\(nodes[output.node].name)")
    }
    // Nodes on a path from some target to the output.
    let last = output.node
    var dependsOnTarget = [Bool](repeating: false, count: last + 1)
    let targetNodes = Set(targets.map(\.node))
    for i in 0...last {
      dependsOnTarget[i] = targetNodes.contains(i) || nodes[i].inputs.contains { $0.node <= last && dependsOnTarget[$0.node] }
    }
    var grads: [Value: Value] = [output: seedValue]
    func accumulate(_ v: Value, _ g: Value) throws {
      if let existing = grads[v] {
        grads[v] = try value(.add, [existing, g], name: "grad accumulate")
      } else {
        grads[v] = g
      }
    }
    for i in stride(from: last, through: 0, by: -1) where dependsOnTarget[i] {
      let node = nodes[i]
      let upstream = node.outputShapes.indices.map { grads[Value(node: i, output: $0)] }
      guard upstream.contains(where: { $0 != nil }), !node.inputs.isEmpty else { continue }
      let inputGrads = try vjp(node, index: i, upstream)
      for (input, g) in zip(node.inputs, inputGrads) {
        if let g, input.node <= last, dependsOnTarget[input.node] { try accumulate(input, g) }
      }
    }
    return targets.map { grads[$0] }
  }

  /// The vector-Jacobian product of one node: gradients for each input from gradients of
  /// its outputs, as new nodes.
  func vjp(_ node: Node, index: Int, _ g: [Value?]) throws -> [Value?] {
    let x = node.inputs
    let name = "d(\(node.name))"
    func op(_ o: GraphOp, _ ins: [Value]) throws -> Value { try value(o, ins, name: name) }
    func unsupported(_ what: String) -> KallimaError {
      .invalidArgument(op: "gradients", message: "no gradient for \(what) of node \(index) '\(node.name)' (\(node.op)) yet")
    }
    if node.op.isExternal { return [] }
    if let grads = try normVJP(node, index: index, g, name: name) { return grads }
    guard let gy = g[0] else { throw unsupported("outputs other than the first") }
    if g.dropFirst().contains(where: { $0 != nil }) { throw unsupported("its secondary outputs") }
    switch node.op {
    case .input, .parameter, .constant, .randomNormal, .randomUniform, .dropoutMask, .adamUpdate, .sgdUpdate,
      .rmspropUpdate, .emaUpdate, .assign, .accumulate:
      return []
    case .detach:
      return [nil]
    case .clamp(let lo, let hi):
      return [try op(.clampBwd(min: lo, max: hi), [x[0], gy])]
    case .clampBwd(let lo, let hi):
      // Linear in dy; the mask is piecewise constant in x (zero derivative almost everywhere).
      return [nil, try op(.clampBwd(min: lo, max: hi), [x[0], gy])]
    case .transpose01: return [try op(.transpose01, [gy])]
    case .allreduceMean: return [try op(.allreduceMean, [gy])]
    case .mulScalar:
      // d/dx = gy·s; d/ds = Σ gy·x.
      let ds = try op(.reduceSum(alpha: 1), [try op(.mul, [gy, x[0]])])
      return [try op(.mulScalar, [gy, x[1]]), shape(x[1]) == [1] ? ds : try op(.reshape(shape(x[1])), [ds])]
    case .divScalar:
      // d/dx = gy/s; d/ds = −Σ(gy·x)/s².
      let t = try op(.reduceSum(alpha: -1), [try op(.mul, [gy, x[0]])])
      let ds = try op(.divScalar, [try op(.divScalar, [t, x[1]]), x[1]])
      return [try op(.divScalar, [gy, x[1]]), shape(x[1]) == [1] ? ds : try op(.reshape(shape(x[1])), [ds])]
    case .reflectionPad2d(let p):
      return [try op(.reflectionPad2dBwd(p), [gy])]
    case .reflectionPad2dBwd(let p):
      return [try op(.reflectionPad2d(p), [gy])]  // linear: its adjoint is the forward
    case .upsampleNearest(let k):
      return [try op(.upsampleNearestBwd(scale: k), [gy])]
    case .upsampleNearestBwd(let k):
      return [try op(.upsampleNearest(scale: k), [gy])]
    case .concat:
      var start = 0
      return try x.map { v in
        let c = shape(v)[1]
        defer { start += c }
        return try op(.slice(start: start, count: c), [gy])
      }
    case .slice(let start, _): return [try op(.channelPad(start: start, shape(x[0])), [gy])]
    case .channelPad(let start, _): return [try op(.slice(start: start, count: shape(x[0])[1]), [gy])]
    case .conv2d(let p):
      let dx = try op(.conv2dBwdData(p, input: shape(x[0])), [gy, x[1]])
      let dw = try op(.conv2dBwdWeight(p, weight: shape(x[1])), [x[0], gy])
      return [dx, dw] + (x.count == 3 ? [try op(.channelSum, [gy])] : [])
    case .conv2dBwdData(let p, _):
      return [try op(.conv2d(p), [gy, x[1]]), try op(.conv2dBwdWeight(p, weight: shape(x[1])), [gy, x[0]])]
    case .conv2dBwdWeight(let p, _):
      return [try op(.conv2dBwdData(p, input: shape(x[0])), [x[1], gy]), try op(.conv2d(p), [x[0], gy])]
    case .convTranspose2d(let p):
      let dx = try op(.convTranspose2dBwdData(p, input: shape(x[0])), [gy, x[1]])
      let dw = try op(.convTranspose2dBwdWeight(p, weight: shape(x[1])), [x[0], gy])
      return [dx, dw] + (x.count == 3 ? [try op(.channelSum, [gy])] : [])
    case .convTranspose2dBwdData(let p, _):
      return [
        try op(.convTranspose2d(p), [gy, x[1]]), try op(.convTranspose2dBwdWeight(p, weight: shape(x[1])), [gy, x[0]]),
      ]
    case .convTranspose2dBwdWeight(let p, _):
      return [try op(.convTranspose2dBwdData(p, input: shape(x[0])), [x[1], gy]), try op(.convTranspose2d(p), [x[0], gy])]
    case .batchnormTrain, .batchnormBwd, .batchnormEval, .batchnormEvalBwd, .instanceNorm, .instanceNormBwd:
      preconditionFailure("normVJP handles \(node.op)")
    case .softmax, .bceLogitsBwd, .mseBwd, .l1Bwd, .softmaxCrossEntropyBwd:
      return try lossVJP(node, index: index, gy, name: name)!
    case .gatherImages, .mismatchRows, .randomCrop:
      // Data, not trained values: the dataset, and the conditions a batch is paired with.
      return [nil]
    case .imagePool:
      // D is shown past fakes as data (the reference detaches them): G learns nothing here.
      return [nil, nil]
    case .maxPool2d(let p):
      return [try op(.maxPool2dBwd(p), [x[0], gy])]
    case .maxPool2dBwd(let p):
      // Linear in dy with the route fixed by x (piecewise constant in x: zero derivative
      // away from ties); its transpose reads the upstream gradient at each window's argmax.
      return [nil, try op(.maxPool2dGather(p), [x[0], gy])]
    case .maxPool2dGather(let p):
      return [nil, try op(.maxPool2dBwd(p), [x[0], gy])]
    case .avgPool2d(let p, let include):
      return [try op(.avgPool2dBwd(p, countIncludePad: include, input: shape(x[0])), [gy])]
    case .avgPool2dBwd(let p, let include, _):
      return [try op(.avgPool2d(p, countIncludePad: include), [gy])]  // linear: its adjoint is the forward
    case .upsampleBilinear:
      return [try op(.upsampleBilinearBwd(input: shape(x[0])), [gy])]
    case .upsampleBilinearBwd:
      let out = shape(x[0])
      return [try op(.upsampleBilinear(height: out[2], width: out[3]), [gy])]
    case .activation(let a):
      // Pass only what the backward reads (twice), so the other stays free to be reused.
      let y = Value(node: index, output: 0)
      let read = a.backwardReadsOutput ? y : x[0]
      return [try op(.activationBwd(a), [read, read, gy])]
    case .activationBwd(let a):
      // dx = dy·f'(·): linear in dy; f' depends on x (square) or y (tanh, sigmoid, sqrt).
      let (xv, yv, dy) = (x[0], x[1], x[2])
      let dDy = try op(.activationBwd(a), [xv, yv, gy])
      let t = try op(.mul, [dy, gy])
      switch a {
      case .relu, .leakyRelu: return [nil, nil, dDy]
      case .square: return [try op(.scale(2), [t]), nil, dDy]
      case .tanh: return [nil, try op(.scale(-2), [try op(.mul, [t, yv])]), dDy]
      case .sigmoid:
        return [nil, try op(.add, [t, try op(.scale(-2), [try op(.mul, [t, yv])])]), dDy]
      case .sqrt:
        // d/dy (0.5/y) = −0.5/y² = −2·(0.5/y)².
        let ones = constant(1, shape(yv))
        let h = try op(.activationBwd(.sqrt), [xv, yv, ones])
        return [nil, try op(.scale(-2), [try op(.mul, [try op(.mul, [h, h]), t])]), dDy]
      case .rsqrt:
        // d/dy (−½·y³·dy) = −1.5·y²·dy.
        return [nil, try op(.scale(-1.5), [try op(.mul, [try op(.mul, [yv, yv]), t])]), dDy]
      case .exp:
        // d/dy (y·dy) = dy.
        return [nil, t, dDy]
      }
    case .add: return [gy, gy]
    case .mul: return [try op(.mul, [gy, x[1]]), try op(.mul, [gy, x[0]])]
    case .scale(let a): return [try op(.scale(a), [gy])]
    case .addChannel: return [gy, try op(.channelSum, [gy])]
    case .mulChannel:
      return [try op(.mulChannel, [gy, x[1]]), try op(.channelSum, [try op(.mul, [gy, x[0]])])]
    case .channelSum: return [try op(.channelBroadcast(shape(x[0])), [gy])]
    case .channelBroadcast: return [try op(.channelSum, [gy])]
    case .matmul(let ta, let tb, let alpha):
      let (a, b) = (x[0], x[1])
      let da =
        ta
        ? try op(.matmul(transposeA: tb, transposeB: true, alpha: alpha), [b, gy])
        : try op(.matmul(transposeA: false, transposeB: !tb, alpha: alpha), [gy, b])
      let db =
        tb
        ? try op(.matmul(transposeA: true, transposeB: ta, alpha: alpha), [gy, a])
        : try op(.matmul(transposeA: !ta, transposeB: false, alpha: alpha), [a, gy])
      return [da, db]
    case .reduceSum(let alpha): return [try op(.scalarBroadcast(shape(x[0]), alpha: alpha), [gy])]
    case .scalarBroadcast(_, let alpha):
      let s = try op(.reduceSum(alpha: alpha), [gy])
      return [shape(x[0]) == [1] ? s : try op(.reshape(shape(x[0])), [s])]
    case .reshape: return [try op(.reshape(shape(x[0])), [gy])]
    case .bceLogits:
      // ∂/∂x = gy·(σ(x) − t)/N; ∂/∂t = −gy·x/N (soft targets can be trained values too).
      let dt = try op(.mul, [x[0], try op(.scalarBroadcast(shape(x[0]), alpha: -1 / Float(shape(x[0]).count)), [gy])])
      return [try op(.bceLogitsBwd, [x[0], x[1], gy]), dt]
    // ∂/∂t = −gy·log_softmax(x)/N has no expression in the op set (no log): targets get none.
    case .softmaxCrossEntropy: return [try op(.softmaxCrossEntropyBwd, [x[0], x[1], gy]), nil]
    case .mse:
      let dx = try op(.mseBwd, [x[0], x[1], gy])
      return [dx, try op(.scale(-1), [dx])]
    case .l1:
      let dx = try op(.l1Bwd, [x[0], x[1], gy])
      return [dx, try op(.scale(-1), [dx])]
    }
  }
}
