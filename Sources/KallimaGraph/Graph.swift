import KallimaCore

/// One output of one node.
public struct Value: Hashable, CustomStringConvertible {
  public let node: Int
  public let output: Int
  public init(node: Int, output: Int) {
    self.node = node
    self.output = output
  }
  public var description: String { output == 0 ? "%\(node)" : "%\(node).\(output)" }
}

/// The ops a graph is made of: the op set's forward and backward entry points, so the
/// gradient of a graph is again a graph (and can be differentiated again).
public enum GraphOp: CustomStringConvertible {
  /// Bound to an external tensor fed per run (data, labels).
  case input
  /// Bound to an external persistent tensor (weights, optimiser and norm state).
  case parameter
  /// A tensor filled with one value once, when the plan is built.
  case constant(Float)
  /// N(mean, std²) from Philox: each run of a plan draws the next block of the stream.
  case randomNormal(seed: UInt64, mean: Float, std: Float)
  /// U[low, high) from Philox: each run of a plan draws the next block of the stream.
  case randomUniform(seed: UInt64, low: Float, high: Float)
  /// An inverted-dropout mask, u ≥ p ? 1/(1 − p) : 0 with u uniform from Philox (a Dropout
  /// layer multiplies by it): each run of a plan draws the next block of the stream.
  case dropoutMask(seed: UInt64, p: Float)
  case conv2d(Conv2dParams)
  case conv2dBwdData(Conv2dParams, input: Shape)
  case conv2dBwdWeight(Conv2dParams, weight: Shape)
  case convTranspose2d(ConvTranspose2dParams)
  case convTranspose2dBwdData(ConvTranspose2dParams, input: Shape)
  case convTranspose2dBwdWeight(ConvTranspose2dParams, weight: Shape)
  /// x, gamma, beta, runningMean, runningVar -> y, mean, invstd; updates the running stats.
  case batchnormTrain(momentum: Float, eps: Float)
  /// dy, x, gamma, mean, invstd -> dx, dgamma, dbeta.
  case batchnormBwd
  /// x, gamma, beta, runningMean, runningVar -> y, normalised with the running statistics.
  case batchnormEval(eps: Float)
  /// source [M, C, H, W] -> the next `batch` images of `order`: each run of a plan takes the
  /// following batch of the endless per-epoch-shuffled stream.
  case gatherImages(DataOrder, batch: Int, flip: Bool)
  /// x [N, D] -> y [N, D]: each row replaced by the nearest following row (cyclically) that
  /// differs from it, zeros when none does (`Backend.mismatch_rows`): the mismatched
  /// conditions of a matching-aware discriminator (GAN-CLS). Data: no gradient.
  case mismatchRows
  /// x [N, C, H, W] -> y [N, C, height, width]: each sample cut at a random window
  /// (`Backend.random_crop`), sample i of plan run r being stream item r·N + i. Data: no gradient.
  case randomCrop(seed: UInt64, height: Int, width: Int)
  /// pool [P, C, H, W], x [N, C, H, W] -> y [N, C, H, W]: CycleGAN's history of fakes
  /// (`Backend.image_pool`), updating the pool in place (an input or parameter); image i of
  /// plan run r is stream item r·N + i. What D is shown is data: no gradient to x or the pool.
  case imagePool(seed: UInt64)
  /// Max pooling; its gradient re-derives each window's route from x: inputs [x, dy].
  case maxPool2d(Pool2dParams)
  case maxPool2dBwd(Pool2dParams)
  /// Average pooling (countIncludePad as in PyTorch); the gradient needs only dy's shape
  /// and the input shape.
  case avgPool2d(Pool2dParams, countIncludePad: Bool)
  case avgPool2dBwd(Pool2dParams, countIncludePad: Bool, input: Shape)
  /// Bilinear resize (align_corners=False) to height × width, and its transpose.
  case upsampleBilinear(height: Int, width: Int)
  case upsampleBilinearBwd(input: Shape)
  case activation(Activation)
  /// x, y, dy -> dx.
  case activationBwd(Activation)
  case add
  case mul
  case scale(Float)
  /// x, bias[C] -> x + bias broadcast along axis 1.
  case addChannel
  case mulChannel
  /// x -> [C]: sum over every axis but 1.
  case channelSum
  /// g[C] -> shape: g broadcast along axis 1 (channel_sum's gradient).
  case channelBroadcast(Shape)
  case matmul(transposeA: Bool, transposeB: Bool, alpha: Float)
  /// x -> [1]: alpha·Σx.
  case reduceSum(alpha: Float)
  /// g[1] -> shape: alpha·g everywhere (reduce_sum's gradient).
  case scalarBroadcast(Shape, alpha: Float)
  /// A view with another shape (no copy).
  case reshape(Shape)
  /// x -> x, a view (no copy) that gradients do not flow through (torch's `.detach()`):
  /// spectral norm's power iteration, stop-gradient.
  case detach
  /// target, value -> (no output): copies value into target, an external tensor of the same
  /// shape, when the plan reaches this node; nodes after it (views of target included) see
  /// the new value. BEGAN's k_t, spectral norm's u, weight clipping.
  case assign
  /// torch.clamp(x, min, max) (NaN stays NaN; ±infinity for a missing bound), and its
  /// gradient: x, dy -> dy where min ≤ x ≤ max, else 0 (torch's rule: the bounds pass it).
  case clamp(min: Float, max: Float)
  case clampBwd(min: Float, max: Float)
  /// x, s -> x·s[0] and x / s[0], for a one-element s (a scalar that stays on the device).
  case mulScalar
  case divScalar
  /// Reflection padding (nn.ReflectionPad2d) and its gradient (dy -> dx, the input shape
  /// follows from dy's and the padding).
  case reflectionPad2d(Padding2d)
  case reflectionPad2dBwd(Padding2d)
  /// Nearest upsampling by an integer factor (nn.Upsample(scale_factor:, mode="nearest"))
  /// and its gradient (each input sums its scale×scale block).
  case upsampleNearest(scale: Int)
  case upsampleNearestBwd(scale: Int)
  case bceLogits
  /// Mean softmax cross-entropy of logits [N, C] against target rows [N, C] (one-hot labels
  /// or probabilities), its gradient (inputs logits, targets, dloss), and the row softmax.
  case softmaxCrossEntropy
  case softmaxCrossEntropyBwd
  case softmax
  case bceLogitsBwd
  case mse
  case mseBwd
  case l1
  case l1Bwd
  /// Concatenation along axis 1.
  case concat
  /// Channels start ..< start + count of axis 1.
  case slice(start: Int, count: Int)
  /// g -> shape: g placed at channels start ..< start + g.C, zeros elsewhere (slice's gradient).
  case channelPad(start: Int, Shape)
  /// param, grad, m, v -> (no output): one Adam step on the parameter, at the plan's
  /// optimiser step, its learning rate scaled by the plan's `learningRateScale`.
  case adamUpdate(AdamParams)
  /// param, grad [, momentumBuffer when momentum ≠ 0] -> (no output): one SGD step, its
  /// learning rate scaled by the plan's `learningRateScale`.
  case sgdUpdate(SGDParams)
  /// param, grad, squareAvg [, momentumBuffer when momentum > 0] [, gradAvg when centred]
  /// -> (no output): one RMSprop step, learning rate scaled by the plan's `learningRateScale`.
  case rmspropUpdate(RMSpropParams)
  /// ema, param -> (no output): ema = beta·ema + (1 − beta)·param in place (ema external);
  /// while the plan's optimiser step is ≤ startStep, beta is 0: a plain copy.
  case emaUpdate(beta: Double, startStep: Int)
  /// [A, B, …] -> [B, A, …]: the first two axes swapped (a copy); its own adjoint.
  case transpose01
  /// x -> y: the mean of x over the ranks of a data-parallel job (the plan's `collective`),
  /// staged through the host; a copy in a single process. Its gradient is the same mean of
  /// dy (every rank's loss depends on every rank's x).
  case allreduceMean
  /// acc, v -> (no output): acc += v on the device (statistics read every log interval).
  case accumulate
  /// dy, x, gamma, runningMean, runningVar -> dx, dgamma, dbeta: eval-mode batch norm's
  /// gradient (the running statistics are constants).
  case batchnormEvalBwd(eps: Float)
  /// x [N, C, H, W] -> y, mean [N·C], invstd [N·C]: each (n, c) plane normalised over H·W,
  /// y = (x − mean)·invstd with invstd = 1/√(biased variance + eps), no affine. Group and
  /// layer norm are this op on a reshaped view (`Graph.groupNorm`, `Graph.layerNorm`).
  case instanceNorm(eps: Float)
  /// dy, x, mean, invstd -> dx (instance norm's gradient, mean and invstd its statistics).
  case instanceNormBwd
  /// x, g -> y shaped like max_pool2d(x): g read at each window's argmax in x, the
  /// derivative of max_pool2d_bwd with respect to dy (double backprop).
  case maxPool2dGather(Pool2dParams)

