import KallimaCore
import KallimaData
import KallimaGraph

/// A weight a network expects: its PyTorch state-dict name and its shape.
public struct ParameterSpec: Hashable, Sendable, CustomStringConvertible {
  public var name: String
  public var shape: Shape

  public init(_ name: String, _ shape: Shape) {
    (self.name, self.shape) = (name, shape)
  }

  public var description: String { "\(name) \(shape)" }
}

/// Named weights resident on one backend. They are uploaded once; every plan built from
/// them (one per batch size or input size) binds the same tensors, so a second plan costs
/// activations only.
public final class NetworkWeights {
  public let backend: Backend
  /// Device tensors by state-dict name.
  public let tensors: [String: Tensor]

  public init(backend: Backend, tensors: [String: Tensor]) {
    (self.backend, self.tensors) = (backend, tensors)
  }

  /// Uploads host tensors after checking them against `expected`, the way PyTorch's strict
  /// `load_state_dict` does: every expected name must be present with its exact shape, and
  /// no other name may appear (e.g. `AuxLogits.*` means a torchvision checkpoint, not the
  /// FID one). `source` names the file in errors; `remedy` says how to produce a good one.
  /// Names in `ignored` (such as BatchNorm's `num_batches_tracked`) are skipped.
  public convenience init(
    backend: Backend, host: [SafetensorsTensor], expected: [ParameterSpec], source: String, remedy: String,
    ignoring ignored: (String) -> Bool = { _ in false }
  ) throws {
    let op = "load weights"
    var byName: [String: SafetensorsTensor] = [:]
    for t in host where !ignored(t.name) { byName[t.name] = t }
    let expectedNames = Set(expected.map(\.name))
    var problems: [String] = []
    let missing = expected.filter { byName[$0.name] == nil }
    if !missing.isEmpty {
      problems.append(
        "\(missing.count) missing: " + missing.prefix(5).map(\.description).joined(separator: ", ")
          + (missing.count > 5 ? ", ..." : ""))
    }
    for spec in expected {
      if let t = byName[spec.name], t.shape != spec.shape.dims {
        problems.append("\(spec.name) is \(Shape(t.shape)), expected \(spec.shape)")
      }
    }
    let unexpected = byName.keys.filter { !expectedNames.contains($0) }.sorted()
    if !unexpected.isEmpty {
      problems.append(
        "\(unexpected.count) unexpected: " + unexpected.prefix(5).joined(separator: ", ")
          + (unexpected.count > 5 ? ", ..." : ""))
    }
    guard problems.isEmpty else {
      throw KallimaError.invalidArgument(
        op: op, message: "\(source) does not hold the expected weights (\(problems.joined(separator: "; "))). \(remedy)")
    }
    var tensors: [String: Tensor] = [:]
    for spec in expected {
      tensors[spec.name] = try backend.makeTensor(spec.shape, values: byName[spec.name]!.values)
    }
    self.init(backend: backend, tensors: tensors)
  }

  /// The tensor for `spec`, or an error saying which name is missing or misshapen.
  public func tensor(for spec: ParameterSpec) throws -> Tensor {
    guard let t = tensors[spec.name] else {
      throw KallimaError.invalidArgument(op: "bind weights", message: "no weight named \(spec.name) (\(spec.shape)) was loaded")
    }
    guard t.shape == spec.shape else {
      throw KallimaError.shapeMismatch(op: "bind weights", message: "\(spec.name) is \(t.shape), the network needs \(spec.shape)")
    }
    return t
  }
}

/// Builds a forward-only network into a graph, recording each weight it asks for (name
/// and shape, in first-use order), so the same description yields both the graph and the
/// list of weights to load.
public final class NetworkBuilder {
  public let graph: Graph
  /// Weights in first-use order.
  public private(set) var parameters: [ParameterSpec] = []
  private var nodes: [String: Value] = [:]

  public init(graph: Graph = Graph()) { self.graph = graph }

  /// The parameter node for `name` (one node per name, however often it is used).
  public func parameter(_ name: String, _ shape: Shape) throws -> Value {
    if let v = nodes[name] {
      guard graph.shape(v) == shape else {
        throw KallimaError.shapeMismatch(op: "parameter \(name)", message: "declared as \(graph.shape(v)), used as \(shape)")
      }
      return v
    }
    let v = graph.parameter(shape, name: name)
    nodes[name] = v
    parameters.append(ParameterSpec(name, shape))
    return v
  }

  /// The parameter node of each recorded weight, by name.
  public var parameterNodes: [String: Value] { nodes }
}

