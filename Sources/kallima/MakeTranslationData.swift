import ArgumentParser
import Foundation
import KallimaData

/// `kallima make-translation-data`: synthetic image-to-image translation sets with ground truth
/// (`TranslationFashion`).
struct MakeTranslationData: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "make-translation-data",
    abstract: "Write a synthetic image-to-image translation set from Fashion-MNIST, with ground truth.",
    discussion: """
      --kind edges: pix2pix pairs (train/, test/; each PNG is A|B side by side), A = the garment's edge \
      map, B = the garment. --kind colour: CycleGAN domains (trainA/ gray, trainB/ tinted by class, from \
      different garments; testA/x.png and testB/x.png are the same garment). --kind classes: CycleGAN \
      domains of two Fashion-MNIST classes (--classes, default 7,9: sneaker and ankle boot). --kind \
      attributes: StarGAN images with attributes Red, Inverted, Thick in CelebA's list_attr_celeba.txt \
      format (train/ and test/, each with images/). Train images come from Fashion-MNIST's training \
      file, test images from t10k. The folder gets a README.txt describing the layout and ground truth.
      """)
  @Option(help: "edges, colour, classes or attributes.") var kind: TranslationFashion.Kind
  @Option(help: "Folder to create (must not exist, or be empty).") var out: String
  @Option(help: "Image side (Fashion-MNIST's 28 is resized to it).") var size = 32
  @Option(help: "Train images (pairs for edges; per domain for colour and classes).") var train = 2_000
  @Option(help: "Test images (pairs for edges; per domain for colour and classes).") var test = 200
  @Option(help: "Seed of the garment and attribute draws.") var seed: UInt64 = 0
  @Option(help: "For --kind classes: the two Fashion-MNIST labels, e.g. 7,9 (sneaker, ankle boot) or 1,3.")
  var classes = "7,9"
  @Option(help: "Folder holding Fashion-MNIST's idx files.") var source = TranslationFashion.defaultSource

  func validate() throws {
    if kind == .classes, parsedClasses == nil {
      throw ValidationError("--classes is '\(classes)'; write two different labels 0...9, e.g. 7,9")
    }
  }

  var parsedClasses: (Int, Int)? {
    let parts = classes.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 2, let a = parts[0], let b = parts[1], a != b, (0..<10).contains(a), (0..<10).contains(b)
    else { return nil }
    return (a, b)
  }

  func run() throws {
    let summary = try TranslationFashion.write(
      kind, to: out, size: size, train: train, test: test, seed: seed, classes: parsedClasses ?? (7, 9),
      source: source)
    let counts = summary.counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    print("wrote the \(summary.kind.rawValue) set (\(summary.size)x\(summary.size); \(counts)) to \(summary.folder)")
    print("layout and ground truth: \((summary.folder as NSString).appendingPathComponent("README.txt"))")
  }
}

extension TranslationFashion.Kind: ExpressibleByArgument {}
