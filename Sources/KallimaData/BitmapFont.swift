/// A fixed 5x7-pixel bitmap font for printable ASCII, embedded in the source, for captions on sample grids.
///
/// Each glyph is 5 pixels wide and 7 high, drawn in a cell of `advance` x `lineHeight` = 6 x 9 pixels: the
/// glyph sits at the cell's left edge, one blank row above and one below, one blank column to its right
/// separating it from the next character. The glyphs follow the style of the classic 5x7 LCD character
/// ROMs (Hitachi HD44780 A00): lowercase descenders (g, j, p, q, y) are drawn inside the 7 rows, so a line
/// never needs more than the cell. Covered: every character 0x20 (space) ... 0x7E (`~`). Any other character
/// (non-ASCII, tab, newline) renders as `placeholder`, a hollow 5x7 box, so it shows rather than vanishing.
///
/// Rendering produces a coverage mask: one byte per pixel, 255 where a glyph pixel is lit and 0 elsewhere,
/// row-major, `width` x `height`. `scale` s draws each font pixel as an s x s block.
public struct BitmapFont: Sendable {
  /// Width of a glyph's ink box in font pixels.
  public static let glyphWidth = 5
  /// Height of a glyph's ink box in font pixels.
  public static let glyphHeight = 7
  /// Horizontal distance between the left edges of consecutive characters: the glyph plus one blank column.
  public static let advance = 6
  /// Height of a rendered line: one blank row, the glyph's 7 rows, one blank row.
  public static let lineHeight = 9
  /// Blank rows above the glyph inside a line.
  public static let glyphTop = 1
  /// What `truncated(_:toWidth:scale:)` appends to a shortened text.
  public static let ellipsis = "..."

  /// The first character the table covers; glyph `i` is for the scalar `firstScalar + i`.
  static let firstScalar: UInt32 = 0x20
  /// The last character the table covers.
  static let lastScalar: UInt32 = 0x7E

  /// Rows of each covered glyph, top to bottom; in each row bit 4 is the leftmost column, bit 0 the rightmost.
  let glyphs: [[UInt8]]
  /// The rows drawn for a character outside 0x20 ... 0x7E: a hollow box.
  let placeholder: [UInt8] = [0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111]

  /// The embedded font.
  public static let standard = BitmapFont(parsing: table)

  /// Whether `character` has its own glyph (it is one scalar in 0x20 ... 0x7E); others draw the placeholder.
  public func covers(_ character: Character) -> Bool { glyphIndex(character) != nil }

  /// The width in pixels of `text` rendered at `scale`: `advance * scale` per character, less the blank
  /// column after the last one (0 for an empty text).
  public func width(of text: String, scale: Int = 1) -> Int {
    precondition(scale >= 1, "BitmapFont: scale is \(scale); use 1 or more")
    return text.isEmpty ? 0 : (text.count * Self.advance - 1) * scale
  }

  /// Renders `text` on one line as a coverage mask (0 or 255 per pixel, row-major, `width` x `height`):
  /// `width == width(of: text, scale: scale)`, `height == lineHeight * scale`. Character i's glyph pixel
  /// (gx, gy) covers the s x s block whose top-left corner is `((i * advance + gx) * s, (glyphTop + gy) * s)`.
  public func render(_ text: String, scale: Int = 1) -> (width: Int, height: Int, pixels: [UInt8]) {
    let width = width(of: text, scale: scale)
    let height = Self.lineHeight * scale
    var pixels = [UInt8](repeating: 0, count: width * height)
    for (i, character) in text.enumerated() {
      let rows = glyphIndex(character).map { glyphs[$0] } ?? placeholder
      for (gy, bits) in rows.enumerated() {
        for gx in 0..<Self.glyphWidth where bits & (1 << (Self.glyphWidth - 1 - gx)) != 0 {
          let left = (i * Self.advance + gx) * scale
          let top = (Self.glyphTop + gy) * scale
          for y in top..<(top + scale) {
            for x in left..<(left + scale) { pixels[y * width + x] = 255 }
          }
        }
      }
    }
    return (width, height, pixels)
  }

  /// `text` if it fits in `maxWidth` pixels at `scale`; otherwise its longest prefix (trailing spaces
  /// dropped) followed by `ellipsis` that fits, or as much of the ellipsis as fits when nothing else does
  /// (possibly the empty string). The result always satisfies `width(of: result, scale: scale) <= maxWidth`.
  public func truncated(_ text: String, toWidth maxWidth: Int, scale: Int = 1) -> String {
    if width(of: text, scale: scale) <= maxWidth { return text }
    // Characters that fit: n characters take (6n - 1) * scale pixels.
    let fitting = max(0, (maxWidth / scale + 1) / Self.advance)
    let room = fitting - Self.ellipsis.count
    if room < 0 { return String(Self.ellipsis.prefix(fitting)) }
    var prefix = String(text.prefix(room))
    while prefix.last == " " { prefix.removeLast() }
    return prefix + Self.ellipsis
  }

