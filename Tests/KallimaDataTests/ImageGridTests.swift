import KallimaCore
import KallimaData
import Testing

@Suite("Image grids")
struct ImageGridTests {
  @Test("5 gray 2x2 images in 3 columns with padding 1: layout and value mapping")
  func layout() throws {
    // Image k is filled with value v_k; v = -1, -0.5, 0, 0.5, 1 map to 0, 64, 128, 191, 255.
    let values: [Float] = [-1, -0.5, 0, 0.5, 1]
    let images = values.flatMap { [Float](repeating: $0, count: 4) }
    let grid = try ImageGrid.png(images: images, count: 5, channels: 1, size: 2, columns: 3, padding: 1)
    #expect(grid.width == 3 * 3 + 1 && grid.height == 2 * 3 + 1 && grid.channels == 1)
    let expectedBytes: [UInt8] = [0, 64, 128, 191, 255]
    for k in 0..<5 {
      let left = 1 + (k % 3) * 3
      let top = 1 + (k / 3) * 3
      for y in 0..<2 { for x in 0..<2 { #expect(grid[left + x, top + y, 0] == expectedBytes[k]) } }
    }
    // Padding rows and columns and the unused sixth cell are black.
    for x in 0..<grid.width {
      for y in [0, 3, 6] { #expect(grid[x, y, 0] == 0) }
    }
    #expect(grid[7, 4, 0] == 0 && grid[8, 5, 0] == 0)
    // Image 1 (value 64) does not bleed into the padding column after it.
    #expect(grid[6, 1, 0] == 0)
  }

  @Test("RGB planes interleave, out-of-range values clamp, fewer images than columns shrink the grid")
  func rgbAndClamp() throws {
    // One 1x1 RGB image: R = 2 (clamps to 255), G = -3 (clamps to 0), B = 0 (128).
    let grid = try ImageGrid.png(images: [2, -3, 0], count: 1, channels: 3, size: 1, columns: 8)
    #expect(grid.width == 5 && grid.height == 5)
    #expect((0..<3).map { grid[2, 2, $0] } == [255, 0, 128])
  }

  @Test("Wrong value count is a shape error; writePNG writes a readable file")
  func errorsAndWrite() throws {
    expectKallimaError { _ = try ImageGrid.png(images: [0, 0], count: 1, channels: 3, size: 1) }
    let dir = try ScratchFolder()
    let path = try dir.file("grid.png")
    let images: [Float] = (0..<192).map { (i: Int) -> Float in Float(i % 7) / 3 - 1 }
    try ImageGrid.writePNG(images: images, count: 4, channels: 3, size: 4, columns: 2, to: path)
    let back = try ImageIO.read(path)
    let grid = try ImageGrid.png(images: images, count: 4, channels: 3, size: 4, columns: 2)
    #expect(back == grid)
    #expect(back.width == 2 * 6 + 2 && back.height == 2 * 6 + 2)
  }
}