  public var description: String {
    switch self {
    case .constant(let v): return "constant(\(v))"
    case .activation(let a): return "\(a)"
    case .activationBwd(let a): return "\(a)_bwd"
    default: return kind.rawValue
    }
  }

  /// Ops that read element i of each input only to write element i of the output, in every
  /// backend, so the output may take over the buffer of an input that dies at this node.
  var isElementwise: Bool {
    switch self {
    case .activation, .activationBwd, .add, .mul, .scale, .addChannel, .mulChannel, .clamp, .clampBwd: return true
    // s[0] is read by every element, but s can only donate its buffer when x has one
    // element too (the planner requires equal counts), and then it is read before written.
    case .mulScalar, .divScalar: return true
    default: return false
    }
  }

  /// Ops that change external state (parameters, optimiser state, running statistics,
  /// accumulators): they run even when no other node reads their outputs.
  var hasEffect: Bool {
    switch self {
    case .adamUpdate, .sgdUpdate, .rmspropUpdate, .emaUpdate, .assign, .accumulate, .batchnormTrain, .imagePool: return true
    default: return false
    }
  }

  /// Ops whose outputs alias an input's buffer.
  var isView: Bool {
    switch self {
    case .reshape, .detach: return true
    default: return false
    }
  }
  /// Ops bound to external storage.
  var isExternal: Bool {
    switch self {
    case .input, .parameter: return true
    default: return false
    }
  }
}

