import KallimaCore
import KallimaGraph
import KallimaNN

/// One network's optimiser, with PyTorch's semantics and state names (so checkpoints carry
/// `NAME.exp_avg`, `NAME.square_avg`, `NAME.momentum_buffer` as torch.optim's state does).
public enum Optimizer: Sendable, Equatable {
  case adam(AdamParams)
  case rmsprop(RMSpropParams)
  case sgd(SGDParams)

  public var name: String {
    switch self {
    case .adam: return "adam"
    case .rmsprop: return "rmsprop"
    case .sgd: return "sgd"
    }
  }

  public var learningRate: Double {
    switch self {
    case .adam(let p): return p.lr
    case .rmsprop(let p): return p.lr
    case .sgd(let p): return Double(p.lr)
    }
  }

  /// The suffixes of the optimisers' state tensors in a store ("NAME.exp_avg", …).
  public static let stateSuffixes = [".exp_avg", ".exp_avg_sq", ".square_avg", ".momentum_buffer", ".grad_avg"]

  /// Whether a store entry is an optimiser's state rather than a parameter or buffer.
  public static func isState(_ name: String) -> Bool { stateSuffixes.contains(where: name.hasSuffix) }

  /// Adds one update node per trainable parameter of `store` that has a gradient; the
  /// optimiser state lives in the store beside the parameter.
  public func addUpdates(_ b: GraphBinder, _ store: ParameterStore, grads: [String: Value]) throws {
    let g = b.graph
    let params = b.parameters(of: store)
    func state(_ name: String, _ suffix: String, _ shape: Shape) throws -> Value {
      try b.parameter(store, name + "." + suffix, shape, .constant(0), trainable: false)
    }
    for entry in store.trainable {
      guard let grad = grads[entry.name], let p = params[entry.name] else { continue }
      let shape = g.shape(p)
      switch self {
      case .adam(let h):
        let m = try state(entry.name, "exp_avg", shape)
        let v = try state(entry.name, "exp_avg_sq", shape)
        try g.add(.adamUpdate(h), [p, grad, m, v], name: "adam \(entry.name)")
      case .rmsprop(let h):
        var inputs = [p, grad, try state(entry.name, "square_avg", shape)]
        if h.momentum > 0 { inputs.append(try state(entry.name, "momentum_buffer", shape)) }
        if h.centered { inputs.append(try state(entry.name, "grad_avg", shape)) }
        try g.add(.rmspropUpdate(h), inputs, name: "rmsprop \(entry.name)")
      case .sgd(let h):
        var inputs = [p, grad]
        if h.momentum != 0 { inputs.append(try state(entry.name, "momentum_buffer", shape)) }
        try g.add(.sgdUpdate(h), inputs, name: "sgd \(entry.name)")
      }
    }
  }
}

/// The learning-rate factor per iteration (both networks, every D step of the iteration).
public enum LearningRateSchedule: Sendable, Equatable {
  case constant
  /// pix2pix/CycleGAN's linear decay: full rate for `keep` iterations, then
  /// factor(t) = 1 − max(0, t + 1 − keep)/(decay + 1) for 0-based iteration t, reaching
  /// 1/(decay + 1) at the last of `keep + decay` iterations (`lambda_rule` in the
  /// reference code, with iterations for epochs).
  case linearDecay(keep: Int, decay: Int)
  /// The same rule over epochs, as the reference applies it (the rate changes once per epoch):
  /// iteration t is in epoch t / iterationsPerEpoch.
  case epochLinearDecay(keep: Int, decay: Int, iterationsPerEpoch: Int)

  public func factor(iteration t: Int) -> Double {
    switch self {
    case .constant: return 1
    case .linearDecay(let keep, let decay):
      // Past the end (a run continued beyond its schedule) the rate stays at zero.
      return max(0, 1 - Double(max(0, t + 1 - keep)) / Double(decay + 1))
    case .epochLinearDecay(let keep, let decay, let perEpoch):
      return LearningRateSchedule.linearDecay(keep: keep, decay: decay).factor(iteration: t / max(1, perEpoch))
    }
  }
}

/// An exponential moving average of G's weights (Yazıcı et al. 2019; Karras et al. 2018),
/// kept on the device: after each G update ema = β·ema + (1 − β)·param, a plain copy for the
/// first `start` iterations; buffers (batch-norm running statistics) are copied.
public struct EMAConfig: Sendable, Equatable {
  public var beta: Double
  public var start: Int
  public init(beta: Double = 0.999, start: Int = 0) {
    self.beta = beta
    self.start = start
  }
}
