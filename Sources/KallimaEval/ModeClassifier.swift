import Foundation
import KallimaCore
import KallimaData
import KallimaGAN
import KallimaGraph

/// A small convolutional classifier trained by Kallima itself on a labelled dataset (the
/// embedded Fashion-MNIST: 10 known modes), used to judge generators without any external
/// network: which modes a generator hits, how far its class histogram is from the data's,
/// and how confidently its images are recognised (SPEC §6, mode collapse and dropping).
///
/// Architecture (PyTorch names, `nn.Sequential` "net"): conv 3x3 (C→32, pad 1) + ReLU +
/// max-pool 2 → conv 3x3 (32→64, pad 1) + ReLU + max-pool 2 → flatten → linear
/// (64·(S/4)² → 128) + ReLU → linear (128 → classes). Input: images in [−1, 1], the
/// generator's range, so generated batches are classified as they come out of G.
public final class ModeClassifier {
  public struct Config: Codable, Equatable, Sendable {
    public var channels: Int
    public var imageSize: Int
    public var classes: Int
    public init(channels: Int, imageSize: Int, classes: Int) {
      (self.channels, self.imageSize, self.classes) = (channels, imageSize, classes)
    }
  }

  public static let format = "kallima-classifier-1"
  public let backend: Backend
  public let config: Config
  public let parameters: ParameterStore
  private var predictors: [Int: (Plan, Tensor, (probabilities: Value, features: Value))] = [:]

  init(backend: Backend, config: Config, seed: UInt64) throws {
    guard config.imageSize >= 4, config.imageSize % 4 == 0, config.classes >= 2, [1, 3].contains(config.channels) else {
      throw KallimaError.invalidArgument(
        op: "ModeClassifier",
        message: "needs 1 or 3 channels, a size divisible by 4 and at least 2 classes; got \(config)")
    }
    self.backend = backend
    self.config = config
    parameters = ParameterStore(backend: backend, seed: seed)
  }

  /// Width of the penultimate layer (`features`).
  public static let featureWidth = 128

  /// The network applied to x [B, C, S, S]: logits [B, classes].
  func logits(_ b: GraphBinder, _ x: Value) throws -> Value {
    try layers(b, x).logits
  }

  /// The network applied to x: the penultimate activations [B, 128] (after the ReLU) and the
  /// logits [B, classes].
  func layers(_ b: GraphBinder, _ x: Value) throws -> (features: Value, logits: Value) {
    let g = b.graph
    let batch = g.shape(x)[0]
    func he(_ fanIn: Int) -> ParameterInit { .normal(mean: 0, std: Float((2 / Double(fanIn)).squareRoot())) }
    func conv(_ h: Value, index: Int, from c: Int, to k: Int) throws -> Value {
      let w = try b.parameter(parameters, "net.\(index).weight", [k, c, 3, 3], he(9 * c))
      let bias = try b.parameter(parameters, "net.\(index).bias", [k], .constant(0))
      let y = try g.value(.conv2d(Conv2dParams(stride: 1, padding: 1)), [h, w, bias], name: "net.\(index) conv")
      let r = try g.value(.activation(.relu), [y], name: "net.\(index + 1) relu")
      return try g.value(.maxPool2d(Pool2dParams(kernel: 2)), [r], name: "net.\(index + 2) max_pool")
    }
    func linear(_ h: Value, index: Int, from f: Int, to k: Int) throws -> Value {
      let w = try b.parameter(parameters, "net.\(index).weight", [k, f], he(f))
      let bias = try b.parameter(parameters, "net.\(index).bias", [k], .constant(0))
      let y = try g.value(.matmul(transposeA: false, transposeB: true, alpha: 1), [h, w], name: "net.\(index) linear")
      return try g.value(.addChannel, [y, bias], name: "net.\(index) bias")
    }
    var h = try conv(x, index: 0, from: config.channels, to: 32)
    h = try conv(h, index: 3, from: 32, to: 64)
    let features = 64 * (config.imageSize / 4) * (config.imageSize / 4)
    h = try g.value(.reshape([batch, features]), [h], name: "net.6 flatten")
    h = try g.value(.activation(.relu), [try linear(h, index: 7, from: features, to: Self.featureWidth)], name: "net.8 relu")
    return (h, try linear(h, index: 9, from: Self.featureWidth, to: config.classes))
  }

  // MARK: Training

