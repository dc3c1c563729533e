import KallimaCore
import KallimaGraph

/// How a parameter starts out (Radford et al. 2015: conv weights N(0, 0.02), batch-norm
/// scale N(1, 0.02)).
public enum ParameterInit: Sendable {
  case normal(mean: Float, std: Float)
  /// U[low, high): PyTorch's default for conv and linear layers is
  /// `.uniform(low: -1/sqrt(fanIn), high: 1/sqrt(fanIn))` for weights (kaiming_uniform with
  /// a = sqrt(5)) and biases alike.
  case uniform(low: Float, high: Float)
  case constant(Float)

  /// PyTorch's default initialisation of a conv/linear weight or bias with this fan-in.
  public static func pytorchDefault(fanIn: Int) -> ParameterInit {
    let bound = Float(1 / Double(max(fanIn, 1)).squareRoot())
    return .uniform(low: -bound, high: bound)
  }
}

/// A network's tensors by PyTorch state-dict name ("main.0.weight", "main.1.running_mean"),
/// in creation order, living on one backend. Trainable ones get gradients and optimiser
/// state; buffers (running statistics) are updated by the forward pass.
public final class ParameterStore {
  public struct Entry {
    public let name: String
    public let tensor: Tensor
    public let trainable: Bool
  }

  public let backend: Backend
  public private(set) var entries: [Entry] = []
  private var index: [String: Int] = [:]
  let seed: UInt64

  /// Parameters are initialised on the device from Philox (no host upload), each from its
  /// own stream: identical bits on every backend for the same seed.
  public init(backend: Backend, seed: UInt64) {
    self.backend = backend
    self.seed = seed
  }

  public subscript(_ name: String) -> Tensor? { index[name].map { entries[$0].tensor } }

  /// Creates the named tensor once; later calls return the same tensor.
  @discardableResult
  public func tensor(_ name: String, _ shape: Shape, _ initial: ParameterInit, trainable: Bool) throws -> Tensor {
    if let i = index[name] {
      guard entries[i].tensor.shape == shape else {
        throw KallimaError.shapeMismatch(op: "parameter \(name)", message: "exists as \(entries[i].tensor.shape), asked for \(shape)")
      }
      return entries[i].tensor
    }
    let t = try backend.makeTensor(shape)
    let stream = RandomStream(seed: seed &+ UInt64(entries.count) &* 0x9E37_79B9_7F4A_7C15, counter: 0)
    switch initial {
    case .normal(let mean, let std):
      try backend.random_normal(t, stream: stream, mean: mean, std: std)
    case .uniform(let low, let high):
      try backend.random_uniform(t, stream: stream, low: low, high: high)
    case .constant(let c):
      try backend.fill(t, value: c)
    }
    index[name] = entries.count
    entries.append(Entry(name: name, tensor: t, trainable: trainable))
    return t
  }

  public var trainable: [Entry] { entries.filter(\.trainable) }

  /// Number of trainable scalars.
  public var parameterCount: Int { trainable.reduce(0) { $0 + $1.tensor.count } }
}

/// Builds a network into a graph: parameter nodes are created once per graph and bound to
/// the store's tensors, so one network applied twice (D on real and on fake) shares them.
public final class GraphBinder {
  public let graph: Graph
  public private(set) var bindings: [Value: Tensor] = [:]
  private var nodes: [ObjectIdentifier: [String: Value]] = [:]
  var carriedState: [CarriedState] = []

  public init(graph: Graph) { self.graph = graph }

  /// The parameter node for `name` in `store` (created on first use).
  public func parameter(
    _ store: ParameterStore, _ name: String, _ shape: Shape, _ initial: ParameterInit, trainable: Bool = true
  ) throws -> Value {
    let key = ObjectIdentifier(store)
    if let v = nodes[key]?[name] { return v }
    let t = try store.tensor(name, shape, initial, trainable: trainable)
    let v = graph.parameter(shape, name: name)
    nodes[key, default: [:]][name] = v
    bindings[v] = t
    return v
  }

  /// Binds an extra external value (inputs, accumulators).
  public func bind(_ v: Value, _ t: Tensor) { bindings[v] = t }

  /// Loss terms the layers added beside their outputs, in the order added (StackGAN's
  /// conditioning augmentation adds its KL divergence): a trainer adds weight·value of those
  /// its generator's forward pass made to G's loss.
  public private(set) var auxiliaryLosses: [(name: String, value: Value, weight: Float)] = []

  /// Adds a loss term (a one-element value) for the trainer (see `auxiliaryLosses`).
  public func addLoss(_ name: String, _ value: Value, weight: Float) {
    auxiliaryLosses.append((name, value, weight))
  }

  /// The parameter nodes of `store` used in this graph, by name.
  public func parameters(of store: ParameterStore) -> [String: Value] { nodes[ObjectIdentifier(store)] ?? [:] }
}

extension GraphBinder {
  /// The parameter node for `name` if this graph already uses it.
  public func existingParameter(_ store: ParameterStore, _ name: String) -> Value? {
    parameters(of: store)[name]
  }
}

/// State that a layer carries from one application to the next within one graph, and
/// writes back to its store when the graph is complete (spectral norm's power-iteration
/// vectors: D applied to the real and then the fake batch advances u twice, as PyTorch's
/// hook does on each forward).
extension GraphBinder {
  /// The latest value of the store tensor `name` in this graph, if a layer carried one.
  public func carried(_ store: ParameterStore, _ name: String) -> Value? {
    carriedState.first { $0.store === store && $0.name == name }?.value
  }

  /// Records `value` as the new value of the store tensor `name` (written back by `finish`).
  public func carry(_ store: ParameterStore, _ name: String, _ value: Value) {
    if let i = carriedState.firstIndex(where: { $0.store === store && $0.name == name }) {
      carriedState[i].value = value
    } else {
      carriedState.append(CarriedState(store: store, name: name, value: value))
    }
  }

  /// Writes every carried value back to its tensor: call once, after the last node that
  /// reads the old values (the trainer calls it at the end of each step's graph).
  public func finish() throws {
    for c in carriedState {
      guard let target = parameters(of: c.store)[c.name] else { continue }
      try graph.add(.assign, [target, c.value], name: "write back \(c.name)")
    }
    carriedState = []
  }
}

struct CarriedState {
  let store: ParameterStore
  let name: String
  var value: Value
}

extension ParameterInit {
  /// Xavier/Glorot uniform (torch.nn.init.xavier_uniform_): U[−b, b] with
  /// b = gain·sqrt(6/(fanIn + fanOut)).
  public static func xavierUniform(fanIn: Int, fanOut: Int, gain: Double = 1) -> ParameterInit {
    let bound = Float(gain * (6 / Double(fanIn + fanOut)).squareRoot())
    return .uniform(low: -bound, high: bound)
  }
}