/// A forward-only network with named weights, compiled once into a `Plan` for one input
/// shape [B, ...] and run per batch: write `input`, `run()`, read the named outputs. The
/// plan owns every activation buffer (reused by liveness); weights are bound, not copied.
///
/// `map` runs it over a larger batch [N, ...] held on the device, B images at a time, and
/// returns the named outputs [N, ...] on the device.
public final class FeatureNetwork {
  public let backend: Backend
  /// The tensor the plan reads, [B, ...]: write it, then `run`.
  public let input: Tensor
  /// The plan's output tensors by name, [B, ...] each; valid after `run`.
  public let outputs: [String: Tensor]
  public let plan: Plan
  /// The weights the network reads, in first-use order.
  public let parameters: [ParameterSpec]

  /// - Parameters:
  ///   - inputShape: [B, ...], the batch size first.
  ///   - build: adds the network to the builder's graph, reading the input value; returns
  ///     the values to expose, by name (each must have the batch as its first axis).
  public init(
    backend: Backend, weights: NetworkWeights, inputShape: Shape,
    build: (NetworkBuilder, Value) throws -> [String: Value]
  ) throws {
    guard inputShape.rank >= 1, inputShape[0] >= 1 else {
      throw KallimaError.invalidArgument(op: "feature network", message: "input shape \(inputShape) needs a batch size >= 1 first")
    }
    guard weights.backend === backend else {
      throw KallimaError.wrongBackend(op: "feature network", expected: backend.name, got: weights.backend.name)
    }
    let builder = NetworkBuilder()
    let x = builder.graph.input(inputShape, name: "input")
    let named = try build(builder, x)
    for (name, v) in named where builder.graph.shape(v).rank < 1 || builder.graph.shape(v)[0] != inputShape[0] {
      throw KallimaError.shapeMismatch(
        op: "feature network", message: "output \(name) is \(builder.graph.shape(v)); it must be [\(inputShape[0]), ...]")
    }
    let input = try backend.zeros(inputShape)
    var bindings: [Value: Tensor] = [x: input]
    for spec in builder.parameters {
      bindings[builder.parameterNodes[spec.name]!] = try weights.tensor(for: spec)
    }
    let keys = named.keys.sorted()
    let plan = try Plan(graph: builder.graph, backend: backend, bindings: bindings, keep: keys.map { named[$0]! })
    self.plan = plan
    self.backend = backend
    self.input = input
    self.parameters = builder.parameters
    outputs = named.mapValues { plan.tensor($0) }
  }

  public var batch: Int { input.shape[0] }

  /// Enqueues one pass over `input`.
  public func run() throws { try plan.run() }

  /// The output named `name` (valid after `run`).
  public func output(_ name: String) throws -> Tensor {
    guard let t = outputs[name] else {
      throw KallimaError.invalidArgument(
        op: "feature network", message: "no output named \(name); it has \(outputs.keys.sorted().joined(separator: ", "))")
    }
    return t
  }

  /// Runs the network over every item of `items` [N, ...] (same trailing shape as
  /// `input`), `batch` at a time, and returns the requested outputs [N, ...] as new device
  /// tensors. A last partial batch runs with zeros in its unused rows; items never
  /// interact (forward-only, batch norm in eval mode), so the padding changes nothing.
  /// Everything stays on the device: no host round trip, no wait.
  public func map(_ items: Tensor, outputs names: [String]) throws -> [String: Tensor] {
    let op = "feature network"
    guard items.shape.rank == input.shape.rank, Array(items.shape.dims.dropFirst()) == Array(input.shape.dims.dropFirst())
    else {
      throw KallimaError.shapeMismatch(op: op, message: "items \(items.shape) must be [N] + \(Shape(Array(input.shape.dims.dropFirst())))")
    }
    let n = items.shape[0]
    let b = batch
    let itemSize = input.count / b
    // Batch slices are copied as "channels" of [1, N, item] views.
    let itemsView = try items.reshaped([1, n, itemSize])
    let inputView = try input.reshaped([1, b, itemSize])
    var results: [String: (out: Tensor, view: Tensor, source: Tensor, size: Int)] = [:]
    for name in names {
      let source = try output(name)
      let size = source.count / b
      let out = try backend.makeTensor(Shape([n] + source.shape.dims.dropFirst()))
      results[name] = (out, try out.reshaped([1, n, size]), try source.reshaped([1, b, size]), size)
    }
    var start = 0
    while start < n {
      let count = min(b, n - start)
      if count < b { try backend.fill(input, value: 0) }
      try backend.copy_channels(x: itemsView, xStart: start, y: inputView, yStart: 0, count: count)
      try run()
      for r in results.values {
        try backend.copy_channels(x: r.source, xStart: 0, y: r.view, yStart: start, count: count)
      }
      start += count
    }
    return results.mapValues(\.out)
  }
}
