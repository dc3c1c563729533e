import Foundation
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGAN

/// One evaluation of a translation run on its held-out split, as logged to metrics.jsonl
/// (metric "translation"). Intensities in [0, 1]:
/// - pix2pix: `l1`, `psnr`, `ssim` of outputs against the targets, and `sharpness`, the
///   outputs' mean neighbour difference over the targets' (1: as sharp; blur is below 1);
/// - CycleGAN: `cycle_A` = L1(G_B(G_A(a)), a), `cycle_B`; `domain_accuracy_AtoB` = the
///   fraction of G_A(a) a domain classifier calls B (0 for a translation that changes
///   nothing), `domain_accuracy_BtoA`; with paired test files also `l1_AtoB`, `ssim_AtoB`,
///   `psnr_AtoB` against the partner, the same B→A, and `l1_unchanged` (each test image
///   against its partner: what a translation that changes nothing scores);
/// - StarGAN: `reconstruction` = L1(G(G(x, c'), c), x) over every target c'; per label k,
///   `accuracy_<name>` = how often the classifier reads label k of the target in G(x, c')
///   (attributes: c' = c with k flipped; domains: c' = domain k), and `accuracy` their mean;
///   on the project's attribute set also `l1_truth` and `ssim_truth` against the garment
///   rendered under c'.
public struct TranslationEvaluation: Sendable {
  public var iteration: Int
  public var values: [String: Double]

  public var description: String {
    values.sorted { $0.key < $1.key }.map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(separator: ", ")
  }
}

/// Runs the evaluations; trains (once) the classifier the CycleGAN and StarGAN accuracies use.
final class TranslationEvaluator {
  unowned let run: TranslationRun
  let classifier: ModeClassifier?

  init(run: TranslationRun, note: (String) -> Void) throws {
    self.run = run
    let path = run.folder.appendingPathComponent("classifier.safetensors").path
    guard let set = run.data.classifier, run.options.classifierSteps > 0, run.options.method != .pix2pix else {
      classifier = nil
      return
    }
    if FileManager.default.fileExists(atPath: path), let c = try? ModeClassifier.read(path, backend: run.backend),
      c.config.classes == set.classes, c.config.imageSize == run.options.size
    {
      classifier = c
      return
    }
    let count = set.labels.count
    let images = try run.backend.makeTensor([count, run.data.channelsA, run.options.size, run.options.size], values: set.images)
    let start = Date()
    let c = try ModeClassifier.train(
      backend: run.backend, images: images, labels: set.labels, classes: set.classes, steps: run.options.classifierSteps,
      batch: min(128, count), seed: run.options.seed &+ 0xC1A5)
    try c.write(to: path)
    note(String(format: "evaluation classifier: %d classes, %d training images, %.1f s", set.classes, count, Date().timeIntervalSince(start)))
    classifier = c
  }

  /// Label rows for `count` images whose own rows are `labels`: label `column` flipped
  /// (attributes) or set as the one domain (domains).
  static func targets(_ labels: [Float], count: Int, width: Int, column: Int, multiLabel: Bool) -> [Float] {
    var out = [Float](repeating: 0, count: count * width)
    for i in 0..<count {
      for k in 0..<width {
        out[i * width + k] = multiLabel ? (k == column ? 1 - labels[i * width + k] : labels[i * width + k]) : (k == column ? 1 : 0)
      }
    }
    return out
  }

