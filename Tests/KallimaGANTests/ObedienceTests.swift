import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import Testing

/// Does G obey its condition? SPEC §3's claim, measured in the suite on a task whose classes
/// a pixel statistic recognises: 8x8 images whose class k (of 4) is the bright quadrant k.
/// A conditional G trained against each conditional head must put the brightness where it
/// is asked; against a D that sees x alone (head `none`), nothing ties the quadrant to c and
/// G's conditional accuracy stays near chance. (The Fashion-MNIST version, with a trained
/// classifier, is Scripts/obedience.sh; its table is in the closing note of issue 10.)
@Suite("Obedience: G follows the condition only when D scores pairs")
struct ObedienceTests {
  static let classes = 4
  static let size = 8

  /// `count` images: background −1 with small noise, the class's quadrant at a random
  /// brightness in [0.2, 1], and the one-hot rows.
  static func quadrants(count: Int, seed: UInt64) -> (images: [Float], rows: [Float], labels: [Int]) {
    var images: [Float] = []
    var rows: [Float] = []
    var labels: [Int] = []
    let stream = RandomStream(seed: seed)
    for n in 0..<count {
      let k = n % classes
      let level = 0.2 + 0.8 * Philox.uniform(stream: stream, index: 3 * n, low: 0, high: 1)
      for y in 0..<size {
        for x in 0..<size {
          let inside = (y / 4) == k / 2 && (x / 4) == k % 2
          let noise = 0.1 * (Philox.uniform(stream: stream, index: 1000 * (n + 1) + y * size + x, low: -0.5, high: 0.5))
          images.append(inside ? level : -1 + abs(noise))
        }
      }
      rows += (0..<classes).map { $0 == k ? 1 : 0 }
      labels.append(k)
    }
    return (images, rows, labels)
  }

  /// The class a pixel statistic reads from an image: its brightest quadrant.
  static func quadrant(of image: ArraySlice<Float>) -> Int {
    let base = image.startIndex
    var sums = [Float](repeating: 0, count: classes)
    for y in 0..<size { for x in 0..<size { sums[(y / 4) * 2 + x / 4] += image[base + y * size + x] } }
    return sums.indices.max { sums[$0] < sums[$1] }!
  }

  /// A small conditional DCGAN (8x8, width 16) trained `steps` steps on `images` [M, C, 8, 8]
  /// with condition `rows` [M, width] against `head` (the projection head with hinge and
  /// spectral norm, as Miyato & Koyama), on PoCL; returns a sampler of 64 images over its G.
  static func trainedSampler(
    _ head: DiscriminatorHead, targets: ConditionTargets, channels: Int, images: [Float], rows: [Float], steps: Int
  ) throws -> Sampler {
    let cl = try OpenCLBackend()
    let width = rows.count * channels * size * size / images.count
    let count = images.count / (channels * size * size)
    let config = DCGANConfig(nz: 8, ngf: 16, ndf: 16, channels: channels, imageSize: size, discriminatorNorm: .none)
    let conditioning = Conditioning(width: width, targets: targets, head: head, embedding: 8)
    var recipe = GANRecipe(
      generator: try Architecture.dcgan.conditionalGenerator(config, conditioning),
      discriminator: try Architecture.dcgan.conditionalDiscriminator(config, conditioning), latentShape: [8, 1, 1],
      imageShape: [channels, size, size], objective: head == .projection ? .hinge : .nonSaturating, sizes: config,
      conditioning: conditioning)
    recipe.spectralNorm = head == .projection
    let trainer = try GANTrainer(
      backend: cl, recipe: recipe, batch: 32, seed: 4, noise: .device(seed: 5),
      data: .dataset(try cl.makeTensor([count, channels, size, size], values: images), seed: 6, flip: false),
      conditions: try cl.makeTensor([count, width, 1, 1], values: rows))
    for _ in 0..<steps { try trainer.step() }
    let stats = try trainer.readStatistics()
    #expect(stats.lossD.isFinite && stats.lossG.isFinite, "\(head): \(stats)")
    return try Sampler(
      backend: cl, network: recipe.generator, latentShape: recipe.latentShape, generator: trainer.generatorParameters,
      count: 64, conditionWidth: width)
  }

