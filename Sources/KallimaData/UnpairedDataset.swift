import Foundation
import KallimaCore

/// Two unpaired image domains for CycleGAN (Zhu et al., "Unpaired Image-to-Image Translation
/// using Cycle-Consistent Adversarial Networks", ICCV 2017), in the layout of its datasets
/// (horse2zebra, monet2photo): `DIR/trainA`, `DIR/trainB`, `DIR/testA`, `DIR/testB`, each a folder
/// of images. A and B may hold different numbers of images; nothing pairs them.
public struct UnpairedDataset: Sendable {
  /// Domain A's images of the split (NCHW, see `ImageDataset`).
  public let a: ImageDataset
  /// Domain B's images of the split.
  public let b: ImageDataset
  /// Per image of `a`, its path relative to `<split>A`, in load order (sorted).
  public let namesA: [String]
  /// Per image of `b`, its path relative to `<split>B`, in load order (sorted).
  public let namesB: [String]
  /// "train" or "test".
  public let split: String

  /// Loads `path/<split>A` and `path/<split>B` with `ImageDataset.load` (same resizing, caching
  /// and report; images smaller than `size` are skipped, never scaled up, so load at the images'
  /// size or below and crop on the device). `channels` (default 3) applies to both domains;
  /// `limit` to each. Throws `KallimaError.io` naming the missing folder when one of the two is
  /// absent, and listing what the dataset folder holds.
  public static func load(
    path: String, split: String = "train", size: Int, channels: Int? = nil, limit: Int? = nil,
    cache: DatasetCache? = .standard
  ) throws -> UnpairedDataset {
    guard PairedDataset.isFolder(path) else {
      throw KallimaError.io(
        path: path,
        message: "no such folder; pass a CycleGAN dataset folder holding trainA/, trainB/ (and testA/, testB/)")
    }
    let folders = ["A", "B"].map { (path as NSString).appendingPathComponent(split + $0) }
    let missing = folders.filter { !PairedDataset.isFolder($0) }
    guard missing.isEmpty else {
      let present = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
        .filter { PairedDataset.isFolder((path as NSString).appendingPathComponent($0)) }.sorted()
      throw KallimaError.io(
        path: path,
        message: "has no \(missing.map { ($0 as NSString).lastPathComponent + "/" }.joined(separator: " or ")) folder "
          + "(its subfolders: \(present.isEmpty ? "none" : present.joined(separator: ", "))); CycleGAN data is one "
          + "folder per domain and split: \(split)A/ holds domain A's images, \(split)B/ domain B's")
    }
    var sets: [ImageDataset] = []
    var names: [[String]] = []
    for folder in folders {
      let dataset = try ImageDataset.load(path: folder, size: size, channels: channels ?? 3, limit: limit, cache: cache)
      guard case .folder = dataset.report.source else {
        throw KallimaError.io(
          path: folder, message: "holds an idx file, not images; CycleGAN domains are folders of .png/.jpg images")
      }
      let relatives = try ImageDataset.relativeImagePaths(in: folder)
      let skipped = Set(dataset.report.skipped.map(\.path))
      let loaded = relatives.prefix(dataset.report.examined).filter {
        !skipped.contains((folder as NSString).appendingPathComponent($0))
      }
      guard loaded.count == dataset.count else {
        throw KallimaError.io(path: folder, message: "changed while loading; load again once it is stable")
      }
      sets.append(dataset)
      names.append(loaded)
    }
    return UnpairedDataset(a: sets[0], b: sets[1], namesA: names[0], namesB: names[1], split: split)
  }
}