  func evaluate(iteration: Int) throws -> TranslationEvaluation {
    let d = run.data
    let size = run.options.size
    let shapeA: Shape = [d.channelsA, size, size]
    let shapeB: Shape = [d.channelsB, size, size]
    var v: [String: Double] = [:]
    func mean(_ x: [Double]) -> Double { x.isEmpty ? .nan : x.reduce(0, +) / Double(x.count) }
    switch run.options.method {
    case .pix2pix:
      let out = try run.translator().translate(d.testA, image: shapeA).values
      let s = try ImageFidelity.scores(out, d.testB!, shape: Shape([d.testCount] + shapeB.dims))
      (v["l1"], v["psnr"], v["ssim"]) = (s.meanL1, s.meanPSNR, s.meanSSIM)
      let shape = Shape([d.testCount] + shapeB.dims)
      v["sharpness"] = mean(try ImageFidelity.sharpness(out, shape: shape)) / mean(try ImageFidelity.sharpness(d.testB!, shape: shape))
    case .cyclegan:
      let (gA, gB) = (try run.translator(.aToB), try run.translator(.bToA))
      let b = d.testB ?? []
      let fakeB = try gA.translate(d.testA, image: shapeA).values
      let fakeA = try gB.translate(b, image: shapeB).values
      let recA = try gB.translate(fakeB, image: shapeB).values
      let recB = try gA.translate(fakeA, image: shapeA).values
      v["cycle_A"] = mean(try ImageFidelity.l1(recA, d.testA, shape: Shape([d.testCount] + shapeA.dims)))
      v["cycle_B"] = mean(try ImageFidelity.l1(recB, b, shape: Shape([d.testBCount] + shapeB.dims)))
      if d.testPairs, d.testCount == d.testBCount {
        let ab = try ImageFidelity.scores(fakeB, b, shape: Shape([d.testCount] + shapeB.dims))
        let ba = try ImageFidelity.scores(fakeA, d.testA, shape: Shape([d.testCount] + shapeA.dims))
        (v["l1_AtoB"], v["psnr_AtoB"], v["ssim_AtoB"]) = (ab.meanL1, ab.meanPSNR, ab.meanSSIM)
        (v["l1_BtoA"], v["psnr_BtoA"], v["ssim_BtoA"]) = (ba.meanL1, ba.meanPSNR, ba.meanSSIM)
        if d.channelsA == d.channelsB {
          // What a translation that changes nothing scores: each test image against its partner.
          v["l1_unchanged"] = mean(try ImageFidelity.l1(d.testA, b, shape: Shape([d.testCount] + shapeA.dims)))
        }
      }
      if let classifier, d.channelsA == d.channelsB {
        let toB = ModeCoverage.argmax(try classifier.probabilities(images: fakeB, count: d.testCount), classes: 2)
        let toA = ModeCoverage.argmax(try classifier.probabilities(images: fakeA, count: d.testBCount), classes: 2)
        v["domain_accuracy_AtoB"] = Double(toB.filter { $0 == 1 }.count) / Double(max(1, toB.count))
        v["domain_accuracy_BtoA"] = Double(toA.filter { $0 == 0 }.count) / Double(max(1, toA.count))
      }
    case .stargan:
      let labels = d.testLabels ?? []
      let width = d.vocabulary?.width ?? 0
      let names = d.vocabulary?.names ?? []
      let g = try run.translator()
      let multi = run.options.multiLabel
      var reconstruction: [Double] = []
      var accuracies: [Double] = []
      var truth: (l1: [Double], ssim: [Double]) = ([], [])
      for k in 0..<width {
        let targets = Self.targets(labels, count: d.testCount, width: width, column: k, multiLabel: multi)
        let out = try g.translate(d.testA, image: shapeA, targets: targets).values
        let back = try g.translate(out, image: shapeA, targets: labels).values
        reconstruction += try ImageFidelity.l1(back, d.testA, shape: Shape([d.testCount] + shapeA.dims))
        if let groundTruth = d.groundTruth {
          let expected = (0..<d.testCount).flatMap { i in groundTruth(i, Array(targets[(i * width)..<((i + 1) * width)])) }
          let s = try ImageFidelity.scores(out, expected, shape: Shape([d.testCount] + shapeA.dims))
          truth.l1 += s.l1
          truth.ssim += s.ssim
        }
        guard let classifier else { continue }
        let predicted = ModeCoverage.argmax(
          try classifier.probabilities(images: out, count: d.testCount), classes: classifier.config.classes)
        let hits = (0..<d.testCount).filter { i in
          multi ? ((predicted[i] >> k) & 1 == 1) == (targets[i * width + k] > 0.5) : predicted[i] == k
        }.count
        let accuracy = Double(hits) / Double(max(1, d.testCount))
        v["accuracy_" + (k < names.count ? names[k] : "\(k)")] = accuracy
        accuracies.append(accuracy)
      }
      v["reconstruction"] = mean(reconstruction)
      if !truth.l1.isEmpty { (v["l1_truth"], v["ssim_truth"]) = (mean(truth.l1), mean(truth.ssim)) }
      if !accuracies.isEmpty { v["accuracy"] = mean(accuracies) }
    }
    return TranslationEvaluation(iteration: iteration, values: v)
  }
}
