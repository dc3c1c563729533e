import Foundation
import KallimaCore

extension PairedDataset {
  /// The aligned format: each image file is A|B side by side (pix2pix's `aligned_dataset.py`:
  /// A = left half, B = right half, width = 2 x height).
  static func loadAligned(_ folder: String, size: Int, channels: Int, direction: Direction, limit: Int?) throws
    -> PairedDataset
  {
    let relatives = try ImageDataset.relativeImagePaths(in: folder)
    guard !relatives.isEmpty else {
      throw KallimaError.io(
        path: folder,
        message: "contains no .png, .jpg or .jpeg files (searched recursively); put the A|B side-by-side images "
          + "there (width = 2 x height, A on the left), or A/ and B/ folders of partner images")
    }
    let files = relatives.map { (folder as NSString).appendingPathComponent($0) }
    return try assemble(
      jobs: files, names: relatives, source: folder, size: size, channels: channels, direction: direction,
      limit: limit, notes: ["aligned format: each file is A|B side by side, A on the left"]
    ) { i in
      switch read(files[i]) {
      case .failure(let reason): return .skipped(reason)
      case .success(let image):
        guard image.width == 2 * image.height else {
          return .notSideBySide(width: image.width, height: image.height)
        }
        let (left, right) = halves(image)
        do {
          let (a, upA) = try fit(left, size: size)
          let (b, upB) = try fit(right, size: size)
          return .pair(a, b, upscaled: upA || upB)
        } catch {
          return .skipped(.unreadable("\(error)"))
        }
      }
    }
  }

  /// The left and right halves of an image of even width.
  public static func halves(_ image: RGBImage) -> (RGBImage, RGBImage) {
    let w = image.width / 2
    let c = image.channels
    var left = [UInt8](repeating: 0, count: w * image.height * c)
    var right = left
    image.pixels.withUnsafeBufferPointer { src in
      for y in 0..<image.height {
        let row = y * image.width * c
        for i in 0..<(w * c) {
          left[y * w * c + i] = src[row + i]
          right[y * w * c + i] = src[row + w * c + i]
        }
      }
    }
    return (RGBImage(unchecked: w, image.height, c, left), RGBImage(unchecked: w, image.height, c, right))
  }

  /// Paired folders `A/` and `B/` (each optionally split), matched by relative path without extension.
  static func loadFolders(
    root: String, a: String, b: String, split: String?, size: Int, channels: Int, direction: Direction, limit: Int?
  ) throws -> PairedDataset {
    let folderA = try splitFolder(a, split: split, layout: "A images")
    let folderB = try splitFolder(b, split: split, layout: "B images")
    let sideA = try stems(in: folderA, side: "A")
    let sideB = try stems(in: folderB, side: "B")
    let lonelyA = sideA.keys.filter { sideB[$0] == nil }.sorted().map { sideA[$0]! }
    let lonelyB = sideB.keys.filter { sideA[$0] == nil }.sorted().map { sideB[$0]! }
    guard lonelyA.isEmpty, lonelyB.isEmpty else {
      var parts: [String] = []
      if !lonelyA.isEmpty {
        parts.append(
          "\(lonelyA.count) A file\(lonelyA.count == 1 ? " has" : "s have") no B partner in \(folderB): "
            + listing(lonelyA))
      }
      if !lonelyB.isEmpty {
        parts.append(
          "\(lonelyB.count) B file\(lonelyB.count == 1 ? " has" : "s have") no A partner in \(folderA): "
            + listing(lonelyB))
      }
      throw KallimaError.io(
        path: root,
        message: parts.joined(separator: "; ")
          + "; every image needs a partner under the same relative name on the other side (the extension may differ): "
          + "add the missing partners or remove the unpaired files")
    }
    let keys = sideA.keys.sorted { sideA[$0]! < sideA[$1]! }
    guard !keys.isEmpty else {
      throw KallimaError.io(
        path: root,
        message: "\(folderA) and \(folderB) contain no .png, .jpg or .jpeg files; put partner images in both, "
          + "under the same names")
    }
    let names = keys.map { sideA[$0]! }
    let filesA = keys.map { (folderA as NSString).appendingPathComponent(sideA[$0]!) }
    let filesB = keys.map { (folderB as NSString).appendingPathComponent(sideB[$0]!) }
    return try assemble(
      jobs: filesA, names: names, source: root, size: size, channels: channels, direction: direction, limit: limit,
      notes: ["paired folders \(folderA) and \(folderB), matched by relative name without extension"]
    ) { i in
      let first = read(filesA[i])
      let second = read(filesB[i])
      switch (first, second) {
      case (.failure(let reason), _): return .skipped(reason)
      case (_, .failure(let reason)): return .skipped(.unreadable("its B partner \(filesB[i]): \(reason)"))
      case (.success(let left), .success(let right)):
        do {
          let (a, upA) = try fit(left, size: size)
          let (b, upB) = try fit(right, size: size)
          return .pair(a, b, upscaled: upA || upB)
        } catch {
          return .skipped(.unreadable("\(error)"))
        }
      }
    }
  }

  /// Relative image paths under `folder` keyed by the path without its extension; a stem that
  /// appears twice (`1.jpg` and `1.png`) is an error, since its partner would be ambiguous.
  static func stems(in folder: String, side: String) throws -> [String: String] {
    var out: [String: String] = [:]
    var repeated: [String] = []
    for relative in try ImageDataset.relativeImagePaths(in: folder) {
      let stem = (relative as NSString).deletingPathExtension
      if let earlier = out[stem] {
        repeated.append("\(earlier) and \(relative)")
      } else {
        out[stem] = relative
      }
    }
    guard repeated.isEmpty else {
      throw KallimaError.io(
        path: folder,
        message: "\(side) has \(repeated.count) name\(repeated.count == 1 ? "" : "s") with two files: "
          + "\(listing(repeated)); keep one file per name, so each has one partner")
    }
    return out
  }
}
