import ArgumentParser
import Foundation
import KallimaCore
import KallimaTrain

/// `kallima runs`: the run folders under a folder, with their state, step, losses and best
/// evaluation.
struct Runs: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List run folders: state (running, stopped, diverged, finished), step, last losses, best evaluation.",
    discussion: """
      A run folder is one with metrics.jsonl, status.json or checkpoints/ (searched up to three \
      levels down). The state comes from status.json, which kallima train rewrites at each log \
      interval: a run whose process is gone shows as stopped. A damaged file is reported on \
      standard error and the listing goes on. Each run folder also has index.html, a page of \
      its curves and grids that opens from disk.
      """)
  @Argument(help: "Folder to search (default: ./runs, where kallima train writes, if it exists; else the current folder).")
  var folder: String?

  func run() throws {
    let root = folder ?? (FileManager.default.fileExists(atPath: "runs") ? "runs" : ".")
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw KallimaError.io(path: root, message: "no such folder; pass the folder that holds your run folders")
    }
    let listing = RunList.list(under: root)
    for problem in listing.problems { printError("kallima runs: \(problem)") }
    guard !listing.runs.isEmpty else {
      throw KallimaError.io(
        path: root, message: "no run folders here (a run folder has metrics.jsonl, status.json or checkpoints/)")
    }
    print(listing.table)
  }
}
