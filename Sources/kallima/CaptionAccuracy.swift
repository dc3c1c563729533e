import ArgumentParser
import Foundation
import KallimaData
import KallimaEval

/// `kallima caption-accuracy`: does a generator trained on the captioned Fashion-MNIST set
/// draw the item and the colour a caption asks for, also for combinations it never saw?
struct CaptionAccuracyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "caption-accuracy",
    abstract: "Item and colour accuracy of a text- or tag-conditional generator on captioned Fashion-MNIST.",
    discussion: """
      For each caption ("red sandal"), --n images from the same latent vectors; the item is read by \
      a gray Fashion-MNIST classifier (a run's classifier.safetensors, e.g. from --eval-every or \
      Scripts/obedience.sh, of the generator's image size) on the brightest channel, the colour by \
      pixel statistics. Default captions: the six held out by make-captioned and six seen ones.
      """)
  @Option(help: "Checkpoint of a generator trained with --condition text or tags on make-captioned data.") var checkpoint: String
  @Option(help: "Classifier (.safetensors) of gray Fashion-MNIST at the generator's image size.") var classifier: String
  @Option(help: "Captions, comma-separated (default: the held-out six, then six seen ones).") var captions: String?
  @Option(help: "Held-out captions, comma-separated (default: make-captioned's).") var heldOut: String?
  @Option(help: "Images per caption.") var n = 200
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE.") var device: String?

  /// Seen combinations (none of them held out by default): one per colour and item family.
  static let seen = ["red boot", "green sandal", "blue trouser", "yellow bag", "magenta coat", "cyan dress"]

  func run() throws {
    func parse(_ list: String) throws -> [CaptionedFashion.Combination] {
      try list.split(separator: ",").map { try CaptionedFashion.Combination($0.trimmingCharacters(in: .whitespaces)) }
    }
    let heldOut = try heldOut.map(parse) ?? CaptionedFashion.defaultHeldOut
    let combinations = try captions.map(parse) ?? (CaptionedFashion.defaultHeldOut + Self.seen.map(CaptionedFashion.Combination.init))
    let g = try CheckpointGenerator(path: checkpoint, device: device)
    guard let v = g.conditions, v.kind == .text || v.kind == .tags else {
      throw ValidationError("the checkpoint's generator must be conditioned on text or tags (train with --condition text)")
    }
    let sampler = try g.sampler(count: min(n, 250), path: checkpoint)
    let model = try ModeClassifier.read(classifier, backend: g.backend)
    let result = try CaptionAccuracy.measure(
      sampler: sampler, classifier: model, combinations: combinations, heldOut: Set(heldOut), perCaption: n
    ) { c in
      try v.encode(v.kind == .text ? "\(CaptionedFashion.colours[c.colour]) \(CaptionedFashion.items[c.item])"
        : "\(CaptionedFashion.colours[c.colour]), \(CaptionedFashion.items[c.item])")
    }
    print("| caption | held out | item | colour | both |")
    print("|---|---|---|---|---|")
    for r in result.rows {
      print(String(format: "| %@ | %@ | %.3f | %.3f | %.3f |", "\(r.combination)", r.heldOut ? "yes" : "no", r.item, r.colour, r.both))
    }
    for held in [true, false] where result.rows.contains(where: { $0.heldOut == held }) {
      print(String(
        format: "| mean, %@ | | %.3f | %.3f | %.3f |", held ? "held out" : "seen", result.mean(heldOut: held, \.item),
        result.mean(heldOut: held, \.colour), result.mean(heldOut: held, \.both)))
    }
  }
}
