import KallimaCore
import KallimaGraph
import KallimaNN

/// Translates images with a trained network (pix2pix's G, CycleGAN's G_A or G_B, StarGAN's G
/// with target labels), in one of two bindings:
/// - `.eval`: running batch-norm statistics, dropout off (the reference's `--eval`);
/// - `.train` (pix2pix's default at test time, Isola et al. §3.1: dropout as noise, batch
///   statistics): each image its own batch of one, as the reference's test.py, with the
///   running statistics left as they are.
/// One plan per input size, built on first use.
public final class Translator {
  public let backend: Backend
  public let network: any Layer
  public let store: ParameterStore
  public let mode: BindOptions.Mode
  /// Values per target-label row (StarGAN), nil for a network without labels.
  public let labels: Int?
  /// Images per plan run: 1 in train mode (every image its own statistics), else up to this.
  public let batch: Int
  private var plans: [Shape: (plan: Plan, input: Tensor, rows: Tensor?, output: Value)] = [:]

  public init(
    backend: Backend, network: any Layer, store: ParameterStore, mode: BindOptions.Mode, labels: Int? = nil,
    batch: Int = 8
  ) {
    self.backend = backend
    self.network = network
    self.store = store
    self.mode = mode
    self.labels = labels
    self.batch = mode == .train ? 1 : max(1, batch)
  }

  /// The plan for `count` images of one sample's shape [C, H, W].
  private func plan(_ image: Shape, count: Int) throws -> (plan: Plan, input: Tensor, rows: Tensor?, output: Value) {
    let shape = Shape([count] + image.dims)
    if let p = plans[shape] { return p }
    let g = Graph()
    let b = GraphBinder(graph: g)
    let input = try backend.zeros(shape)
    let x = g.input(shape, name: "input")
    b.bind(x, input)
    var scope = Scope(
      binder: b, store: store, tag: "translate", options: BindOptions(mode: mode, updatesStatistics: false))
    var rows: Tensor?
    if let labels {
      let t = try backend.zeros([count, labels])
      let c = g.input(t.shape, name: "target labels")
      b.bind(c, t)
      scope.conditions[conditionKey] = c
      rows = t
    }
    let output = try network(x, in: scope)
    let p = (try Plan(graph: g, backend: backend, bindings: b.bindings, keep: [output]), input, rows, output)
    plans[shape] = p
    return p
  }

  /// Builds the plan for images of one sample shape [C, H, W] now (creating the network's
  /// tensors in the store, so a checkpoint can be restored into them before translating).
  public func prepare(image: Shape) throws { _ = try plan(image, count: batch) }

  /// Translates `count` images NCHW in [−1, 1] of one sample shape `image` ([C, H, W]); with
  /// labels, `targets` holds one row per image. Returns the outputs NCHW in [−1, 1] and
  /// their sample shape.
  public func translate(_ images: [Float], image: Shape, targets: [Float]? = nil) throws -> (values: [Float], shape: Shape) {
    let per = image.count
    guard per > 0, images.count % per == 0 else {
      throw KallimaError.shapeMismatch(op: "translate", message: "\(images.count) values are not whole \(image) images")
    }
    let total = images.count / per
    if let labels {
      guard let targets, targets.count == total * labels else {
        throw KallimaError.shapeMismatch(
          op: "translate", message: "\(total) images need \(total * labels) target-label values, got \(targets?.count ?? 0)")
      }
    }
    var out: [Float] = []
    var outShape = image
    var start = 0
    while start < total {
      let take = min(batch, total - start)
      let p = try plan(image, count: take)
      try backend.write(Array(images[(start * per)..<((start + take) * per)]), to: p.input)
      if let rows = p.rows, let labels, let targets {
        try backend.write(Array(targets[(start * labels)..<((start + take) * labels)]), to: rows)
      }
      try p.plan.run()
      out += try backend.read(p.plan.tensor(p.output))
      outShape = Shape(Array(p.plan.graph.shape(p.output).dims.dropFirst()))
      start += take
    }
    return (out, outShape)
  }
}
