import KallimaCore
import KallimaData
import KallimaGAN

/// Comparison grids of held-out images, one row per image:
/// - pix2pix: input | output | target;
/// - CycleGAN: A | G_A(A) | G_B(G_A(A)) (| the paired B), then the same rows from B;
/// - StarGAN: input | the translation to each label flipped (attributes) or set (domains).
/// Gray images are shown as RGB when the other side is colour.
enum TranslationGrid {
  static func make(run: TranslationRun, rows: Int) throws -> RGBImage {
    let d = run.data
    let size = run.options.size
    let channels = max(d.channelsA, d.channelsB)
    var cells: [[Float]] = []
    func image(_ values: [Float], _ i: Int, _ c: Int) -> [Float] {
      let n = c * size * size
      let one = Array(values[(i * n)..<((i + 1) * n)])
      return c == channels ? one : (0..<channels).flatMap { _ in one }
    }
    let shapeA: Shape = [d.channelsA, size, size]
    let shapeB: Shape = [d.channelsB, size, size]
    let a = Array(d.testA.prefix(rows * shapeA.count))
    switch run.options.method {
    case .pix2pix:
      let out = try run.translator().translate(a, image: shapeA).values
      for i in 0..<rows {
        cells += [image(a, i, d.channelsA), image(out, i, d.channelsB)]
        if let b = d.testB { cells.append(image(b, i, d.channelsB)) }
      }
    case .cyclegan:
      let (gA, gB) = (try run.translator(.aToB), try run.translator(.bToA))
      let fakeB = try gA.translate(a, image: shapeA).values
      let recA = try gB.translate(fakeB, image: shapeB).values
      let rowsB = min(rows, d.testBCount)
      let b = Array((d.testB ?? []).prefix(rowsB * shapeB.count))
      let fakeA = try gB.translate(b, image: shapeB).values
      let recB = try gA.translate(fakeA, image: shapeA).values
      for i in 0..<rows {
        cells += [image(a, i, d.channelsA), image(fakeB, i, d.channelsB), image(recA, i, d.channelsA)]
        if d.testPairs { cells.append(image(b, i, d.channelsB)) }
      }
      for i in 0..<rowsB {
        cells += [image(b, i, d.channelsB), image(fakeA, i, d.channelsA), image(recB, i, d.channelsB)]
        if d.testPairs { cells.append(image(a, i, d.channelsA)) }
      }
    case .stargan:
      let labels = d.testLabels ?? []
      let width = d.vocabulary?.width ?? 0
      let g = try run.translator()
      var outs: [[Float]] = []
      for k in 0..<width {
        let targets = TranslationEvaluator.targets(labels, count: rows, width: width, column: k, multiLabel: run.options.multiLabel)
        outs.append(try g.translate(a, image: shapeA, targets: targets).values)
      }
      for i in 0..<rows {
        cells.append(image(a, i, d.channelsA))
        for k in 0..<width { cells.append(image(outs[k], i, d.channelsA)) }
      }
    }
    let columns = cells.count / max(1, rows + (run.options.method == .cyclegan ? min(rows, d.testBCount) : 0))
    return try ImageGrid.png(
      images: cells.flatMap { $0 }, count: cells.count, channels: channels, size: size, columns: max(1, columns))
  }
}