  /// Conditional accuracy of a G trained `steps` steps against `head`.
  static func accuracy(_ head: DiscriminatorHead, steps: Int) throws -> Double {
    let data = quadrants(count: 256, seed: 11)
    let sampler = try trainedSampler(
      head, targets: .exclusive, channels: 1, images: data.images, rows: data.rows, steps: steps)
    // 64 images per class from the same 64 latent vectors.
    let z = Sampler.latents(count: 64, nz: 8, seed: 21)
    var correct = 0
    for k in 0..<classes {
      let c = (0..<64).flatMap { _ in (0..<classes).map { $0 == k ? Float(1) : 0 } }
      let out = try sampler.images(z: z, conditions: c)
      for i in 0..<64 where quadrant(of: out[(i * size * size)..<((i + 1) * size * size)]) == k { correct += 1 }
    }
    return Double(correct) / Double(64 * classes)
  }

  @Test("the quadrant statistic reads every real image's class (so it can judge G)")
  func statisticReadsRealData() {
    let data = Self.quadrants(count: 200, seed: 3)
    for n in 0..<200 {
      #expect(Self.quadrant(of: data.images[(n * 64)..<((n + 1) * 64)]) == data.labels[n], "image \(n)")
    }
  }

  /// Measured on PoCL at 1500 steps: none 0.24, concat 0.25, matching, two-head, projection,
  /// acgan and stackgan 1.00 each (at 1000 steps two-head reached 0.75 and the others the same; at 300
  /// matching 0.55 and projection 0.26: the pair heads need the longer run). The plain
  /// concat D, trained on two kinds of pair only, did not make G obey within 1500 steps: the
  /// mismatched pairs (matching, two-head) or a class signal (projection, AC-GAN) are what
  /// teach D to check the condition — Reed et al.'s reason for GAN-CLS. It is left out here
  /// (a case with nothing to assert); `ConditionalTests` checks that it trains.
  @Test(
    "conditional accuracy per head on PoCL: far above chance (1/4) when D scores pairs, near chance when D sees x alone",
    arguments: DiscriminatorHead.allCases.filter { $0 != .concat })
  func obedience(_ head: DiscriminatorHead) throws {
    let steps = Int(ProcessInfo.processInfo.environment["OBEDIENCE_STEPS"] ?? "1500")!
    let accuracy = try Self.accuracy(head, steps: steps)
    print("obedience \(head.rawValue) after \(steps) steps: \(accuracy)")
    if head == .unconditional {
      #expect(accuracy < 0.4, "a D that sees x alone cannot make G obey: \(accuracy)")
    } else {
      #expect(accuracy > 0.75, "\(head): \(accuracy)")
    }
  }

  // MARK: Composition: tag pairs never seen in training

  /// 3x8x8 images of a coloured quadrant: tags {position (4), colour (3)}, multi-hot over 7
  /// tags. Three of the 12 pairs are held out of the data (one per colour, three different
  /// positions); the rest appear evenly.
  static let heldOut: Set<[Int]> = [[0, 0], [1, 1], [2, 2]]  // [position, colour]

  static func colouredQuadrants(count: Int, seed: UInt64) -> (images: [Float], rows: [Float]) {
    var images: [Float] = []
    var rows: [Float] = []
    let stream = RandomStream(seed: seed)
    let pairs = (0..<4).flatMap { p in (0..<3).map { [p, $0] } }.filter { !heldOut.contains($0) }
    for n in 0..<count {
      let pair = pairs[n % pairs.count]
      let level = Philox.uniform(stream: stream, index: n, low: 0.3, high: 1)
      for channel in 0..<3 {
        for y in 0..<size {
          for x in 0..<size {
            let inside = (y / 4) * 2 + x / 4 == pair[0]
            images.append(inside && channel == pair[1] ? level : -1)
          }
        }
      }
      rows += (0..<7).map { $0 == pair[0] || $0 == 4 + pair[1] ? 1 : 0 }
    }
    return (images, rows)
  }

