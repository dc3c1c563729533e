/// Column-aligned plain text: the first row is the header, underlined with dashes.
public struct TextTable {
  public var rows: [[String]]
  /// Columns padded on the right (text); the rest are padded on the left (numbers).
  public var leftAligned: Set<Int>

  public init(header: [String], leftAligned: Set<Int> = [0]) {
    rows = [header]
    self.leftAligned = leftAligned
  }

  public mutating func append(_ row: [String]) { rows.append(row) }

  public func render() -> [String] {
    let columns = rows.map(\.count).max() ?? 0
    var widths = [Int](repeating: 0, count: columns)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    var lines: [String] = []
    for (r, row) in rows.enumerated() {
      let cells = row.enumerated().map { i, cell -> String in
        let pad = String(repeating: " ", count: widths[i] - cell.count)
        return leftAligned.contains(i) ? cell + pad : pad + cell
      }
      var line = cells.joined(separator: "  ")
      while line.last == " " { line.removeLast() }
      lines.append(line)
      if r == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
    }
    return lines
  }
}
