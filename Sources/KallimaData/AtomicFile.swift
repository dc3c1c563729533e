import Foundation
import KallimaCore

/// Writes a file so that readers see either the old file or the complete new one, never a
/// partial write: the content goes to a temporary file in the same folder (so the rename
/// stays on one file system), which is fsync'd and then replaces `path` with rename(2);
/// then the folder is fsync'd, so the rename itself survives a power cut.
///
/// For writers that produce a file by path (libpng, zlib) or in pieces (`DatasetCache`);
/// `AtomicFileWriter` does the same for bytes in memory.
public enum AtomicFile {
  /// Calls `write` with the temporary path, then renames it over `path`. On any failure the
  /// temporary file is removed and `path` is left as it was.
  static func write(to path: String, _ write: (_ temporaryPath: String) throws -> Void) throws {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw KallimaError.io(path: path, message: "folder \(folder) does not exist; create it first")
    }
    let temporary = url.deletingLastPathComponent()
      .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp").path
    do {
      try write(temporary)
      try moveIntoPlace(temporary, to: path)
    } catch {
      unlink(temporary)
      throw error
    }
  }

  /// Flushes the finished file `temporary` (in `path`'s folder) to disk, renames it over
  /// `path` and syncs the folder. A throw before the rename leaves `path` as it was and the
  /// temporary file for the caller to remove.
  static func moveIntoPlace(_ temporary: String, to path: String) throws {
    // Flush the data before the rename makes it visible, so a crash cannot leave `path`
    // pointing at an empty or partial file.
    let fd = open(temporary, O_RDONLY | O_CLOEXEC)
    var synced = fd >= 0
    while synced && fsync(fd) != 0 { synced = errno == EINTR }
    let reason = String(cString: strerror(errno))
    if fd >= 0 { close(fd) }
    guard synced else {
      throw KallimaError.io(
        path: path, message: "could not flush the new file to disk (\(reason)); the previous file is unchanged: check the disk")
    }
    guard rename(temporary, path) == 0 else {
      let reason = String(cString: strerror(errno))
      throw KallimaError.io(
        path: path, message: "could not move the finished file into place: \(reason); check permissions")
    }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    if let failure = AtomicFileWriter.syncDirectory(folder) {
      throw KallimaError.io(
        path: path,
        message: "the file is in place, but \(failure.step.rawValue) failed: \(String(cString: strerror(failure.errno))); "
          + "it may not survive a power cut: check the disk")
    }
  }

  /// Writes `data` to `path` atomically (sweep tables, JSON results).
  public static func write(_ data: Data, to path: String) throws {
    try write(to: path) { try data.write(to: URL(fileURLWithPath: $0)) }
  }
}
