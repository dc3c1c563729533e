import Foundation
import KallimaCore
import KallimaData
import Testing

@Suite("idx3 images and idx1 labels, plain and gzip")
struct IDXTests {
  let images = try! IDX.Images(count: 3, rows: 2, columns: 2, pixels: (0..<12).map { UInt8($0 * 20) })

  @Test("Plain and gzip files written here read back identically")
  func roundTrip() throws {
    let dir = try ScratchFolder()
    let plain = try dir.write(IDX.encode(images), to: "images-idx3-ubyte")
    let gz = try dir.file("images-idx3-ubyte.gz")
    try Gzip.write(IDX.encode(images), to: gz)
    #expect(try readBytes(gz).prefix(2) == [0x1F, 0x8B])
    #expect(try IDX.readImages(plain) == images)
    #expect(try IDX.readImages(gz) == images)
    #expect(try IDX.readImages(gz).image(1).pixels == [80, 100, 120, 140])

    let labelsGz = try dir.file("labels.gz")
    try Gzip.write(IDX.encode(labels: [1, 9, 0]), to: labelsGz)
    #expect(try IDX.readLabels(labelsGz) == [1, 9, 0])
  }

  @Test("The gzip fixture made by the gzip tool reads as expected")
  func fixtureFile() throws {
    let read = try IDX.readImages(try fixture("tiny-images-idx3-ubyte.gz"))
    #expect(read.count == 2 && read.rows == 2 && read.columns == 3)
    #expect(read.pixels == (0..<12).map { UInt8($0 * 10) })
    #expect(try IDX.readLabels(try fixture("tiny-labels-idx1-ubyte.gz")) == [7, 3])
  }

  @Test("Wrong magic, short header, wrong length and truncated gzip are clear io errors")
  func validation() throws {
    let dir = try ScratchFolder()
    let good = IDX.encode(images)

    let labelsAsImages = try dir.write(IDX.encode(labels: [1, 2]), to: "labels")
    let magic = expectKallimaError { _ = try IDX.readImages(labelsAsImages) }
    #expect(magic?.description.contains("0x00000801 is not 0x00000803") == true, "\(String(describing: magic))")
    #expect(magic?.description.contains("labels file") == true)

    let short = try dir.write(Array(good.prefix(10)), to: "short")
    #expect(expectKallimaError { _ = try IDX.readImages(short) }?.description.contains("too short") == true)

    let truncated = try dir.write(Array(good.dropLast(1)), to: "truncated")
    let length = expectKallimaError { _ = try IDX.readImages(truncated) }
    #expect(length?.description.contains("promises 3 images") == true, "\(String(describing: length))")

    let trailing = try dir.write(good + [0], to: "trailing")
    expectKallimaError { _ = try IDX.readImages(trailing) }

    var zeroRows = good
    zeroRows[11] = 0
    let empty = try dir.write(zeroRows, to: "zero-rows")
    expectKallimaError { _ = try IDX.readImages(empty) }

    let labels = try dir.write(IDX.encode(labels: [1, 2, 3]).dropLast(1).map { $0 }, to: "labels-short")
    #expect(expectKallimaError { _ = try IDX.readLabels(labels) }?.description.contains("promises 3 labels") == true)

    let gz = try dir.file("whole.gz")
    try Gzip.write((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }, to: gz)
    let cut = try dir.write(Array(try readBytes(gz).dropLast(20)), to: "cut.gz")
    let error = expectKallimaError { _ = try Gzip.read(cut) }
    #expect(error?.description.contains("truncated") == true, "\(String(describing: error))")

    let missing = expectKallimaError { _ = try IDX.readImages(dir.path + "/absent") }
    #expect(missing?.description.contains("no such file") == true)
  }
}