  /// Trains a classifier on `images` [M, C, S, S] (on the device, in [−1, 1]) with class
  /// `labels` (M of them, in 0..<classes): Adam (lr 1e-3, betas 0.9/0.999), softmax
  /// cross-entropy, batches from a per-epoch shuffle with random mirroring, all on the
  /// device. `progress` gets (step, mean loss since the last call) every `logEvery` steps.
  public static func train(
    backend: Backend, images: Tensor, labels: [Int], classes: Int, steps: Int, batch: Int = 128, seed: UInt64 = 0,
    logEvery: Int = 100, progress: ((Int, Float) -> Void)? = nil
  ) throws -> ModeClassifier {
    let (m, c, h, w) = try images.shape.nchw("ModeClassifier.train", "images")
    guard h == w, labels.count == m, steps >= 1, batch >= 1 else {
      throw KallimaError.invalidArgument(
        op: "ModeClassifier.train",
        message: "need square images with one label each and steps, batch >= 1: images \(images.shape), \(labels.count) labels, steps \(steps), batch \(batch)")
    }
    if let bad = labels.first(where: { !(0..<classes).contains($0) }) {
      throw KallimaError.invalidArgument(op: "ModeClassifier.train", message: "label \(bad) is outside 0..<\(classes)")
    }
    let classifier = try ModeClassifier(backend: backend, config: Config(channels: c, imageSize: h, classes: classes), seed: seed)
    var onehot = [Float](repeating: 0, count: m * classes)
    for (i, label) in labels.enumerated() { onehot[i * classes + label] = 1 }
    let targets = try backend.makeTensor([m, classes, 1, 1], values: onehot)
    let accumulator = try backend.zeros([1])

    let g = Graph()
    let b = GraphBinder(graph: g)
    let source = g.input(images.shape, name: "dataset")
    b.bind(source, images)
    let labelSource = g.input(targets.shape, name: "labels")
    b.bind(labelSource, targets)
    // One order for both gathers, so each image meets its own label (mirroring a 1x1 label
    // "image" changes nothing).
    let order = DataOrder(seed: seed, count: m)
    let x = try g.value(.gatherImages(order, batch: batch, flip: true), [source], name: "images")
    let t = try g.value(
      .reshape([batch, classes]), [try g.value(.gatherImages(order, batch: batch, flip: false), [labelSource], name: "labels")])
    let loss = try g.value(.softmaxCrossEntropy, [try classifier.logits(b, x), t], name: "cross-entropy")
    let adam = AdamParams(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0)
    try Optimizer.adam(adam).addUpdates(
      b, classifier.parameters, grads: try GANTrainer.gradients(g, b, classifier.parameters, of: loss))
    let acc = g.parameter([1], name: "loss accumulator")
    b.bind(acc, accumulator)
    try g.add(.accumulate, [acc, loss], name: "accumulate loss")
    let plan = try Plan(graph: g, backend: backend, bindings: b.bindings)

    var since = 0
    for step in 1...steps {
      try plan.run()
      since += 1
      if let progress, step % logEvery == 0 || step == steps {
        let total = try backend.read(accumulator)[0]
        try backend.fill(accumulator, value: 0)
        guard total.isFinite else {
          throw KallimaError.invalidArgument(op: "ModeClassifier.train", message: "the loss became \(total) at step \(step)")
        }
        progress(step, total / Float(since))
        since = 0
      }
    }
    return classifier
  }

  // MARK: Inference

  /// Class probabilities [N, classes] (row-major) for `count` images given as host values
  /// (NCHW in [−1, 1]), classified in batches of `batch` by one eval plan.
  public func probabilities(images: [Float], count: Int, batch: Int = 256) throws -> [Float] {
    try classify(images: images, count: count, batch: batch, features: false).probabilities
  }

  /// The penultimate activations [N, 128] (row-major) of `count` images, for Fréchet
  /// distances in the classifier's feature space (intra-class FID).
  public func features(images: [Float], count: Int, batch: Int = 256) throws -> [Float] {
    try classify(images: images, count: count, batch: batch, probabilities: false).features
  }

  /// Class probabilities [N, classes] and penultimate activations [N, 128] of `count` images
  /// from one run of the eval plan per batch; an output not asked for comes back empty.
  public func classify(
    images: [Float], count: Int, batch: Int = 256, probabilities wantProbabilities: Bool = true, features wantFeatures: Bool = true
  ) throws -> (probabilities: [Float], features: [Float]) {
    let image = config.channels * config.imageSize * config.imageSize
    guard count >= 1, images.count == count * image else {
      throw KallimaError.shapeMismatch(
        op: "classify", message: "\(images.count) values for \(count) images of \(config.channels)x\(config.imageSize)x\(config.imageSize)")
    }
    let n = min(batch, count)
    let (plan, input, outputs) = try predictor(batch: n)
    var probabilities: [Float] = []
    var features: [Float] = []
    var start = 0
    while start < count {
      let take = min(n, count - start)
      var chunk = Array(images[(start * image)..<((start + take) * image)])
      chunk += [Float](repeating: 0, count: (n - take) * image)  // the last batch is padded
      try backend.write(chunk, to: input)
      try plan.run()
      if wantProbabilities { probabilities += try backend.read(plan.tensor(outputs.probabilities)).prefix(take * config.classes) }
      if wantFeatures { features += try backend.read(plan.tensor(outputs.features)).prefix(take * Self.featureWidth) }
      start += take
    }
    return (probabilities, features)
  }

