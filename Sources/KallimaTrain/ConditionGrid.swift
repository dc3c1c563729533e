import KallimaCore
import KallimaData
import KallimaGAN

/// A conditional generator's sample grid: one row per condition, the same latent vector down
/// each column (so a column shows one z under every condition), and the condition's caption
/// under its row.
public struct ConditionGrid {
  public struct Row {
    public var caption: String
    /// The condition row, `width` values.
    public var vector: [Float]
    public init(caption: String, vector: [Float]) { (self.caption, self.vector) = (caption, vector) }
  }

  public let rows: [Row]
  public let columns: Int
  /// `columns` latent vectors, shared by every row.
  public let latents: [Float]

  public init(rows: [Row], columns: Int, nz: Int, seed: UInt64) throws {
    guard !rows.isEmpty, columns >= 1, let width = rows.first?.vector.count, rows.allSatisfy({ $0.vector.count == width }) else {
      throw KallimaError.invalidArgument(op: "condition grid", message: "need at least one row and column, and rows of one width")
    }
    self.rows = rows
    self.columns = columns
    latents = Sampler.latents(count: columns, nz: nz, seed: seed)
  }

  /// The most rows a training run's grid shows.
  public static let maxRows = 16

  /// The grid a training run writes for `conditions`, about `images` images: every class (up
  /// to `maxRows`), or the first distinct captions of the data (up to 8) for tags, text and
  /// embeddings.
  public init(conditions: ConditionSet, images: Int, nz: Int, seed: UInt64) throws {
    let v = conditions.vocabulary
    var rows: [Row] = []
    if v.kind == .class {
      for (k, name) in v.names.prefix(Self.maxRows).enumerated() {
        var row = [Float](repeating: 0, count: v.width)
        row[k] = 1
        rows.append(Row(caption: name, vector: row))
      }
    } else {
      var seen: Set<String> = []
      for i in 0..<conditions.count where rows.count < 8 && seen.insert(conditions.captions[i]).inserted {
        rows.append(
          Row(caption: conditions.captions[i], vector: Array(conditions.vectors[(i * v.width)..<((i + 1) * v.width)])))
      }
    }
    try self.init(rows: rows, columns: max(images / max(rows.count, 1), 1), nz: nz, seed: seed)
  }

  /// The latent vectors and condition rows of every image, row by row.
  public var inputs: (latents: [Float], conditions: [Float]) {
    var z: [Float] = []
    var c: [Float] = []
    for row in rows {
      z += latents
      for _ in 0..<columns { c += row.vector }
    }
    return (z, c)
  }

  /// Generates the grid with `sampler` (a conditional G) and writes it as a PNG, atomically.
  public func write(sampler: Sampler, channels: Int, size: Int, to path: String) throws {
    let (z, c) = inputs
    var images: [Float] = []
    try sampler.forEachBatch(latents: z, conditions: c) { batch, _ in images += batch }
    try ImageGrid.writeCaptionedPNG(
      images: images, rows: rows.count, columns: columns, channels: channels, size: size, captions: rows.map(\.caption),
      to: path)
  }
}
