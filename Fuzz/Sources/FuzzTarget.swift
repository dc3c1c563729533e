import Foundation

/// One parser under fuzz. The fuzzer's bytes become a file that the parser reads by path,
/// as a user's file would be read; a thrown error is a pass (a rejected file) only when its
/// message names that file; a trap, a sanitizer report, a hang or an oversized allocation is
/// a failure.
///
/// Adding a parser is one file in Targets/ that defines a `static let` of this type, plus
/// its name in `all` below and a seed folder Fuzz/Corpus/<name>/.
struct FuzzTarget {
  /// The name `Scripts/fuzz.sh` and `KALLIMA_FUZZ_TARGET` use, and the seed folder's name.
  let name: String
  /// Extension of the file the input is written to.
  let fileExtension: String
  /// Turns the fuzzer's bytes into the file's bytes (e.g. fixes checksums so mutations reach
  /// the decoder instead of failing the checksum); identity by default.
  var prepare: ([UInt8]) -> [UInt8] = { $0 }
  /// Reads the file at the given path; throws when the parser rejects it.
  let parse: (String) throws -> Void

  static let all: [FuzzTarget] = [
    .safetensors, .png, .jpeg, .idx, .idxGzip, .npz, .npy, .checkpointMetadata, .metadataJSONL, .attributeList,
  ]

  static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// Runs the chosen target on one input.
enum Harness {
  /// The target chosen by `KALLIMA_FUZZ_TARGET` (libFuzzer owns the command line).
  static let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["KALLIMA_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget.named(name) else {
      fatalError("set KALLIMA_FUZZ_TARGET to one of: \(FuzzTarget.all.map(\.name).joined(separator: ", "))")
    }
    return target
  }()

  /// A file of this process, rewritten per input, in `KALLIMA_FUZZ_DIR` (fuzz.sh makes one in
  /// shared memory and removes it afterwards), else in the temporary folder.
  static func inputPath(for target: FuzzTarget) -> String {
    let folder = ProcessInfo.processInfo.environment["KALLIMA_FUZZ_DIR"] ?? NSTemporaryDirectory()
    return "\(folder)/kallima-fuzz-\(getpid()).\(target.fileExtension)"
  }

  /// Writes `bytes` (after `prepare`) to the input file and parses it. Returns the error the
  /// parser threw, nil when it accepted the file; traps when the error does not name the file.
  @discardableResult
  static func run(_ target: FuzzTarget, _ bytes: [UInt8], path: String) -> Error? {
    let data = target.prepare(bytes)
    guard FileManager.default.createFile(atPath: path, contents: Data(data)) else {
      fatalError("cannot write the fuzz input to \(path)")
    }
    do {
      try target.parse(path)
      return nil
    } catch {
      requireNamesFile(error, path: path)
      return error
    }
  }

  /// Traps unless `error`'s message names the file at `path`.
  static func requireNamesFile(_ error: Error, path: String) {
    let message = "\(error)"
    guard message.contains(path) else {
      fatalError("a rejection must name the file \(path), got: \(message)")
    }
  }
}

/// Errors of a stage after the file was read (building a network from a checkpoint's sizes,
/// say) need not name the file; only a trap counts there.
func tolerated(_ body: () throws -> Void) {
  _ = try? body()
}

#if KALLIMA_FUZZ
  private let fuzzPath = Harness.inputPath(for: Harness.target)

  @_cdecl("LLVMFuzzerTestOneInput")
  public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Harness.run(Harness.target, Array(UnsafeBufferPointer(start: data, count: size)), path: fuzzPath)
    return 0
  }
#else
  /// Without the fuzzer (a plain `swift build`): `kallima-fuzz TARGET FILE...` runs each
  /// file through the target once and says whether it was accepted, e.g. to reproduce a crash
  /// found by `Scripts/fuzz.sh` in a debugger.
  @main
  enum Replay {
    static func main() {
      let args = CommandLine.arguments.dropFirst()
      guard let name = args.first, let target = FuzzTarget.named(name) else {
        print("usage: kallima-fuzz TARGET FILE...; targets: \(FuzzTarget.all.map(\.name).joined(separator: ", "))")
        exit(2)
      }
      let path = Harness.inputPath(for: target)
      defer { try? FileManager.default.removeItem(atPath: path) }
      for file in args.dropFirst() {
        guard let data = FileManager.default.contents(atPath: file) else {
          print("\(file): cannot read")
          exit(1)
        }
        if let error = Harness.run(target, [UInt8](data), path: path) {
          print("\(file): rejected: \(error)")
        } else {
          print("\(file): accepted")
        }
      }
    }
  }
#endif
