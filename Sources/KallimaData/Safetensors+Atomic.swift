import CKallima
import Foundation
import KallimaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// write(2), named apart from the writer's own `write` methods. A function, not a global
/// constant, so that nothing runs lazy initialisation (which takes a lock) after `fork()`.
@inline(__always)
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  #if canImport(Glibc)
  return Glibc.write(fd, buffer, count)
  #else
  return Darwin.write(fd, buffer, count)
  #endif
}

/// Replaces a file crash-safely: the bytes go to `<dir>/.<name>.tmp.<pid>`, which is
/// written in full, fsync'd and closed, then renamed over `<dir>/<name>`, and the directory
/// is fsync'd so the rename itself is durable. Whatever happens part way (SIGKILL, a full
/// disk, a power cut), `<dir>/<name>` is the old file or the complete new one; at worst a
/// temporary file is left behind, which `removeLeftoverTemporaries` cleans up.
///
/// The file work is plain POSIX (open/write/fsync/close/rename/unlink), not Foundation.
/// `write(bytes:)` on a writer created beforehand allocates nothing and takes no locks, so
/// it may be called in a child made by `fork()` of a multithreaded process (e.g. to
/// checkpoint in the background): prepare the writer and the bytes in the parent, write in
/// the child, `_exit` from it.
///
/// One process uses one temporary name per destination, so do not write the same path from
/// two threads at once (the writer is deliberately not `Sendable`).
public final class AtomicFileWriter {
  /// The file this writer replaces.
  public let path: String
  /// Its directory ("." for a bare file name).
  public let directory: String

  /// Where a step failed.
  public enum Step: String, Sendable {
    case createTemporary = "creating the temporary file"
    case write = "writing the temporary file"
    case syncFile = "syncing the temporary file to disk (fsync)"
    case closeFile = "closing the temporary file"
    case rename = "renaming the temporary file over the destination"
    case openDirectory = "opening the directory to sync it"
    case syncDirectory = "syncing the directory (fsync)"

    /// True when the destination already holds the new contents.
    public var renamed: Bool { self == .openDirectory || self == .syncDirectory }
  }

  /// A failed step and its errno; made without allocating, turned into an error later.
  public struct Failure: Error, Sendable {
    public let step: Step
    public let errno: Int32
  }

  // NUL-terminated copies made up front, so writing needs no allocation.
  private let pathC: UnsafeMutablePointer<CChar>
  private let directoryC: UnsafeMutablePointer<CChar>
  /// `<dir>/.<name>.tmp.` followed by room for the pid's digits and the NUL.
  private let temporaryC: UnsafeMutablePointer<CChar>
  private let temporaryPrefixLength: Int
  private static let pidRoom = 24

  /// Prepares to replace `path`. Throws `KallimaError.invalidArgument` for an empty path
  /// or one naming a directory.
  public init(path: String) throws {
    guard !path.isEmpty, !path.hasSuffix("/") else {
      throw KallimaError.invalidArgument(op: "atomic write", message: "\"\(path)\" is not a file path; name the file to write")
    }
    let (dirPart, name) = AtomicFileWriter.split(path)
    guard name != ".", name != ".." else {
      throw KallimaError.invalidArgument(op: "atomic write", message: "\"\(path)\" is not a file path; name the file to write")
    }
    self.path = path
    self.directory = dirPart.isEmpty ? "." : (dirPart == "/" ? "/" : String(dirPart.dropLast()))
    pathC = strdup(path)!
    directoryC = strdup(directory)!
    let prefix = Array((dirPart + AtomicFileWriter.temporaryPrefix(for: name)).utf8CString.dropLast())
    temporaryPrefixLength = prefix.count
    temporaryC = .allocate(capacity: prefix.count + AtomicFileWriter.pidRoom)
    temporaryC.initialize(repeating: 0, count: prefix.count + AtomicFileWriter.pidRoom)
    for (i, c) in prefix.enumerated() { temporaryC[i] = c }
  }

  deinit {
    free(pathC)
    free(directoryC)
    temporaryC.deallocate()
  }

  /// The temporary file's name for a file called `name`, without the pid: `.<name>.tmp.`
  static func temporaryPrefix(for name: String) -> String { ".\(name).tmp." }

  /// (directory part including its trailing "/", or "" for a bare name; the file name).
  static func split(_ path: String) -> (String, String) {
    guard let slash = path.lastIndex(of: "/") else { return ("", path) }
    return (String(path[...slash]), String(path[path.index(after: slash)...]))
  }

  /// The temporary file a writer in process `pid` uses.
  public func temporaryPath(pid: Int32) -> String {
    String(decoding: UnsafeRawBufferPointer(start: temporaryC, count: temporaryPrefixLength), as: UTF8.self) + String(pid)
  }

  /// Replaces the file with `bytes`; throws `KallimaError.io` saying what failed and what
  /// to do. When it throws before the rename, the previous file is untouched and the
  /// temporary file has been removed.
  public func write(_ bytes: [UInt8]) throws {
    if let failure = bytes.withUnsafeBytes({ write(bytes: $0) }) { throw error(for: failure, size: bytes.count) }
  }

