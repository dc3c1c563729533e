import ArgumentParser
import Foundation
import KallimaData

/// `kallima make-captioned`: the captioned Fashion-MNIST test set (`CaptionedFashion`).
struct MakeCaptioned: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "make-captioned",
    abstract: "Write tinted, captioned Fashion-MNIST items (\"red boot\") as PNGs + metadata.jsonl.",
    discussion: """
      Each item is tinted in one of red, green, blue, yellow, magenta, cyan (RGB = gray x colour) and \
      captioned "<colour> <item>"; metadata.jsonl (Hugging Face imagefolder) holds label (the item), \
      tags [colour, item], text and colour, so `kallima train --condition class|tags|text` reads it. \
      Held-out combinations are never written (default: red sandal, green trouser, blue bag, yellow \
      dress, magenta sneaker, cyan coat); ask a conditional generator for them to test composition.
      """)
  @Option(help: "Folder to create (must not exist, or be empty).") var out: String
  @Option(help: "Items: the first N Fashion-MNIST training images.") var count = 10_000
  @Option(help: "Seed of the colour draws.") var seed: UInt64 = 0
  @Option(help: "Image side: 28 (as stored), or 32 up to 256 (bilinear; 64 for a StackGAN stage II at 64x64).") var size = 32
  @Option(
    help: "Held-out combinations, comma-separated (\"red sandal,blue bag\"), or none. Default: one per colour.")
  var heldOut: String?
  @Option(help: "Fashion-MNIST idx3 images file (labels beside it).") var source = CaptionedFashion.defaultSource

  func run() throws {
    let heldOut: [CaptionedFashion.Combination]
    switch self.heldOut?.trimmingCharacters(in: .whitespaces) {
    case nil: heldOut = CaptionedFashion.defaultHeldOut
    case "none", "": heldOut = []
    case let list?:
      heldOut = try list.split(separator: ",").map {
        try CaptionedFashion.Combination($0.trimmingCharacters(in: .whitespaces))
      }
    }
    let summary = try CaptionedFashion.write(
      to: out, count: count, seed: seed, size: size, heldOut: heldOut, source: source)
    print("wrote \(summary.count) items (\(summary.size)x\(summary.size)) to \(summary.folder)")
    print("held out: \(summary.heldOut.isEmpty ? "none" : summary.heldOut.joined(separator: ", "))")
    print(
      "combinations written: \(summary.perCombination.count), items each: "
        + "\(summary.perCombination.values.min() ?? 0)...\(summary.perCombination.values.max() ?? 0)")
  }
}
