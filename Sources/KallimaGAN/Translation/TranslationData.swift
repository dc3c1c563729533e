import KallimaCore
import KallimaGraph

/// Where an image-to-image method's training batches come from. Each plan run gathers the
/// next batch of a per-epoch shuffle (`DataOrder`) on the device, mirrored at random with
/// `flip` and cut to `crop` x `crop` at a random window when the images are larger (pix2pix's
/// `resize_and_crop`: load at 286, crop 256) — no host work per step. Images are [M, C, L, L]
/// tensors in [−1, 1], or byte tensors (`Backend.makeByteTensor`) converted as gathered.
public enum TranslationData {
  /// Filled by the caller through `TranslationTrainer.inputs` ("A", "B", "labels"):
  /// fixtures and benchmarks.
  case tensors
  /// pix2pix: A and B of each pair in one image's channels, [M, 2C, L, L] (A's C channels,
  /// then B's), so one gather and one crop treat both alike.
  case paired(Tensor, seed: UInt64, flip: Bool, crop: Int? = nil)
  /// CycleGAN: two sets, each in its own order (the reference's unaligned dataset draws B
  /// independently of A), each flipped and cropped on its own.
  case unpaired(a: Tensor, b: Tensor, seed: UInt64, flip: Bool, crop: Int? = nil)
  /// StarGAN: images and their label rows [M, D, 1, 1] (multi-hot attributes, or one-hot
  /// domains), gathered in one order.
  case labelled(Tensor, labels: Tensor, seed: UInt64, flip: Bool, crop: Int? = nil)
}

/// One training batch in a graph being built: A (the source images), B (pix2pix's targets,
/// CycleGAN's other domain) and the label rows [N, D] (StarGAN).
public struct TranslationBatch {
  public var a: Value
  public var b: Value?
  public var labels: Value?
}

/// The shapes of one sample a method trains on: A [C, H, W], B, and the label width.
public struct TranslationShapes: Sendable, Equatable {
  public var a: Shape
  public var b: Shape?
  public var labels: Int?
  public init(a: Shape, b: Shape? = nil, labels: Int? = nil) {
    self.a = a
    self.b = b
    self.labels = labels
  }
}

extension TranslationData {
  /// Builds the batch's nodes: gathers (and crops) from the datasets, or binds `inputs`
  /// (created here for `.tensors`).
  func batch(
    _ b: GraphBinder, backend: Backend, batch n: Int, shapes: TranslationShapes, inputs: inout [String: Tensor]
  ) throws -> TranslationBatch {
    let g = b.graph
    func fail(_ message: String) -> KallimaError { .shapeMismatch(op: "translation data", message: message) }
    /// The next batch of `source` in the order seeded by `seed`, flipped and cropped.
    func gather(_ source: Tensor, seed: UInt64, flip: Bool, crop: Int?, name: String) throws -> Value {
      let s = g.input(source.shape, name: "\(name) dataset")
      b.bind(s, source)
      let x = try g.value(
        .gatherImages(DataOrder(seed: seed, count: source.shape[0]), batch: n, flip: flip), [s], name: name)
      let side = g.shape(x)[2]
      guard let crop, crop != side || g.shape(x)[3] != side else { return x }
      return try g.value(
        .randomCrop(seed: seed ^ 0xC809_C809, height: crop, width: crop), [x], name: "\(name) (cropped)")
    }
    func check(_ x: Value, _ expected: Shape?, _ what: String) throws {
      guard let expected, Array(g.shape(x).dims.dropFirst()) != expected.dims else { return }
      throw fail("\(what) are \(Shape(Array(g.shape(x).dims.dropFirst()))) after cropping; the networks take \(expected)")
    }
    func input(_ name: String, _ shape: Shape) throws -> Value {
      if inputs[name] == nil { inputs[name] = try backend.zeros(shape) }
      let v = g.input(shape, name: name)
      b.bind(v, inputs[name]!)
      return v
    }
    switch self {
    case .tensors:
      let a = try input("A", Shape([n] + shapes.a.dims))
      let bv = try shapes.b.map { try input("B", Shape([n] + $0.dims)) }
      let labels = try shapes.labels.map { try input("labels", [n, $0]) }
      return TranslationBatch(a: a, b: bv, labels: labels)
    case .paired(let source, let seed, let flip, let crop):
      let c = shapes.a[0]
      guard source.shape.rank == 4, source.shape[1] == c + (shapes.b?[0] ?? 0) else {
        throw fail("a paired dataset holds A and B in one image's channels, [M, \(c + (shapes.b?[0] ?? 0)), H, W]; got \(source.shape)")
      }
      let pair = try gather(source, seed: seed, flip: flip, crop: crop, name: "A|B")
      let a = try g.value(.slice(start: 0, count: c), [pair], name: "real A")
      let bv = try g.value(.slice(start: c, count: source.shape[1] - c), [pair], name: "real B")
      try check(a, shapes.a, "A images")
      try check(bv, shapes.b, "B images")
      return TranslationBatch(a: a, b: bv, labels: nil)
    case .unpaired(let sa, let sb, let seed, let flip, let crop):
      let a = try gather(sa, seed: seed, flip: flip, crop: crop, name: "real A")
      let bv = try gather(sb, seed: seed ^ 0xB0B0_B0B0_B0B0, flip: flip, crop: crop, name: "real B")
      try check(a, shapes.a, "A images")
      try check(bv, shapes.b, "B images")
      return TranslationBatch(a: a, b: bv, labels: nil)
    case .labelled(let images, let labels, let seed, let flip, let crop):
      guard labels.shape.rank == 4, labels.shape[0] == images.shape[0], labels.shape[2] == 1, labels.shape[3] == 1,
        labels.shape[1] == shapes.labels
      else {
        throw fail("labels must be [\(images.shape[0]), \(shapes.labels ?? 0), 1, 1], one row per image; got \(labels.shape)")
      }
      let a = try gather(images, seed: seed, flip: flip, crop: crop, name: "real x")
      let l = g.input(labels.shape, name: "labels dataset")
      b.bind(l, labels)
      // The same order as the images; a 1x1 "image" is its own mirror.
      let rows = try g.value(
        .gatherImages(DataOrder(seed: seed, count: labels.shape[0]), batch: n, flip: false), [l], name: "labels")
      try check(a, shapes.a, "images")
      return TranslationBatch(a: a, b: nil, labels: try g.value(.reshape([n, labels.shape[1]]), [rows], name: "label rows"))
    }
  }
}
