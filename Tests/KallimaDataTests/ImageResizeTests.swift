import KallimaCore
import KallimaData
import Testing

@Suite("Resize (box when shrinking, bilinear when enlarging) and centre crop")
struct ImageResizeTests {
  func gray(_ width: Int, _ height: Int, _ values: [Int]) throws -> RGBImage {
    try RGBImage(width: width, height: height, channels: 1, pixels: values.map(UInt8.init))
  }

  @Test("4x4 -> 2: each output is the mean of a 2x2 block")
  func areaAverageHalving() throws {
    let image = try gray(4, 4, [
      0, 10, 20, 30,
      40, 50, 60, 70,
      100, 100, 0, 0,
      200, 200, 0, 4,
    ])
    let out = try ImageResize.resizeAndCenterCrop(image, size: 2)
    #expect(out.pixels == [25, 45, 150, 1])
  }

  @Test("4x2 -> 2: shorter side already 2, so only the centre crop (columns 1 and 2)")
  func cropOnly() throws {
    let image = try gray(4, 2, [1, 2, 3, 4, 5, 6, 7, 8])
    #expect(try ImageResize.resizeAndCenterCrop(image, size: 2).pixels == [2, 3, 6, 7])
  }

  @Test("6x4 -> 2: area-average to 3x2, crop starts at floor((3 - 2) / 2) = 0")
  func averageThenCrop() throws {
    let image = try gray(6, 4, [
      0, 2, 10, 12, 100, 102,
      4, 6, 14, 16, 104, 106,
      20, 20, 30, 30, 40, 40,
      20, 20, 30, 30, 40, 40,
    ])
    #expect(try ImageResize.resizeAndCenterCrop(image, size: 2).pixels == [3, 13, 20, 30])
  }

  @Test("3x3 -> 2: fractional footprints weight the middle pixel by 1/3")
  func fractionalArea() throws {
    // Footprints [0, 1.5) and [1.5, 3): out0 = (a + b/2) / 1.5, out1 = (b/2 + c) / 1.5.
    let image = try gray(3, 3, [
      0, 30, 90,
      0, 30, 90,
      0, 30, 90,
    ])
    #expect(try ImageResize.resizeAndCenterCrop(image, size: 2).pixels == [10, 70, 10, 70])
  }

  @Test("2x2 -> 4: bilinear with align_corners=False matches PyTorch")
  func bilinearEnlarge() throws {
    // torch.nn.functional.interpolate(x, size=4, mode="bilinear", align_corners=False) of
    // [[0, 40], [80, 120]] gives rows [0, 10, 30, 40], [20, 30, 50, 60], [60, 70, 90, 100], [80, 90, 110, 120].
    let image = try gray(2, 2, [0, 40, 80, 120])
    let out = try ImageResize.resizeAndCenterCrop(image, size: 4)
    #expect(out.pixels == [0, 10, 30, 40, 20, 30, 50, 60, 60, 70, 90, 100, 80, 90, 110, 120])
  }

  @Test("RGB channels are resized independently; same size is the identity")
  func rgbAndIdentity() throws {
    let image = try makeImage(width: 4, height: 4) { x, y, c in c == 0 ? 0 : c == 1 ? 255 : (x / 2) * 100 }
    let out = try ImageResize.resizeAndCenterCrop(image, size: 2)
    #expect(out.channels == 3)
    #expect(out.pixels == [0, 255, 0, 0, 255, 100, 0, 255, 0, 0, 255, 100])
    let odd = try makeImage(width: 5, height: 5) { x, y, c in x * 40 + y + c }
    #expect(try ImageResize.resizeAndCenterCrop(odd, size: 5) == odd)
  }

  @Test("A tall image crops vertically; size 0 is rejected")
  func tallAndInvalid() throws {
    let image = try gray(2, 6, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6])
    // Shorter side 2 = size: crop rows floor((6 - 2) / 2) = 2 and 3.
    #expect(try ImageResize.resizeAndCenterCrop(image, size: 2).pixels == [3, 3, 4, 4])
    expectKallimaError { _ = try ImageResize.resizeAndCenterCrop(image, size: 0) }
  }
}
