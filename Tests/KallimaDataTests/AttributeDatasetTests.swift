import Foundation
import KallimaCore
import KallimaData
import Testing

@Suite("Attribute and domain datasets (StarGAN): CelebA's list_attr_celeba.txt, one folder per domain")
struct AttributeDatasetTests {
  /// A CelebA-style folder: images/<name> for `names`, and the attribute file `text`.
  private func celeba(_ names: [String], _ text: String) throws -> (ScratchFolder, String, String) {
    let dir = try ScratchFolder()
    for (n, name) in names.enumerated() { try ImageIO.writePNG(try patch(n), to: try dir.file("images/\(name)")) }
    let list = try dir.write(Array(text.utf8), to: "list_attr_celeba.txt")
    return (dir, list, (dir.path as NSString).appendingPathComponent("images"))
  }

  @Test("multi-hot rows of the selected attributes, in the file's line order; CelebA padding and CRLF read")
  func readsSelectedAttributes() throws {
    let text =
      "3\r\nSmiling  Black_Hair Male Young\r\n"
      + "c.png  1 -1 -1  1\r\n" + "a.png -1  1  1  1\r\n" + "\r\n" + "b.png\t-1 -1 -1 -1\r\n"
    let (dir, list, images) = try celeba(["a.png", "b.png", "c.png"], text)
    let set = try AttributeDataset.loadAttributes(
      list: list, images: images, attributes: ["Male", "Smiling", "Black_Hair"], size: 8, cache: nil)
    #expect(set.names == ["c.png", "a.png", "b.png"])
    #expect(set.conditions.vocabulary.kind == .tags)
    #expect(set.conditions.vocabulary.names == ["male", "smiling", "black_hair"])
    #expect(set.conditions.vectors == [0, 1, 0, /* a */ 1, 0, 1, /* b */ 0, 0, 0])
    #expect(set.conditions.captions == ["smiling", "male, black_hair", ""])
    #expect(try set.conditions.vocabulary.encode("Black_Hair, male") == [1, 0, 1])
    // Images follow the lines: c.png was written as patch(2), a.png as patch(0).
    #expect(samples(set.images.bytes, 0..<192) == planar(try patch(2)))
    #expect(samples(set.images.bytes, 192..<384) == planar(try patch(0)))
    #expect(set.images.report.conditioning?.conditioned == 3)
    let limited = try AttributeDataset.loadAttributes(
      list: list, images: images, attributes: ["Young"], size: 8, limit: 2, cache: nil)
    #expect(limited.names == ["c.png", "a.png"] && limited.conditions.vectors == [1, 1])
    _ = dir
  }

