import ArgumentParser
import Foundation
import KallimaCore
import KallimaData
import KallimaEval
import KallimaGAN
import KallimaNN
import KallimaTrain

/// `kallima translate`: runs a trained pix2pix, CycleGAN or StarGAN generator over images.
struct Translate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Translate images with an image-to-image checkpoint (pix2pix, CycleGAN, StarGAN).",
    discussion: """
      Writes OUT/<name>.png per input and OUT/comparison.png (input | output, and the target for pix2pix's \
      aligned A|B files, whose fidelity it prints). Images whose height and width the network's strides take \
      (any aspect) are translated as they are; others are resized and centre-cropped to the trained size (and \
      the command says so). pix2pix translates as the reference's test.py: \
      dropout on and batch statistics of each image, unless --eval.
      """)

  @Option(help: "A checkpoint of kallima train pix2pix|cyclegan|stargan (or its run folder).") var checkpoint: String
  @Option(help: "An image, or a folder of images (searched recursively).") var input: String
  @Option(help: "Output folder.") var out: String
  @Option(help: "CycleGAN: AtoB (G_A) or BtoA (G_B).") var direction = "AtoB"
  @Option(help: "StarGAN: the target labels, comma-separated (attributes that should be on, or one domain).") var to: String?
  @Flag(name: .customLong("eval"), help: "Eval mode: running batch statistics, no dropout.") var evalMode = false
  @Option(name: .customLong("grid-rows"), help: "Rows of comparison.png.") var gridRows = 16
  @Option(help: "cpu, opencl or opencl:PLATFORM:DEVICE (default: $KALLIMA_DEVICE, else opencl).") var device: String?

  func run() throws {
    var path = checkpoint
    if PairedDataset.isFolder(path) { path = (path as NSString).appendingPathComponent("checkpoints/latest.safetensors") }
    let c = try TranslationCheckpoint.read(path)
    guard let dir = TranslationDirection(rawValue: direction) else {
      throw ValidationError("--direction must be AtoB or BtoA")
    }
    let backend = try DeviceSelection.makeBackend(DeviceSelection.selector(device), suggestTuning: false)
    let method = try c.options.method(
      channelsA: c.training.channelsA, channelsB: c.training.channelsB, labels: c.labels?.width)
    let t = try method.translator(dir)
    let (inChannels, outChannels) = dir == .aToB || c.options.method != .cyclegan
      ? (c.training.channelsA, c.training.channelsB) : (c.training.channelsB, c.training.channelsA)
    var targets: [Float]?
    if let labels = c.labels {
      guard let to else {
        throw KallimaError.invalidArgument(
          op: "translate", message: "a StarGAN checkpoint needs --to, the target labels (of: \(labels.names.joined(separator: ", ")))")
      }
      targets = try labels.encode(to)
    } else if to != nil {
      throw KallimaError.invalidArgument(op: "translate", message: "--to is for StarGAN checkpoints; this one is \(c.options.method.rawValue)")
    }
    let store = ParameterStore(backend: backend, seed: 0)
    let mode: BindOptions.Mode = evalMode ? .eval : .train
    let translator = Translator(backend: backend, network: t.network, store: store, mode: mode, labels: t.labels)
    let size = c.options.size
    try translator.prepare(image: [inChannels, size, size])
    try c.restore(into: [t.store: store], path: path)

    let files = PairedDataset.isFolder(input) ? try ImageDataset.imageFiles(in: input) : [input]
    guard !files.isEmpty else { throw KallimaError.io(path: input, message: "holds no .png, .jpg or .jpeg images") }
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let network = t.network as? any TranslationNetwork
    var grid: [[Float]] = []
    var gridColumns = 0
    var resized = 0
    // Outputs and targets at the trained size, for the fidelity line.
    var scored: (outputs: [Float], targets: [Float], count: Int) = ([], [], 0)
    for file in files {
      var image = try ImageIO.read(file)
      var target: RGBImage?
      // pix2pix's aligned test files: A|B side by side.
      if c.options.method == .pix2pix, image.width == 2 * image.height {
        let (left, right) = PairedDataset.halves(image)
        (image, target) = c.options.direction == "AtoB" ? (left, right) : (right, left)
      }
      let fits = network != nil && (try? network?.validate(height: image.height, width: image.width)) != nil
      if !fits {
        image = try ImageResize.resizeAndCenterCrop(image, size: size)
        target = try target.map { try ImageResize.resizeAndCenterCrop($0, size: size) }
        resized += 1
      }
      let x = image.unitValues(channels: inChannels)
      let shape: Shape = [inChannels, image.height, image.width]
      let (y, yShape) = try translator.translate(x, image: shape, targets: targets)
      let name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension + ".png"
      try ImageIO.writePNG(Self.image(y, yShape), to: (out as NSString).appendingPathComponent(name))
      let square = image.width == size && image.height == size
      if let target, square, yShape == [outChannels, size, size] {
        scored.outputs += y
        scored.targets += target.unitValues(channels: outChannels)
        scored.count += 1
      }
      if grid.count / max(gridColumns, 1) < gridRows, square {
        let common = max(inChannels, outChannels)
        var row = [Self.widen(x, inChannels, common), Self.widen(y, outChannels, common)]
        if let target { row.append(Self.widen(target.unitValues(channels: outChannels), outChannels, common)) }
        gridColumns = row.count
        grid += row
      }
    }
    if !grid.isEmpty {
      let common = max(inChannels, outChannels)
      try ImageGrid.writePNG(
        images: grid.flatMap { $0 }, count: grid.count, channels: common, size: size, columns: gridColumns,
        to: (out as NSString).appendingPathComponent("comparison.png"))
    }
    if scored.count > 0 {
      let shape: Shape = [scored.count, outChannels, size, size]
      let s = try ImageFidelity.scores(scored.outputs, scored.targets, shape: shape)
      let sharpness = try ImageFidelity.sharpness(scored.outputs, shape: shape).reduce(0, +)
        / ImageFidelity.sharpness(scored.targets, shape: shape).reduce(0, +)
      print(String(
        format: "against the targets (%d images, [0, 1] intensities): L1 %.4f, PSNR %.2f dB, SSIM %.4f, sharpness %.3f of the targets'",
        scored.count, s.meanL1, s.meanPSNR, s.meanSSIM, sharpness))
    }
    if resized > 0 {
      printError("\(resized) of \(files.count) images had a height or width the network cannot take and were resized and centre-cropped to \(size)x\(size)")
    }
    printError("translated \(files.count) images (\(c.options.method.rawValue)\(c.options.method == .cyclegan ? " " + direction : ""), \(evalMode ? "eval" : "train") mode) into \(out)")
  }

  /// An image from NCHW values in [−1, 1] of one sample [C, H, W] (any H, W).
  static func image(_ v: [Float], _ shape: Shape) throws -> RGBImage {
    let (c, h, w) = (shape[0], shape[1], shape[2])
    var pixels = [UInt8](repeating: 0, count: c * h * w)
    for ch in 0..<c {
      for y in 0..<h {
        for x in 0..<w { pixels[(y * w + x) * c + ch] = UInt8(max(0, min(255, ((v[(ch * h + y) * w + x] + 1) * 127.5).rounded()))) }
      }
    }
    return try RGBImage(width: w, height: h, channels: c, pixels: pixels)
  }

  /// Gray values repeated to `to` channels.
  static func widen(_ v: [Float], _ from: Int, _ to: Int) -> [Float] { from == to ? v : (0..<to).flatMap { _ in v } }
}