  /// The (position, colour) a pixel statistic reads: the brightest quadrant over all
  /// channels, and the brightest channel in it.
  static func read(_ image: ArraySlice<Float>) -> [Int] {
    let base = image.startIndex
    var sums = [[Float]](repeating: [0, 0, 0], count: 4)
    for c in 0..<3 {
      for y in 0..<size { for x in 0..<size { sums[(y / 4) * 2 + x / 4][c] += image[base + (c * size + y) * size + x] } }
    }
    let position = (0..<4).max { sums[$0].reduce(0, +) < sums[$1].reduce(0, +) }!
    let colour = (0..<3).max { sums[position][$0] < sums[position][$1] }!
    return [position, colour]
  }

  /// Measured on PoCL at 1500 steps (seen pairs; held-out pairs: both right, position,
  /// colour): AC-GAN 1.00; 0.33, 0.67, 0.67 — projection 0.67; 0.00, 0.00, 1.00 — matching
  /// 0.33; 0.00, 0.00, 1.00. The pair heads carry the colour tag to unseen pairs but draw it
  /// where that colour was seen; AC-GAN's per-tag classifier composes one pair of the three
  /// in full. Asserted for AC-GAN: seen pairs obeyed, held-out pairs above twice chance.
  @Test("composition on PoCL: a tag-conditional G (AC-GAN) draws position-colour pairs it never saw")
  func composition() throws {
    let steps = Int(ProcessInfo.processInfo.environment["OBEDIENCE_STEPS"] ?? "1500")!
    let head = DiscriminatorHead(rawValue: ProcessInfo.processInfo.environment["COMPOSITION_HEAD"] ?? "acgan")!
    let data = Self.colouredQuadrants(count: 270, seed: 12)
    for n in 0..<270 { #expect(!Self.heldOut.contains(Self.read(data.images[(n * 192)..<((n + 1) * 192)]))) }
    let sampler = try Self.trainedSampler(
      head, targets: .multiLabel, channels: 3, images: data.images, rows: data.rows, steps: steps)
    let z = Sampler.latents(count: 64, nz: 8, seed: 21)
    // Per kind of pair: images with both right, the position right, the colour right.
    var seen = [0, 0, 0, 0]
    var held = [0, 0, 0, 0]
    for position in 0..<4 {
      for colour in 0..<3 {
        let row: [Float] = (0..<7).map { $0 == position || $0 == 4 + colour ? 1 : 0 }
        let out = try sampler.images(z: z, conditions: Array(repeatElement(row, count: 64).joined()))
        var counts = [0, 0, 0, 64]
        for i in 0..<64 {
          let r = Self.read(out[(i * 192)..<((i + 1) * 192)])
          counts[0] += r == [position, colour] ? 1 : 0
          counts[1] += r[0] == position ? 1 : 0
          counts[2] += r[1] == colour ? 1 : 0
        }
        if Self.heldOut.contains([position, colour]) { held = zip(held, counts).map(+) } else { seen = zip(seen, counts).map(+) }
      }
    }
    let seenAccuracy = Double(seen[0]) / Double(seen[3])
    let heldAccuracy = Double(held[0]) / Double(held[3])
    let (heldPosition, heldColour) = (Double(held[1]) / Double(held[3]), Double(held[2]) / Double(held[3]))
    print("composition, \(head.rawValue) D, after \(steps) steps: seen pairs \(seenAccuracy), held-out pairs \(heldAccuracy) "
      + "(chance 1/12): position \(heldPosition), colour \(heldColour)")
    #expect(seenAccuracy > 0.9, "seen pairs: \(seenAccuracy)")
    #expect(heldAccuracy > 2.0 / 12, "held-out pairs: \(heldAccuracy)")
  }
}