  @Test("the StarGAN default selection; an unknown attribute is rejected with the file's list")
  func unknownAttribute() throws {
    let names = "Black_Hair Blond_Hair Brown_Hair Male Young Smiling"
    let (dir, list, images) = try celeba(["a.png"], "1\n\(names)\na.png 1 -1 -1 1 -1 1\n")
    let set = try AttributeDataset.loadAttributes(list: list, images: images, size: 8, cache: nil)
    #expect(set.conditions.vocabulary.names == ["black_hair", "blond_hair", "brown_hair", "male", "young"])
    #expect(set.conditions.vectors == [1, 0, 0, 1, 0])
    let error = expectKallimaError {
      _ = try AttributeDataset.loadAttributes(
        list: list, images: images, attributes: ["Male", "Eyeglasses", "smiling"], size: 8, cache: nil)
    }
    #expect(
      error?.description.contains(
        "unknown attributes 'Eyeglasses', 'smiling' (names are case-sensitive); \(list) has these 6: \(names)") == true,
      "\(String(describing: error))")
    _ = dir
  }

  @Test("bad lines are reported as file:line, up to 10 and then a count")
  func badLines() throws {
    var lines = ["14", "A B C", "ok.png 1 -1 1", "short.png 1 -1", "zero.png 1 0 1", "ok.png -1 -1 -1"]
    for n in 0..<9 { lines.append("many\(n).png 1 1 1 1") }
    let (dir, list, images) = try celeba(["ok.png"], lines.joined(separator: "\n") + "\n")
    let error = expectKallimaError {
      _ = try AttributeDataset.loadAttributes(list: list, images: images, attributes: ["A"], size: 8, cache: nil)
    }
    let text = error?.description ?? ""
    #expect(text.contains("13 problems in the attribute file"), "\(text)")
    #expect(text.contains("\(list):1: says 14 images but the file has 13 image lines"), "\(text)")
    #expect(text.contains("\(list):4: 'short.png' has 2 values for the 3 attributes of line 2"), "\(text)")
    #expect(text.contains("\(list):5: 'zero.png': value '0' for B is not 1 or -1"), "\(text)")
    #expect(text.contains("\(list):6: 'ok.png' is already listed on line 3"), "\(text)")
    #expect(text.contains("\(list):12: 'many5.png' has 4 values") && !text.contains("many6.png"), "\(text)")
    #expect(text.hasSuffix("... and 3 more"), "\(text)")

    let header = try dir.write(Array("many\nA A\nx.png 1 1\n".utf8), to: "header.txt")
    let headerError = expectKallimaError { _ = try AttributeList.read(header) }
    #expect(headerError?.description.contains("\(header):1: 'many' is not the image count") == true)
    #expect(headerError?.description.contains("\(header):2: attribute 'A' is named twice (columns 1 and 2)") == true)
    let short = try dir.write(Array("1".utf8), to: "short.txt")
    #expect(expectKallimaError { _ = try AttributeList.read(short) }?.description.contains("has one line") == true)
    let noNames = try dir.write(Array("1\n".utf8), to: "no-names.txt")
    let noNamesError = expectKallimaError { _ = try AttributeList.read(noNames) }
    #expect(noNamesError?.description.contains("\(noNames):2: no attribute names") == true)
    let noRows = try dir.write(Array("0\nA B\n".utf8), to: "no-rows.txt")
    let noRowsError = expectKallimaError { _ = try AttributeList.read(noRows) }
    #expect(noRowsError?.description.contains("\(noRows):3: no image lines after the attribute names") == true)
  }

  @Test("a line whose image is missing from the folder is reported by file:line")
  func missingImage() throws {
    let (dir, list, images) = try celeba(["a.png"], "3\nX Y\na.png 1 1\ngone.png 1 -1\n./a2.png -1 1\n")
    let error = expectKallimaError {
      _ = try AttributeDataset.loadAttributes(list: list, images: images, attributes: ["Y"], size: 8, cache: nil)
    }
    let text = error?.description ?? ""
    #expect(text.contains("2 problems in the attribute file (images not found"), "\(text)")
    #expect(text.contains("\(list):4: image 'gone.png' not found in \(images)"), "\(text)")
    #expect(text.contains("\(list):5: image './a2.png' not found"), "\(text)")
    // With a limit, only the kept lines need their images.
    let first = try AttributeDataset.loadAttributes(
      list: list, images: images, attributes: ["Y", "X"], size: 8, limit: 1, cache: nil)
    #expect(first.names == ["a.png"] && first.conditions.vectors == [1, 1])
    // An image that exists but does not decode is skipped, and said so.
    _ = try dir.write(Array("not a png".utf8), to: "images/gone.png")
    let skipping = try AttributeDataset.loadAttributes(
      list: list, images: images, attributes: ["X"], size: 8, limit: 2, cache: nil)
    #expect(skipping.names == ["a.png"] && skipping.images.count == 1 && skipping.conditions.count == 1)
    let conditioning = skipping.images.report.conditioning
    #expect(
      conditioning?.skipped == 1
        && conditioning?.skippedExamples == ["\(list):4: gone.png (unreadable or smaller than 8)"])
    _ = dir
  }

  @Test("one folder per domain: a class vocabulary of the sorted folder names, one-hot, names; one domain is an error")
  func domains() throws {
    let dir = try ScratchFolder()
    try ImageIO.writePNG(try patch(0), to: try dir.file("smiling/1.png"))
    try ImageIO.writePNG(try patch(1), to: try dir.file("angry/2.png"))
    try ImageIO.writePNG(try patch(2), to: try dir.file("smiling/0.png"))
    try ImageIO.writePNG(try patch(3), to: try dir.file("loose.png"))
    let set = try AttributeDataset.loadDomains(path: dir.path, size: 8, cache: nil)
    #expect(set.conditions.vocabulary.kind == .class && set.conditions.vocabulary.names == ["angry", "smiling"])
    #expect(set.names == ["angry/2.png", "smiling/0.png", "smiling/1.png"])
    #expect(set.conditions.classIndices == [0, 1, 1] && set.conditions.vectors == [1, 0, 0, 1, 0, 1])
    #expect(set.images.labels == [0, 1, 1] && set.images.count == 3)
    #expect(samples(set.images.bytes, 192..<384) == planar(try patch(2)))
    #expect(set.images.report.conditioning?.notes.first?.contains("1 images directly in") == true)

    let one = try ScratchFolder()
    try ImageIO.writePNG(try patch(0), to: try one.file("only/1.png"))
    let error = expectKallimaError { _ = try AttributeDataset.loadDomains(path: one.path, size: 8, cache: nil) }
    #expect(
      error?.description.contains("has one domain subfolder (only); multi-domain translation needs at least two")
        == true, "\(String(describing: error))")
  }
}