  /// The index into `glyphs` for a single-scalar character in 0x20 ... 0x7E, else nil.
  func glyphIndex(_ character: Character) -> Int? {
    let scalars = character.unicodeScalars
    guard scalars.count == 1, let scalar = scalars.first,
      (Self.firstScalar...Self.lastScalar).contains(scalar.value)
    else { return nil }
    return Int(scalar.value - Self.firstScalar)
  }

  /// Reads `table`: blocks separated by blank lines, each a header line naming its characters (character i
  /// at column 6i + 2) and seven pixel rows (glyph i in columns 6i ..< 6i + 5, `#` lit, `.` blank). The
  /// blocks must name 0x20 ... 0x7E in order. The table is a constant of this file, so a malformed one is a
  /// programmer error and stops with a message naming the line; every test that renders text parses it.
  init(parsing table: String) {
    var glyphs: [[UInt8]] = []
    let lines = table.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0) }
    var index = 0
    while index < lines.count {
      if lines[index].isEmpty {
        index += 1
        continue
      }
      let header = lines[index]
      precondition(index + 7 < lines.count, "BitmapFont table: block at line \(index + 1) has fewer than 7 rows")
      let rows = lines[(index + 1)...(index + 7)]
      // A pixel row holds n glyphs of 5 columns separated by single spaces: 6n - 1 characters.
      let count = (rows.first!.count + 1) / Self.advance
      for i in 0..<count {
        let expected = Character(Unicode.Scalar(Self.firstScalar + UInt32(glyphs.count))!)
        let named = 6 * i + 2 < header.count ? header[6 * i + 2] : " "
        precondition(
          named == expected, "BitmapFont table line \(index + 1): glyph \(i) is '\(named)', expected '\(expected)'")
        var glyph: [UInt8] = []
        for (r, row) in rows.enumerated() {
          precondition(row.count >= 6 * i + 5, "BitmapFont table line \(index + 2 + r): too short for glyph \(i)")
          var bits: UInt8 = 0
          for x in 0..<Self.glyphWidth {
            let pixel = row[6 * i + x]
            precondition(
              pixel == "#" || pixel == ".", "BitmapFont table line \(index + 2 + r): '\(pixel)' is not # or .")
            bits = bits << 1 | (pixel == "#" ? 1 : 0)
          }
          glyph.append(bits)
        }
        glyphs.append(glyph)
      }
      index += 8
    }
    precondition(
      glyphs.count == Int(Self.lastScalar - Self.firstScalar + 1),
      "BitmapFont table: \(glyphs.count) glyphs, expected \(Self.lastScalar - Self.firstScalar + 1)")
    self.glyphs = glyphs
  }
}

