import KallimaCore
import KallimaGraph

/// A piece of a network: given its input value and a scope (where its parameters live and
/// what they are called), it adds its nodes to the graph and returns its output.
///
/// Layers are plain values that describe the computation; their tensors live in the
/// scope's `ParameterStore` under PyTorch state-dict names derived from the path
/// (`main.3.weight`), so one network value can be bound many times — D on the real batch,
/// on the fake batch and on interpolates, G in train mode for training and in eval mode
/// for sampling, against G's own store or its EMA copy — without copies.
///
/// Write a new layer (or a whole G or D) in your own package by conforming to `Layer`:
///
///     struct Block: Layer {
///       var channels: Int
///       func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
///         let h = try Conv2d(channels, channels, kernelSize: 3, padding: 1)(x, in: scope.child("conv"))
///         return try scope.add(x, try ReLU()(h, in: scope))
///       }
///     }
public protocol Layer {
  /// Adds the layer's nodes for input `x`; tensors are NCHW unless the layer says otherwise.
  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value
}

/// How a network is bound into one graph: train or eval behaviour, and weight
/// reparametrisations. These are properties of the binding, not of the network value.
public struct BindOptions: Sendable {
  public enum Mode: Sendable {
    /// Batch statistics (and running-statistics updates), dropout on, spectral-norm power
    /// iterations advance.
    case train
    /// Running statistics, dropout off, spectral norm with its stored vectors.
    case eval
  }

  public var mode: Mode
  /// Spectral normalisation (Miyato et al. 2018) of every conv, conv-transpose, linear and
  /// embedding weight, as `torch.nn.utils.spectral_norm` with one power iteration.
  public var spectralNorm: Bool
  /// In train mode, whether batch norm moves its running statistics. False for a network
  /// run in train mode outside training (pix2pix translates with batch statistics and
  /// dropout, as the reference's test.py without --eval) so the trained state is untouched.
  public var updatesStatistics: Bool
  /// In train mode, batch norm's statistics over the whole batch of a data-parallel job of
  /// this many ranks (`Graph.synchronizedBatchNorm`); nil: each rank's own batch (the fused
  /// `batchnormTrain` op).
  public var synchronizedRanks: Int?
  /// The network's weights are fixed (`Frozen`): its parameters are made as buffers (no
  /// gradient, no optimiser state) and its layers add no training losses.
  public var frozen = false

  public init(mode: Mode = .train, spectralNorm: Bool = false, updatesStatistics: Bool = true, synchronizedRanks: Int? = nil) {
    self.mode = mode
    self.spectralNorm = spectralNorm
    self.updatesStatistics = updatesStatistics
    self.synchronizedRanks = synchronizedRanks
  }

  public var training: Bool { mode == .train }
}

/// Where a layer is being built: the graph (through its binder), the store holding its
/// parameters, its path in the state dict, a tag that prefixes node names ("G",
/// "D(real)") and the binding options. Side inputs such as class labels travel in
/// `conditions` (e.g. "y": one-hot [N, classes]).
public struct Scope {
  public let binder: GraphBinder
  public let store: ParameterStore
  /// State-dict prefix of this scope, without a trailing dot ("" at the root).
  public let path: String
  public let tag: String
  public var options: BindOptions
  public var conditions: [String: Value]
  /// Where the layers' random draws come from (`randomNormal`); nil: the device's Philox
  /// stream, seeded by the layer and its path.
  public var random: RandomDraw?

  /// A random draw a trainer provides: (shape, the draw's qualified name, the layer's seed)
  /// -> N(0, 1) values. A trainer mixes its noise seed into the stream, or feeds the values
  /// from the host to compare with a reference implementation.
  public typealias RandomDraw = (Shape, String, UInt64) throws -> Value

  public init(
    binder: GraphBinder, store: ParameterStore, path: String = "", tag: String, options: BindOptions = BindOptions(),
    conditions: [String: Value] = [:], random: RandomDraw? = nil
  ) {
    self.binder = binder
    self.store = store
    self.path = path
    self.tag = tag
    self.options = options
    self.conditions = conditions
    self.random = random
  }

  public var graph: Graph { binder.graph }
  public var training: Bool { options.training }

  /// The scope of a child module named `name` (an attribute name or a Sequential index).
  public func child(_ name: String) -> Scope {
    Scope(
      binder: binder, store: store, path: qualified(name), tag: tag, options: options, conditions: conditions, random: random)
  }

  /// The full state-dict name of this scope's tensor `name`.
  public func qualified(_ name: String) -> String { path.isEmpty ? name : path + "." + name }

  /// A node name: "TAG PATH what" ("D(real) main.2 conv").
  public func nodeName(_ what: String) -> String {
    [tag, path, what].filter { !$0.isEmpty }.joined(separator: " ")
  }

  /// This scope's parameter (or buffer, when not trainable) `name`, created in the store on
  /// first use with `initial`.
  public func parameter(_ name: String, _ shape: Shape, _ initial: ParameterInit, trainable: Bool = true) throws -> Value {
    try binder.parameter(store, qualified(name), shape, initial, trainable: trainable && !options.frozen)
  }

  /// N(0, 1) values of `shape` drawn anew at every plan run: from the scope's `random`
  /// provider when it has one, else from the device's stream for `seed` mixed with this
  /// scope's tag and path (so two layers with one seed draw different values).
  public func randomNormal(_ shape: Shape, _ what: String, seed: UInt64) throws -> Value {
    if let random { return try random(shape, qualified(what), seed) }
    return graph.randomNormal(shape, seed: Philox.seed(seed, mixing: tag + path), name: nodeName(what))
  }

  /// A single-output node named after this scope.
  public func value(_ op: GraphOp, _ inputs: [Value], _ what: String) throws -> Value {
    try graph.value(op, inputs, name: nodeName(what))
  }

  /// x + y (same shapes): residual connections.
  public func add(_ x: Value, _ y: Value) throws -> Value { try value(.add, [x, y], "add") }

  /// A named side input (a condition), or a clear error when the caller did not give it.
  public func condition(_ name: String, for layer: String) throws -> Value {
    guard let v = conditions[name] else {
      throw KallimaError.invalidArgument(
        op: nodeName(layer), message: "needs the condition '\(name)' (e.g. one-hot labels) in its scope; none was given")
    }
    return v
  }
}

extension Layer {
  /// Builds this layer as the module `name` of `parent` (its parameters under "name.…").
  public func callAsFunction(_ x: Value, in parent: Scope, named name: String) throws -> Value {
    try self(x, in: parent.child(name))
  }

  /// This layer under an attribute name: `Sequential { … }.named("main")` gives its
  /// parameters the prefix "main.", as a PyTorch module holding `self.main = nn.Sequential(…)`.
  public func named(_ name: String) -> Named<Self> { Named(name: name, layer: self) }
}

/// A layer under an attribute name in the state dict.
public struct Named<L: Layer>: Layer {
  public var name: String
  public var layer: L
  public init(name: String, layer: L) {
    self.name = name
    self.layer = layer
  }
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value { try layer(x, in: scope.child(name)) }
}
