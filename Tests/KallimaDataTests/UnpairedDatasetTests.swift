import Foundation
import KallimaCore
import KallimaData
import Testing

@Suite("Unpaired datasets (CycleGAN): trainA/ trainB/ testA/ testB/")
struct UnpairedDatasetTests {
  @Test("each split loads two ImageDatasets of different counts, with names in load order")
  func loadsBothDomains() throws {
    let dir = try ScratchFolder()
    for n in 0..<3 { try ImageIO.writePNG(try patch(n), to: try dir.file("trainA/a\(n).png")) }
    for n in 0..<2 { try ImageIO.writePNG(try patch(n, b: true), to: try dir.file("trainB/b\(n).png")) }
    try ImageIO.writePNG(try patch(5), to: try dir.file("testA/t.png"))
    try ImageIO.writePNG(try patch(5, b: true), to: try dir.file("testB/t.png"))
    _ = try dir.write(Array("broken".utf8), to: "trainB/zz.png")
    let train = try UnpairedDataset.load(path: dir.path, size: 8, cache: nil)
    #expect(train.split == "train" && train.a.count == 3 && train.b.count == 2)
    #expect(train.namesA == ["a0.png", "a1.png", "a2.png"] && train.namesB == ["b0.png", "b1.png"])
    #expect(samples(train.a.bytes, 192..<384) == planar(try patch(1)))
    #expect(samples(train.b.bytes, 0..<192) == planar(try patch(0, b: true)))
    #expect(train.b.report.unreadableCount == 1)
    let test = try UnpairedDataset.load(path: dir.path, split: "test", size: 8, channels: 1, cache: nil)
    #expect(test.namesA == ["t.png"] && test.namesB == ["t.png"] && test.a.channels == 1)
    #expect(samples(test.b.bytes, 0..<64) == planar(try patch(5, b: true).luma()))
  }

  @Test("a missing domain folder is named, with the subfolders that are there")
  func missingDomain() throws {
    let dir = try ScratchFolder()
    try ImageIO.writePNG(try patch(0), to: try dir.file("trainA/a.png"))
    try ImageIO.writePNG(try patch(0), to: try dir.file("testB/a.png"))
    let error = expectKallimaError { _ = try UnpairedDataset.load(path: dir.path, size: 8, cache: nil) }
    #expect(
      error?.description.contains("has no trainB/ folder (its subfolders: testB, trainA); CycleGAN data is one folder")
        == true, "\(String(describing: error))")
    let both = expectKallimaError { _ = try UnpairedDataset.load(path: dir.path, split: "val", size: 8, cache: nil) }
    #expect(both?.description.contains("has no valA/ or valB/ folder") == true, "\(String(describing: both))")
    let none = expectKallimaError { _ = try UnpairedDataset.load(path: dir.path + "/x", size: 8, cache: nil) }
    #expect(none?.description.contains("no such folder; pass a CycleGAN dataset folder") == true)
  }
}