/// The glyphs, eight to a block. Edit a glyph by changing its `#`s; keep the columns aligned.
private let table = #"""
            !     "     #     $     %     &     '
    ..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#..
    ..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#..
    ..... ..#.. .#.#. ##### #.#.. ...#. #.#.. .#...
    ..... ..#.. ..... .#.#. .###. ..#.. .#... .....
    ..... ..#.. ..... ##### ..#.# .#... #.#.# .....
    ..... ..... ..... .#.#. ####. #..## #..#. .....
    ..... ..#.. ..... .#.#. ..#.. ...## .##.# .....

      (     )     *     +     ,     -     .     /
    ...#. .#... ..... ..... ..... ..... ..... .....
    ..#.. ..#.. ..#.. ..#.. ..... ..... ..... ....#
    .#... ...#. #.#.# ..#.. ..... ..... ..... ...#.
    .#... ...#. .###. ##### ..... ##### ..... ..#..
    .#... ...#. #.#.# ..#.. .##.. ..... ..... .#...
    ..#.. ..#.. ..#.. ..#.. ..#.. ..... .##.. #....
    ...#. .#... ..... ..... .#... ..... .##.. .....

      0     1     2     3     4     5     6     7
    .###. ..#.. .###. ##### ...#. ##### ..##. #####
    #...# .##.. #...# ...#. ..##. #.... .#... ....#
    #..## ..#.. ....# ..#.. .#.#. ####. #.... ...#.
    #.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#..
    ##..# ..#.. ..#.. ....# ##### ....# #...# .#...
    #...# ..#.. .#... #...# ...#. #...# #...# .#...
    .###. .###. ##### .###. ...#. .###. .###. .#...

      8     9     :     ;     <     =     >     ?
    .###. .###. ..... ..... ...#. ..... .#... .###.
    #...# #...# .##.. .##.. ..#.. ..... ..#.. #...#
    #...# #...# .##.. .##.. .#... ##### ...#. ....#
    .###. .#### ..... ..... #.... ..... ....# ...#.
    #...# ....# .##.. .##.. .#... ##### ...#. ..#..
    #...# ...#. .##.. ..#.. ..#.. ..... ..#.. .....
    .###. .##.. ..... .#... ...#. ..... .#... ..#..

      @     A     B     C     D     E     F     G
    .###. .###. ####. .###. ###.. ##### ##### .###.
    #...# #...# #...# #...# #..#. #.... #.... #...#
    ....# #...# #...# #.... #...# #.... #.... #....
    .##.# #...# ####. #.... #...# ####. ####. #.###
    #.#.# ##### #...# #.... #...# #.... #.... #...#
    #.#.# #...# #...# #...# #..#. #.... #.... #...#
    .###. #...# ####. .###. ###.. ##### #.... .####

      H     I     J     K     L     M     N     O
    #...# .###. ..### #...# #.... #...# #...# .###.
    #...# ..#.. ...#. #..#. #.... ##.## #...# #...#
    #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#
    ##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#
    #...# ..#.. ...#. #.#.. #.... #...# #..## #...#
    #...# ..#.. #..#. #..#. #.... #...# #...# #...#
    #...# .###. .##.. #...# ##### #...# #...# .###.

      P     Q     R     S     T     U     V     W
    ####. .###. ####. .#### ##### #...# #...# #...#
    #...# #...# #...# #.... ..#.. #...# #...# #...#
    #...# #...# #...# #.... ..#.. #...# #...# #...#
    ####. #...# ####. .###. ..#.. #...# #...# #.#.#
    #.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.#
    #.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.#
    #.... .##.# #...# ####. ..#.. .###. ..#.. .#.#.

      X     Y     Z     [     \     ]     ^     _
    #...# #...# ##### .###. ..... .###. ..#.. .....
    #...# #...# ....# .#... #.... ...#. .#.#. .....
    .#.#. #...# ...#. .#... .#... ...#. #...# .....
    ..#.. .#.#. ..#.. .#... ..#.. ...#. ..... .....
    .#.#. ..#.. .#... .#... ...#. ...#. ..... .....
    #...# ..#.. #.... .#... ....# ...#. ..... .....
    #...# ..#.. ##### .###. ..... .###. ..... #####

      `     a     b     c     d     e     f     g
    .#... ..... #.... ..... ....# ..... ..##. .....
    ..#.. ..... #.... ..... ....# ..... .#..# .####
    ...#. .###. #.##. .###. .##.# .###. .#... #...#
    ..... ....# ##..# #.... #..## #...# ###.. #...#
    ..... .#### #...# #.... #...# ##### .#... .####
    ..... #...# #...# #...# #...# #.... .#... ....#
    ..... .#### ####. .###. .#### .###. .#... .###.

      h     i     j     k     l     m     n     o
    #.... ..#.. ...#. #.... .##.. ..... ..... .....
    #.... ..... ..... #.... ..#.. ..... ..... .....
    #.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###.
    ##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...#
    #...# ..#.. ...#. ##... ..#.. #.#.# #...# #...#
    #...# ..#.. #..#. #.#.. ..#.. #...# #...# #...#
    #...# .###. .##.. #..#. .###. #...# #...# .###.

      p     q     r     s     t     u     v     w
    ..... ..... ..... ..... .#... ..... ..... .....
    ..... ..... ..... ..... .#... ..... ..... .....
    ####. .##.# #.##. .###. ###.. #...# #...# #...#
    #...# #..## ##..# #.... .#... #...# #...# #...#
    ####. .#### #.... .###. .#... #...# #...# #.#.#
    #.... ....# #.... ....# .#..# #..## .#.#. #.#.#
    #.... ....# #.... ####. ..##. .##.# ..#.. .#.#.

      x     y     z     {     |     }     ~
    ..... ..... ..... ...## ..#.. ##... .....
    ..... ..... ..... ..#.. ..#.. ..#.. .....
    #...# #...# ##### ..#.. ..#.. ..#.. .#...
    .#.#. #...# ...#. .#... ..#.. ...#. #.#.#
    ..#.. .#### ..#.. ..#.. ..#.. ..#.. ...#.
    .#.#. ....# .#... ..#.. ..#.. ..#.. .....
    #...# .###. ##### ...## ..#.. ##... .....
    """#
