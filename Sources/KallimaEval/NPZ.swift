import Foundation
import KallimaCore
@_exported import struct KallimaData.NPYArray
import KallimaData
import ZIPFoundation

/// NumPy .npz archives of float arrays, as pytorch-fid stores Inception statistics
/// (`np.savez_compressed(path, mu=mu, sigma=sigma)`; `--save-stats`).
///
/// An .npz file is a zip archive with one `<name>.npy` member per array: np.savez stores
/// the members, np.savez_compressed deflates them; both read. Each member is an .npy file,
/// decoded and encoded by `NPY` (KallimaData, which also reads conditioning embeddings).
///
/// Reading uses `NPZ.ZipReader` (NPZ+Zip.swift), writing ZIPFoundation.
///
/// Kallima reads little-endian float64 (`<f8`) and float32 (`<f4`, which pytorch-fid uses
/// for mu) in C order and writes version 1.0 `<f8`; other dtypes, big-endian data and
/// Fortran order are rejected with an error that names the member and what it holds.
public enum NPZ {
  /// The arrays of the .npz file at `path`, keyed by name without ".npy". With `names`,
  /// only those members are decoded (others may hold dtypes Kallima does not read); a
  /// missing one is an error that lists what the file holds.
  public static func read(_ path: String, names: [String]? = nil) throws -> [String: NPYArray] {
    guard FileManager.default.fileExists(atPath: path) else {
      throw KallimaError.io(path: path, message: "no such file; check the path to the .npz statistics")
    }
    let bytes: [UInt8]
    do {
      bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
      throw KallimaError.io(path: path, message: "cannot be read (\(error.localizedDescription)); check its permissions")
    }
    let archive = try ZipReader(bytes) { KallimaError.io(path: path, message: $0) }
    var members: [String: ZipReader.Member] = [:]
    for member in archive.members where member.name.hasSuffix(".npy") {
      members[String(member.name.dropLast(4))] = member
    }
    let wanted = names ?? members.keys.sorted()
    var arrays: [String: NPYArray] = [:]
    for name in wanted {
      guard let member = members[name] else {
        let found = members.keys.sorted().joined(separator: ", ")
        throw KallimaError.io(
          path: path,
          message: "has no array '\(name)' (it holds: \(found.isEmpty ? "no .npy members" : found)); "
            + "pytorch-fid statistics files hold 'mu' and 'sigma'")
      }
      arrays[name] = try decodeNPY(Data(try archive.contents(of: member)), member: member.name, path: path)
    }
    return arrays
  }

  /// Writes `arrays` (in this order) as an .npz file that numpy.load and pytorch-fid read,
  /// each as a version 1.0 `<f8` .npy member; deflated when `compressed`. Crash-safe: the
  /// archive is built in memory and replaces `path` atomically (`AtomicFileWriter`).
  public static func write(_ arrays: [(name: String, array: NPYArray)], to path: String, compressed: Bool) throws {
    let archive: Archive
    do {
      archive = try Archive(data: Data(), accessMode: .create)
      for (name, array) in arrays {
        let bytes = encodeNPY(array)
        try archive.addEntry(
          with: name + ".npy", type: .file, uncompressedSize: Int64(bytes.count),
          compressionMethod: compressed ? .deflate : .none
        ) { position, size in
          bytes.subdata(in: Int(position)..<(Int(position) + size))
        }
      }
    } catch {
      throw KallimaError.io(path: path, message: "could not build the .npz archive in memory: \(error)")
    }
    guard let data = archive.data else {
      throw KallimaError.io(path: path, message: "could not build the .npz archive in memory")
    }
    try AtomicFileWriter(path: path).write([UInt8](data))
  }

  /// Decodes one .npy member (`NPY.decode`). `member` and `path` only name it in errors.
  public static func decodeNPY(_ data: Data, member: String, path: String) throws -> NPYArray {
    try NPY.decode(data, member: member, path: path)
  }

  /// The .npy version 1.0 `<f8` encoding of `array` (`NPY.encode`).
  public static func encodeNPY(_ array: NPYArray) -> Data { NPY.encode(array) }
}

extension FeatureStatistics {
  /// Reads pytorch-fid statistics: an .npz file with `mu` [d] and `sigma` [d, d] (float64,
  /// or float32 for mu as pytorch-fid saves it). The sample count is not stored, so `count`
  /// is nil.
  public init(npzPath path: String) throws {
    let arrays = try NPZ.read(path, names: ["mu", "sigma"])
    let (mu, sigma) = (arrays["mu"]!, arrays["sigma"]!)
    guard mu.shape.count == 1, sigma.shape == [mu.shape[0], mu.shape[0]] else {
      throw KallimaError.io(
        path: path, message: "mu has shape \(mu.shape) and sigma \(sigma.shape); statistics need mu [d] and sigma [d, d]")
    }
    do {
      try self.init(mean: mu.values, covariance: sigma.values)
    } catch {
      throw KallimaError.io(path: path, message: "holds invalid statistics: \(error)")
    }
  }

  /// Writes the statistics as pytorch-fid does (`mu`, `sigma`, float64; deflated by
  /// default, as np.savez_compressed), atomically.
  public func writeNPZ(to path: String, compressed: Bool = true) throws {
    try NPZ.write(
      [
        ("mu", try NPYArray(shape: [dimension], values: mean)),
        ("sigma", try NPYArray(shape: [dimension, dimension], values: covariance)),
      ], to: path, compressed: compressed)
  }
}
