import KallimaCore
import KallimaGraph

/// Images from a generator in eval mode (batch norm with running statistics), for sample
/// grids, interpolation strips and evaluation. One plan per batch size, built once.
public final class Sampler {
  public let backend: Backend
  public let count: Int
  /// One sample's latent shape ([nz, 1, 1] for DCGAN) and image shape [C, H, W].
  public let latentShape: Shape
  public let imageShape: Shape
  /// Latent values per image.
  public var nz: Int { latentShape.count }
  /// The latent batch [count] + latentShape the plan reads; write it, then `run`.
  public let z: Tensor
  /// A conditional generator's condition rows [count, width] (nil for an unconditional one).
  public let conditions: Tensor?
  /// Values per condition row (0 when unconditional).
  public var conditionWidth: Int { conditions?.shape[1] ?? 0 }
  let plan: Plan
  let output: Value
  /// The network's own random draws (`Scope.randomNormal`: StackGAN's conditioning-
  /// augmentation ε), fed from the host: an image's draws are a function of its latent
  /// vector (and the draw's name), so the same z gives the same image whatever the batch, a
  /// grid's column (one z, several conditions) shares them, and --seed changes them.
  private let draws: [(name: String, tensor: Tensor)]

  /// Any generator network bound in eval mode to `generator` (its store, or its EMA). A
  /// conditional G (`conditionWidth` > 0) also reads `conditions`, one row per image.
  public init(
    backend: Backend, network: any Layer, latentShape: Shape, generator: ParameterStore, count: Int, conditionWidth: Int = 0
  ) throws {
    guard count >= 1 else { throw KallimaError.invalidArgument(op: "sample", message: "need at least one image") }
    self.backend = backend
    self.count = count
    self.latentShape = latentShape
    let g = Graph()
    let b = GraphBinder(graph: g)
    let zShape = Shape([count] + latentShape.dims)
    z = try backend.zeros(zShape)
    let zv = g.input(zShape, name: "z")
    b.bind(zv, z)
    var fed: [(name: String, tensor: Tensor)] = []
    let feed: Scope.RandomDraw = { shape, name, _ in
      let tensor = try backend.zeros(shape)
      let v = g.input(shape, name: name)
      b.bind(v, tensor)
      fed.append((name, tensor))
      return v
    }
    var scope = Scope(binder: b, store: generator, tag: "G", options: BindOptions(mode: .eval), random: feed)
    if conditionWidth > 0 {
      let rows = try backend.zeros([count, conditionWidth])
      let cv = g.input(rows.shape, name: "c")
      b.bind(cv, rows)
      scope.conditions[conditionKey] = cv
      conditions = rows
    } else {
      conditions = nil
    }
    output = try network(zv, in: scope)
    draws = fed
    imageShape = Shape(Array(g.shape(output).dims.dropFirst()))
    plan = try Plan(graph: g, backend: backend, bindings: b.bindings, keep: [output])
  }

  public convenience init(backend: Backend, model: DCGAN, generator: ParameterStore, count: Int) throws {
    try self.init(
      backend: backend, network: model.generatorNetwork, latentShape: [model.config.nz, 1, 1], generator: generator,
      count: count)
  }

  /// Generates images for `z` values (count·nz of them) and, for a conditional G, condition
  /// rows (count·width values), and returns them NCHW in [−1, 1].
  public func images(z values: [Float], conditions rows: [Float]? = nil) throws -> [Float] {
    try backend.write(values, to: z)
    for draw in draws {
      try backend.write(Self.draw(draw.name, count: count, perImage: draw.tensor.shape.count / count, latents: values), to: draw.tensor)
    }
    if let conditions {
      guard let rows, rows.count == conditions.shape.count else {
        throw KallimaError.shapeMismatch(
          op: "sample", message: "a conditional G needs \(conditions.shape.count) condition values (\(conditions.shape)), got \(rows?.count ?? 0)")
      }
      try backend.write(rows, to: conditions)
    }
    try plan.run()
    return try backend.read(plan.tensor(output))
  }

  /// Generates one image per latent vector of `latents` (count·nz values), `count` at a time
  /// through the one plan (the last batch padded with zero latents), and hands each batch's
  /// real images (NCHW in [−1, 1]) and their number to `body`, in order.
  public func forEachBatch(
    latents: [Float], conditions rows: [Float]? = nil, _ body: (_ images: [Float], _ count: Int) throws -> Void
  ) throws {
    guard latents.count % nz == 0 else {
      throw KallimaError.shapeMismatch(op: "sample", message: "\(latents.count) latent values are not a multiple of nz \(nz)")
    }
    let total = latents.count / nz
    let width = conditionWidth
    if width > 0, rows?.count != total * width {
      throw KallimaError.shapeMismatch(
        op: "sample", message: "\(total) latent vectors need \(total * width) condition values, got \(rows?.count ?? 0)")
    }
    var start = 0
    while start < total {
      let take = min(count, total - start)
      var z = Array(latents[(start * nz)..<((start + take) * nz)])
      z += repeatElement(0, count: (count - take) * nz)
      var c: [Float]? = nil
      if let rows, width > 0 {
        c = Array(rows[(start * width)..<((start + take) * width)]) + repeatElement(0, count: (count - take) * width)
      }
      let out = try images(z: z, conditions: c)
      try body(Array(out.prefix(take * (out.count / count))), take)
      start += take
    }
  }

  /// N(0, 1) values for a draw named `name`, `perImage` for each of `count` images: image
  /// i's from a Philox stream keyed by the name and the bits of its latent vector.
  static func draw(_ name: String, count: Int, perImage: Int, latents: [Float]) -> [Float] {
    let nz = latents.count / count
    return (0..<count).flatMap { i in
      let stream = RandomStream(seed: Philox.seed(Philox.seed(0, mixing: name), mixing: latents[(i * nz)..<((i + 1) * nz)]))
      return (0..<perImage).map { Philox.normal(stream: stream, index: $0, mean: 0, std: 1) }
    }
  }

  /// Latent vectors from a seed, N(0, 1) from Philox: the same on every backend.
  public static func latents(count: Int, nz: Int, seed: UInt64) -> [Float] {
    (0..<(count * nz)).map { Philox.normal(stream: RandomStream(seed: seed), index: $0, mean: 0, std: 1) }
  }
}
