import Foundation
import KallimaCore
import KallimaEval
import Testing

// Fixtures/stats_*.npz are written by numpy (np.savez / np.savez_compressed) in
// Scripts/make_frechet_fixtures.py; Fixtures/frechet_npz.json holds the values they store
// as float64 bit patterns, so reading is checked bit for bit.

struct NPZFixture: Decodable {
  struct Values: Decodable {
    var shape: [Int]
    var bits: [String]
    var doubles: [Double] { bits.map { Double(bitPattern: UInt64($0, radix: 16)!) } }
  }
  var mu: Values
  var mu_f4: Values
  var sigma: Values
}

func npzFixturePath(_ name: String) throws -> String {
  guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
    throw KallimaError.io(path: "Fixtures/\(name)", message: "missing from the test bundle; run Scripts/make_frechet_fixtures.py")
  }
  return url.path
}

func npzFixture() throws -> NPZFixture {
  try JSONDecoder().decode(NPZFixture.self, from: Data(contentsOf: URL(fileURLWithPath: try npzFixturePath("frechet_npz.json"))))
}

/// A fresh empty folder under the system's temporary directory.
func temporaryFolder() throws -> String {
  let path = NSTemporaryDirectory() + "kallima-npz-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// The error `body` throws, as text; records an issue when it does not throw.
func errorText(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> String {
  do {
    try body()
    Issue.record("expected an error", sourceLocation: sourceLocation)
    return ""
  } catch {
    return "\(error)"
  }
}

@Suite("NPZ statistics files (pytorch-fid compatible)")
struct NPZTests {
  @Test("numpy's savez (stored) and savez_compressed (deflated) files read back bit for bit",
        arguments: ["stats_savez.npz", "stats_savez_compressed.npz"])
  func readsNumpy(file: String) throws {
    let expected = try npzFixture()
    let arrays = try NPZ.read(try npzFixturePath(file))
    #expect(Set(arrays.keys) == ["mu", "sigma"])
    #expect(arrays["mu"]?.shape == expected.mu.shape && arrays["sigma"]?.shape == expected.sigma.shape)
    #expect(arrays["mu"]?.values.map(\.bitPattern) == expected.mu.doubles.map(\.bitPattern))
    #expect(arrays["sigma"]?.values.map(\.bitPattern) == expected.sigma.doubles.map(\.bitPattern))
    let stats = try FeatureStatistics(npzPath: try npzFixturePath(file))
    #expect(stats.dimension == 3 && stats.count == nil)
    #expect(stats.covariance.map(\.bitPattern) == expected.sigma.doubles.map(\.bitPattern))
  }

  @Test("a float32 mu (as pytorch-fid saves it) is widened exactly")
  func readsFloat32Mean() throws {
    let expected = try npzFixture()
    let stats = try FeatureStatistics(npzPath: try npzFixturePath("stats_mu_f4.npz"))
    #expect(stats.mean.map(\.bitPattern) == expected.mu_f4.doubles.map(\.bitPattern))
    #expect(stats.covariance.map(\.bitPattern) == expected.sigma.doubles.map(\.bitPattern))
  }

  @Test(".npy members are encoded byte for byte as numpy writes them")
  func encodesLikeNumpy() throws {
    let expected = try npzFixture()
    // The stored (uncompressed) fixture holds numpy's own bytes for each member; compare
    // them with Kallima's encoding, read back through a stored archive of Kallima's.
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let mu = try NPYArray(shape: expected.mu.shape, values: expected.mu.doubles)
    let sigma = try NPYArray(shape: expected.sigma.shape, values: expected.sigma.doubles)
    let numpyBytes = try Data(contentsOf: URL(fileURLWithPath: try npzFixturePath("stats_savez.npz")))
    for array in [mu, sigma] {
      let ours = NPZ.encodeNPY(array)
      #expect(ours.count % 64 == (8 * array.values.count) % 64, "header padded to 64 bytes")
      #expect(numpyBytes.range(of: ours) != nil, "numpy's stored member contains exactly Kallima's .npy bytes for \(array.shape)")
    }
  }

  @Test("write then read gives the same bits, stored and deflated", arguments: [false, true])
  func roundTrip(compressed: Bool) throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let d = 5
    var cov = [Double](repeating: 0, count: d * d)
    for i in 0..<d {
      for j in 0..<d { cov[i * d + j] = 1 / Double(1 + i + j) + (i == j ? 1 : 0) }
    }
    let stats = try FeatureStatistics(mean: (0..<d).map { Double($0) / 7 - 0.3 }, covariance: cov, count: 100)
    let path = folder + "/stats.npz"
    try stats.writeNPZ(to: path, compressed: compressed)
    let back = try FeatureStatistics(npzPath: path)
    #expect(back.mean.map(\.bitPattern) == stats.mean.map(\.bitPattern))
    #expect(back.covariance.map(\.bitPattern) == stats.covariance.map(\.bitPattern))
    // Overwriting replaces the file and leaves no temporary file behind.
    let other = try FeatureStatistics(mean: [1, 2], covariance: [2, 0, 0, 2])
    try other.writeNPZ(to: path, compressed: compressed)
    #expect(try FeatureStatistics(npzPath: path) == other)
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["stats.npz"])
  }

  @Test("Fortran order, other dtypes and missing keys are rejected with a clear error")
  func rejectsUnsupported() throws {
    let fortran = errorText { _ = try FeatureStatistics(npzPath: try npzFixturePath("stats_fortran.npz")) }
    #expect(fortran.contains("sigma.npy") && fortran.contains("Fortran"), "\(fortran)")
    let integer = errorText { _ = try FeatureStatistics(npzPath: try npzFixturePath("stats_int.npz")) }
    #expect(integer.contains("'<i8'") && integer.contains("float64"), "\(integer)")
    let missing = errorText { _ = try FeatureStatistics(npzPath: try npzFixturePath("stats_no_sigma.npz")) }
    #expect(missing.contains("no array 'sigma'") && missing.contains("it holds: mu"), "\(missing)")
    let absent = errorText { _ = try NPZ.read("/nonexistent/stats.npz") }
    #expect(absent.contains("no such file"), "\(absent)")
    let noFolder = errorText {
      try FeatureStatistics(mean: [0], covariance: [1]).writeNPZ(to: "/nonexistent-kallima-folder/stats.npz")
    }
    #expect(noFolder.contains("does not exist"), "\(noFolder)")
  }

  @Test("truncated and corrupted files give errors, never wrong values",
        arguments: ["stats_savez.npz", "stats_savez_compressed.npz"])
  func rejectsDamaged(file: String) throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let good = try Data(contentsOf: URL(fileURLWithPath: try npzFixturePath(file)))
    // Cut at several places: inside the data, the central directory and the end record.
    for cut in [good.count / 3, good.count / 2, good.count - 30, good.count - 1] {
      let path = folder + "/cut\(cut).npz"
      try good.prefix(cut).write(to: URL(fileURLWithPath: path))
      let message = errorText { _ = try FeatureStatistics(npzPath: path) }
      #expect(message.contains(path), "cut at \(cut): \(message)")
    }
    // Flip one byte of sigma's values (the last 8 bytes before sigma's entry in the central
    // directory hold data for the stored file; for the deflated one, the compressed stream).
    guard let sigmaHeader = good.range(of: Data("sigma.npy".utf8)) else {
      Issue.record("no sigma.npy local header in \(file)")
      return
    }
    guard let centralDirectory = good.range(of: Data([0x50, 0x4B, 0x01, 0x02])) else {
      Issue.record("no central directory in \(file)")
      return
    }
    var bad = good
    let target = centralDirectory.lowerBound - 20
    #expect(target > sigmaHeader.upperBound)
    bad[target] ^= 0x40
    let path = folder + "/flipped.npz"
    try bad.write(to: URL(fileURLWithPath: path))
    let message = errorText { _ = try FeatureStatistics(npzPath: path) }
    #expect(message.contains("corrupt") || message.contains("CRC"), "\(message)")
  }

  @Test(".npy headers that lie about their size are rejected")
  func rejectsBadNPY() throws {
    let array = try NPYArray(shape: [2, 2], values: [1, 2, 3, 4])
    let bytes = NPZ.encodeNPY(array)
    #expect(try NPZ.decodeNPY(bytes, member: "a.npy", path: "x.npz") == array)
    let short = errorText { _ = try NPZ.decodeNPY(bytes.dropLast(8), member: "a.npy", path: "x.npz") }
    #expect(short.contains("truncated"), "\(short)")
    let long = errorText { _ = try NPZ.decodeNPY(bytes + Data([0]), member: "a.npy", path: "x.npz") }
    #expect(long.contains("corrupt"), "\(long)")
    var notNumpy = bytes
    notNumpy[1] = 0x41
    let magic = errorText { _ = try NPZ.decodeNPY(notNumpy, member: "a.npy", path: "x.npz") }
    #expect(magic.contains("magic"), "\(magic)")
    var headerLength = bytes
    headerLength[9] = 0xFF
    let header = errorText { _ = try NPZ.decodeNPY(headerLength, member: "a.npy", path: "x.npz") }
    #expect(header.contains("truncated"), "\(header)")
  }

  /// npy_shape_overflow.npz: mu and sigma declare shape (2^62, 4); the byte count used to be
  /// computed with a trapping multiplication (the npy fuzz target reaches it).
  /// npz_endless_deflate.npz (123 bytes): mu.npy's deflate stream opens a stored block of 65535
  /// bytes and the file ends first. The npz fuzz target hit such an input (a 10 s timeout):
  /// ZIPFoundation's Linux inflate loop read empty chunks at the end of the file forever. NPZ
  /// now reads through its own zip reader.
  @Test("archives the fuzzer broke are errors naming the file, not traps or endless loops",
        arguments: [
          ("npy_shape_overflow.npz", "more bytes than a file can hold"),
          ("npz_endless_deflate.npz", "mu.npy cannot be extracted (the deflate stream ends early"),
        ])
  func rejectsFuzzFindings(file: String, phrase: String) throws {
    let path = try npzFixturePath(file)
    let text = errorText { _ = try FeatureStatistics(npzPath: path) }
    #expect(text.contains(path), "\(text)")
    #expect(text.contains(phrase), "\(text)")
  }
}