/// A node: an op, its inputs, and the static shapes of its outputs.
public struct Node {
  public let op: GraphOp
  public let inputs: [Value]
  public let outputShapes: [Shape]
  public let name: String
}

/// A dataflow graph with static shapes, built in topological order (a node can only use
/// values that exist), so node order is a valid execution order; effects (optimiser
/// updates, running statistics) happen in that order too.
public final class Graph {
  public private(set) var nodes: [Node] = []

  public init() {}

  public func shape(_ v: Value) -> Shape { nodes[v.node].outputShapes[v.output] }

  /// Nodes whose work matters: those with effects, those producing `keep`, and everything
  /// they read, transitively. Plans skip the rest (e.g. gradients nobody consumes).
  public func liveNodes(keep: Set<Value>) -> [Bool] {
    var live = [Bool](repeating: false, count: nodes.count)
    var stack = nodes.indices.filter { nodes[$0].op.hasEffect } + keep.map(\.node)
    while let i = stack.popLast() {
      if live[i] { continue }
      live[i] = true
      stack += nodes[i].inputs.map(\.node)
    }
    return live
  }

  /// Adds a node after inferring and checking its output shapes; errors name the node.
  @discardableResult
  public func add(_ op: GraphOp, _ inputs: [Value], name: String? = nil) throws -> [Value] {
    let label = name ?? "\(op)"
    for v in inputs where v.node >= nodes.count || v.output >= nodes[v.node].outputShapes.count {
      throw KallimaError.invalidArgument(op: "graph node \(nodes.count) '\(label)'", message: "unknown input \(v)")
    }
    switch op {
    case .assign, .emaUpdate, .imagePool:
      // They write their first input in place: it must be state that outlives the run.
      if let target = inputs.first, !isExternalStorage(target) {
        throw KallimaError.invalidArgument(
          op: "graph node \(nodes.count) '\(label)' (\(op))",
          message: "target \(target) ('\(nodes[target.node].name)') must be an input or parameter (or a view of one)")
      }
    default: break
    }
    let shapes: [Shape]
    do {
      shapes = try ShapeInference.outputShapes(op, inputs.map(shape))
    } catch let KallimaError.shapeMismatch(_, message) {
      throw KallimaError.shapeMismatch(
        op: "graph node \(nodes.count) '\(label)' (\(op)), inputs \(inputs.map { shape($0).description }.joined(separator: ", "))",
        message: message)
    }
    nodes.append(Node(op: op, inputs: inputs, outputShapes: shapes, name: label))
    return shapes.indices.map { Value(node: nodes.count - 1, output: $0) }
  }

  /// Adds a single-output node and returns its value.
  public func value(_ op: GraphOp, _ inputs: [Value], name: String? = nil) throws -> Value {
    let out = try add(op, inputs, name: name)
    guard out.count == 1 else {
      throw KallimaError.invalidArgument(op: "\(op)", message: "has \(out.count) outputs; use add")
    }
    return out[0]
  }

  /// Whether v's storage is an external tensor (an input or parameter, through views).
  func isExternalStorage(_ v: Value) -> Bool {
    var n = nodes[v.node]
    while n.op.isView { n = nodes[n.inputs[0].node] }
    return n.op.isExternal
  }

  // MARK: Leaves

  public func input(_ shape: Shape, name: String) -> Value { leaf(.input, shape, name) }
  public func parameter(_ shape: Shape, name: String) -> Value { leaf(.parameter, shape, name) }
  public func constant(_ value: Float, _ shape: Shape, name: String? = nil) -> Value {
    leaf(.constant(value), shape, name ?? "constant(\(value))")
  }

  func leaf(_ op: GraphOp, _ shape: Shape, _ name: String) -> Value {
    nodes.append(Node(op: op, inputs: [], outputShapes: [shape], name: name))
    return Value(node: nodes.count - 1, output: 0)
  }

  /// Adds a random-normal leaf (z for the generator).
  public func randomNormal(_ shape: Shape, seed: UInt64, mean: Float = 0, std: Float = 1, name: String) -> Value {
    leaf(.randomNormal(seed: seed, mean: mean, std: std), shape, name)
  }

  /// Adds a random-uniform leaf, U[low, high) (each plan run draws the next block).
  public func randomUniform(_ shape: Shape, seed: UInt64, low: Float = 0, high: Float = 1, name: String) -> Value {
    leaf(.randomUniform(seed: seed, low: low, high: high), shape, name)
  }

  /// Adds an inverted-dropout mask leaf: each element 1/(1 − p) with probability 1 − p,
  /// else 0 (each plan run draws the next block).
  public func dropoutMask(_ shape: Shape, seed: UInt64, p: Float, name: String) throws -> Value {
    try Philox.checkDropout("graph node \(nodes.count) '\(name)' (dropout_mask)", p: p)
    return leaf(.dropoutMask(seed: seed, p: p), shape, name)
  }
}
