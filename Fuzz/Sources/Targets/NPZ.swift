import Foundation
import KallimaEval

extension FuzzTarget {
  /// Fréchet statistics (`--stats` .npz, pytorch-fid's format; zip through ZIPFoundation).
  static let npz = FuzzTarget(name: "npz", fileExtension: "npz") { path in
    _ = try NPZ.read(path)
    _ = try FeatureStatistics(npzPath: path)
  }

  /// One .npy member, the part of an .npz a mutated archive rarely reaches past its CRC-32.
  static let npy = FuzzTarget(name: "npy", fileExtension: "npy") { path in
    // Not FileManager.contents(atPath:): it leaks its buffer on an empty file (Swift 6.3.1).
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    _ = try NPZ.decodeNPY(data, member: "fuzz.npy", path: path)
  }
}