  /// The eval plan for `batch` images (built once per batch size): input tensor and outputs.
  func predictor(batch n: Int) throws -> (Plan, Tensor, (probabilities: Value, features: Value)) {
    if let cached = predictors[n] { return cached }
    let input = try backend.zeros([n, config.channels, config.imageSize, config.imageSize])
    let g = Graph()
    let b = GraphBinder(graph: g)
    let x = g.input(input.shape, name: "images")
    b.bind(x, input)
    let (features, logits) = try layers(b, x)
    let p = try g.value(.softmax, [logits], name: "probabilities")
    let made = (try Plan(graph: g, backend: backend, bindings: b.bindings, keep: [p, features]), input, (p, features))
    predictors[n] = made
    return made
  }

  /// Fraction of `count` images whose most probable class is their label.
  public func accuracy(images: [Float], labels: [Int], batch: Int = 256) throws -> Double {
    let p = try probabilities(images: images, count: labels.count, batch: batch)
    let predicted = ModeCoverage.argmax(p, classes: config.classes)
    return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
  }

  // MARK: Files

  /// Writes the parameters (PyTorch names) and the configuration as safetensors, atomically.
  public func write(to path: String, metadata extra: [String: String] = [:]) throws {
    var tensors: [SafetensorsTensor] = []
    for e in parameters.trainable {
      tensors.append(SafetensorsTensor(name: e.name, shape: e.tensor.shape.dims, values: try backend.read(e.tensor)))
    }
    let config = String(decoding: try JSONEncoder().encode(self.config), as: UTF8.self)
    try SafetensorsFile.write(
      tensors, metadata: extra.merging(["format": ModeClassifier.format, "config": config]) { _, new in new }, to: path)
  }

  /// Loads a classifier written by `write`, checking every tensor's name and shape.
  public static func read(_ path: String, backend: Backend) throws -> ModeClassifier {
    guard FileManager.default.fileExists(atPath: path) else { throw KallimaError.io(path: path, message: "no such classifier file") }
    let (metadata, tensors) = try SafetensorsFile.read(path)
    guard metadata["format"] == format, let text = metadata["config"],
      let config = try? JSONDecoder().decode(Config.self, from: Data(text.utf8))
    else {
      throw KallimaError.io(path: path, message: "not a Kallima classifier (format '\(metadata["format"] ?? "none")', expected '\(format)')")
    }
    let classifier = try ModeClassifier(backend: backend, config: config, seed: 0)
    // Building the network once creates every parameter with its shape.
    let g = Graph()
    _ = try classifier.logits(GraphBinder(graph: g), g.input([1, config.channels, config.imageSize, config.imageSize], name: "x"))
    let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    for e in classifier.parameters.trainable {
      guard let t = byName[e.name], t.shape == e.tensor.shape.dims else {
        throw KallimaError.io(
          path: path, message: "tensor \(e.name) is missing or not \(e.tensor.shape.dims); the file is damaged or from another version")
      }
      try backend.write(t.values, to: e.tensor)
    }
    return classifier
  }
}

/// Mode coverage of a generator on data with known modes (SPEC §6): generated images are
/// classified by a `ModeClassifier` and their predicted-class histogram compared with the
/// real label histogram.
public struct ModeCoverage: Sendable, CustomStringConvertible {
  /// Generated images per class (the classifier's most probable class).
  public var histogram: [Int]
  /// Classes that received at least `threshold` of their real share of the samples.
  public var modesHit: Int
  /// KL(generated class distribution ‖ real label distribution), in nats: 0 when the
  /// generator reproduces the class balance, log(classes) when all samples fall in one class
  /// of a uniform dataset.
  public var kl: Double
  /// Mean of the classifier's top probability over the samples: how recognisable they are.
  public var confidence: Double
  public var samples: Int
  /// A class counts as hit when it gets at least this fraction of its expected count.
  public static let threshold = 0.1

  public static func argmax(_ p: [Float], classes: Int) -> [Int] {
    stride(from: 0, to: p.count, by: classes).map { start in
      var best = 0
      for j in 1..<classes where p[start + j] > p[start + best] { best = j }
      return best
    }
  }