  /// Replaces the file with `bytes` using system calls only: no allocation, no locks, safe
  /// after `fork()`. Returns the failed step and errno, or nil on success.
  public func write(bytes: UnsafeRawBufferPointer) -> Failure? {
    // Append this process's pid to the temporary name.
    var pid = Int(getpid())
    var digits = 1
    var rest = pid / 10
    while rest > 0 { digits += 1; rest /= 10 }
    temporaryC[temporaryPrefixLength + digits] = 0
    for i in stride(from: digits - 1, through: 0, by: -1) {
      temporaryC[temporaryPrefixLength + i] = CChar(48 + pid % 10)
      pid /= 10
    }

    let fd = open(temporaryC, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
    if fd < 0 { return Failure(step: .createTemporary, errno: errno) }
    var done = 0
    while done < bytes.count {
      let n = posixWrite(fd, bytes.baseAddress! + done, bytes.count - done)
      if n < 0 {
        let e = errno
        if e == EINTR { continue }
        return abandon(fd, Failure(step: .write, errno: e))
      }
      done += n
    }
    while fsync(fd) != 0 {
      let e = errno
      if e != EINTR { return abandon(fd, Failure(step: .syncFile, errno: e)) }
    }
    if close(fd) != 0 {
      let e = errno
      // On Linux the descriptor is released even when close fails.
      if e != EINTR { return abandon(-1, Failure(step: .closeFile, errno: e)) }
    }
    if rename(temporaryC, pathC) != 0 { return abandon(-1, Failure(step: .rename, errno: errno)) }
    return AtomicFileWriter.syncDirectory(directoryC)
  }

  /// fsync(2) of a directory, so that a rename in it survives a power cut. System calls
  /// only (safe after `fork()`). File systems that cannot sync a directory say EINVAL,
  /// which is not a failure: there is nothing more to do.
  static func syncDirectory(_ directory: UnsafePointer<CChar>) -> Failure? {
    let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd < 0 { return Failure(step: .openDirectory, errno: errno) }
    var failure: Failure? = nil
    while fsync(dfd) != 0 {
      let e = errno
      if e == EINTR { continue }
      if e != EINVAL { failure = Failure(step: .syncDirectory, errno: e) }
      break
    }
    close(dfd)
    return failure
  }

  /// Closes `fd` (unless -1), removes the temporary file, returns `failure`.
  private func abandon(_ fd: Int32, _ failure: Failure) -> Failure {
    if fd >= 0 { close(fd) }
    unlink(temporaryC)
    return failure
  }

  /// The user-facing error for a failure of this writer.
  public func error(for failure: Failure, size: Int) -> KallimaError {
    let reason = String(cString: strerror(failure.errno))
    let temporary = temporaryPath(pid: getpid())
    var advice: String
    switch failure.errno {
    case ENOSPC, EDQUOT:
      advice = "the disk (or your quota) is full: free space or write checkpoints to another directory (\(size) bytes needed)"
    case EACCES, EPERM, EROFS:
      advice = "the directory \(directory) is not writable: choose a writable directory or fix its permissions"
    case ENOENT where failure.step == .createTemporary:
      advice = "the directory \(directory) does not exist: create it first"
    case EIO:
      advice = "the storage device reported an I/O error: check the disk"
    case EISDIR where failure.step == .rename:
      advice = "the destination is a directory: choose a file name"
    default:
      advice = "check the path and the file system"
    }
    if failure.step.renamed {
      advice += "; the new file is in place but may not survive a power cut"
    } else {
      advice += "; the previous file, if any, is unchanged"
    }
    return KallimaError.io(
      path: path, message: "atomic write failed while \(failure.step.rawValue) (\(temporary)): \(reason); \(advice)")
  }

  /// Removes temporary files left in `path`'s directory by writers that died part way
  /// (their pid no longer exists). Files of live processes, including this one, are kept.
  /// Returns the paths removed. Such files never affect reading `path`; this only frees space.
  @discardableResult
  public static func removeLeftoverTemporaries(for path: String) -> [String] {
    let (dirPart, name) = split(path)
    return removeLeftovers(in: dirPart) { $0 == name }
  }

  /// Removes the temporary files that dead writers left in `directory` for any destination
  /// (e.g. a run's checkpoints after a kill -9). Returns the paths removed.
  @discardableResult
  public static func removeLeftoverTemporaries(inDirectory directory: String) -> [String] {
    removeLeftovers(in: directory.hasSuffix("/") ? directory : directory + "/") { _ in true }
  }

  /// Removes `<dirPart>.<name>.tmp.<pid>` files whose `name` passes `wanted` and whose pid
  /// is no longer running (or is not this process).
  private static func removeLeftovers(in dirPart: String, where wanted: (String) -> Bool) -> [String] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: dirPart.isEmpty ? "." : dirPart) else { return [] }
    var removed: [String] = []
    for candidate in names where candidate.hasPrefix(".") {
      guard let marker = candidate.range(of: ".tmp.", options: .backwards) else { continue }
      let name = String(candidate[candidate.index(after: candidate.startIndex)..<marker.lowerBound])
      let digits = candidate[marker.upperBound...]
      guard wanted(name), !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let pid = Int32(digits)
      else { continue }
      if pid == getpid() { continue }
      if kill(pid, 0) == 0 || errno == EPERM { continue }  // Still running (or not ours to judge).
      let full = dirPart + candidate
      if unlink(full) == 0 { removed.append(full) }
    }
    return removed
  }
}

extension AtomicFileWriter {
  /// fork() without the process's pthread_atfork handlers (see kallima_fork_without_handlers):
  /// for tests that kill a child in the middle of `write(bytes:)`. The child may only call
  /// `write(bytes:)` and `_exit`. Returns the child's pid in the parent, 0 in the child, −1
  /// on failure (errno set).
  public static func forkWithoutHandlers() -> pid_t { pid_t(kallima_fork_without_handlers()) }
}
