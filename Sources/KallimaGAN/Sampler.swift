import KallimaCore
import KallimaGraph

/// Images from a generator in eval mode (batch norm with running statistics), for sample
/// grids, interpolation strips and evaluation. One plan per batch size, built once.
public final class Sampler {
  public let backend: Backend
  public let model: DCGAN
  public let count: Int
  /// The latent batch [count, nz, 1, 1] the plan reads; write it, then `run`.
  public let z: Tensor
  let plan: Plan
  let output: Value

  public init(backend: Backend, model: DCGAN, generator: ParameterStore, count: Int) throws {
    guard count >= 1 else { throw KallimaError.invalidArgument(op: "sample", message: "need at least one image") }
    self.backend = backend
    self.model = model
    self.count = count
    let g = Graph()
    let b = GraphBinder(graph: g)
    let zShape: Shape = [count, model.config.nz, 1, 1]
    z = try backend.zeros(zShape)
    let zv = g.input(zShape, name: "z")
    b.bind(zv, z)
    output = try model.generator(b, generator, z: zv, training: false)
    plan = try Plan(graph: g, backend: backend, bindings: b.bindings, keep: [output])
  }

  /// Generates images for `z` values (count·nz of them) and returns them NCHW in [−1, 1].
  public func images(z values: [Float]) throws -> [Float] {
    try backend.write(values, to: z)
    try plan.run()
    return try backend.read(plan.tensor(output))
  }

  /// Latent vectors from a seed, N(0, 1) from Philox: the same on every backend.
  public static func latents(count: Int, nz: Int, seed: UInt64) -> [Float] {
    (0..<(count * nz)).map { Philox.normal(stream: RandomStream(seed: seed), index: $0, mean: 0, std: 1) }
  }
}