  /// Coverage of samples with class probabilities `p` [N, classes] against the real label
  /// distribution `realCounts` (images per class in the training data).
  public init(probabilities p: [Float], classes: Int, realCounts: [Int]) throws {
    let n = p.count / max(classes, 1)
    guard n >= 1, p.count == n * classes, realCounts.count == classes, realCounts.reduce(0, +) > 0 else {
      throw KallimaError.shapeMismatch(
        op: "mode coverage", message: "\(p.count) probabilities for \(classes) classes and \(realCounts.count) real class counts")
    }
    var histogram = [Int](repeating: 0, count: classes)
    var confidence = 0.0
    for (i, k) in ModeCoverage.argmax(p, classes: classes).enumerated() {
      histogram[k] += 1
      confidence += Double(p[i * classes + k])
    }
    let realTotal = Double(realCounts.reduce(0, +))
    var kl = 0.0
    var hit = 0
    for k in 0..<classes {
      let q = Double(realCounts[k]) / realTotal
      let g = Double(histogram[k]) / Double(n)
      if g > 0 { kl += g * Foundation.log(g / max(q, 1e-12)) }
      if Double(histogram[k]) >= ModeCoverage.threshold * q * Double(n) && histogram[k] > 0 { hit += 1 }
    }
    (self.histogram, self.modesHit, self.kl, self.confidence, self.samples) = (histogram, hit, kl, confidence / Double(n), n)
  }

  public var description: String {
    String(
      format: "modes %d/%d, KL(generated ‖ real classes) %.4f nats, confidence %.3f over %d samples; per class %@",
      modesHit, histogram.count, kl, confidence, samples, histogram.map(String.init).joined(separator: " "))
  }
}

/// Mode coverage of a generator during or after training: a `ModeClassifier` (trained once
/// and cached in a file), the real label histogram, and a fixed set of latent vectors, so
/// successive evaluations of one run compare the same z.
public final class ModeEvaluator {
  public let classifier: ModeClassifier
  public let realCounts: [Int]
  public let samples: Int
  let sampler: Sampler
  let z: [Float]

  public convenience init(
    classifier: ModeClassifier, realCounts: [Int], model: DCGAN, generator: ParameterStore, samples: Int = 2000,
    seed: UInt64 = 0x0E7A1
  ) throws {
    try self.init(
      classifier: classifier, realCounts: realCounts, network: model.generatorNetwork,
      latentShape: [model.config.nz, 1, 1], generator: generator, samples: samples, seed: seed)
  }

  /// Any generator network, bound in eval mode to `generator` (G's store or its EMA).
  public init(
    classifier: ModeClassifier, realCounts: [Int], network: any Layer, latentShape: Shape, generator: ParameterStore,
    samples: Int = 2000, seed: UInt64 = 0x0E7A1
  ) throws {
    guard samples >= 1, realCounts.count == classifier.config.classes else {
      throw KallimaError.invalidArgument(
        op: "mode coverage", message: "need at least one sample and one real count per class (\(classifier.config.classes))")
    }
    self.classifier = classifier
    self.realCounts = realCounts
    self.samples = samples
    // Batches of at most 250 keep the eval plan's memory small at 64x64.
    sampler = try Sampler(
      backend: classifier.backend, network: network, latentShape: latentShape, generator: generator,
      count: min(samples, 250))
    z = Sampler.latents(count: samples, nz: latentShape.count, seed: seed)
  }

  /// Classifies `samples` images from the generator (eval mode) and compares classes.
  public func evaluate() throws -> ModeCoverage {
    var probabilities: [Float] = []
    try sampler.forEachBatch(latents: z) { images, count in
      probabilities += try classifier.probabilities(images: images, count: count)
    }
    return try ModeCoverage(probabilities: probabilities, classes: classifier.config.classes, realCounts: realCounts)
  }

  /// The classifier stored at `path` if it is there and fits the data, else one trained on
  /// `images`/`labels` and written there (atomically). `log` receives progress lines.
  public static func classifier(
    cachedAt path: String, backend: Backend, images: Tensor, labels: [Int], classes: Int, steps: Int = 600,
    seed: UInt64 = 0, log: @escaping (String) -> Void = { _ in }
  ) throws -> ModeClassifier {
    let (_, c, h, _) = try images.shape.nchw("mode classifier", "images")
    if FileManager.default.fileExists(atPath: path) {
      let cached = try ModeClassifier.read(path, backend: backend)
      if cached.config == ModeClassifier.Config(channels: c, imageSize: h, classes: classes) {
        log("mode classifier: \(path)")
        return cached
      }
      log("mode classifier at \(path) was made for \(cached.config); training a new one")
    }
    let start = Date()
    let classifier = try ModeClassifier.train(
      backend: backend, images: images, labels: labels, classes: classes, steps: steps, seed: seed, logEvery: max(steps / 3, 1)
    ) { step, loss in log(String(format: "mode classifier: step %d/%d, cross-entropy %.3f", step, steps, loss)) }
    try classifier.write(to: path, metadata: ["steps": "\(steps)", "images": "\(labels.count)"])
    log(String(format: "mode classifier trained in %.1f s, saved to %@", Date().timeIntervalSince(start), path))
    return classifier
  }
}
