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
  let plan: Plan
  let output: Value

  /// Any generator network bound in eval mode to `generator` (its store, or its EMA).
  public init(backend: Backend, network: any Layer, latentShape: Shape, generator: ParameterStore, count: Int) throws {
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
    output = try network(zv, in: Scope(binder: b, store: generator, tag: "G", options: BindOptions(mode: .eval)))
    imageShape = Shape(Array(g.shape(output).dims.dropFirst()))
    plan = try Plan(graph: g, backend: backend, bindings: b.bindings, keep: [output])
  }

  public convenience init(backend: Backend, model: DCGAN, generator: ParameterStore, count: Int) throws {
    try self.init(
      backend: backend, network: model.generatorNetwork, latentShape: [model.config.nz, 1, 1], generator: generator,
      count: count)
  }

  /// Generates images for `z` values (count·nz of them) and returns them NCHW in [−1, 1].
  public func images(z values: [Float]) throws -> [Float] {
    try backend.write(values, to: z)
    try plan.run()
    return try backend.read(plan.tensor(output))
  }

  /// Generates one image per latent vector of `latents` (count·nz values), `count` at a time
  /// through the one plan (the last batch padded with zero latents), and hands each batch's
  /// real images (NCHW in [−1, 1]) and their number to `body`, in order.
  public func forEachBatch(latents: [Float], _ body: (_ images: [Float], _ count: Int) throws -> Void) throws {
    guard latents.count % nz == 0 else {
      throw KallimaError.shapeMismatch(op: "sample", message: "\(latents.count) latent values are not a multiple of nz \(nz)")
    }
    let total = latents.count / nz
    var start = 0
    while start < total {
      let take = min(count, total - start)
      var z = Array(latents[(start * nz)..<((start + take) * nz)])
      z += repeatElement(0, count: (count - take) * nz)
      let out = try images(z: z)
      try body(Array(out.prefix(take * (out.count / count))), take)
      start += take
    }
  }

  /// Latent vectors from a seed, N(0, 1) from Philox: the same on every backend.
  public static func latents(count: Int, nz: Int, seed: UInt64) -> [Float] {
    (0..<(count * nz)).map { Philox.normal(stream: RandomStream(seed: seed), index: $0, mean: 0, std: 1) }
  }
}
