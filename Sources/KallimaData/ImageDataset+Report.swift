extension ImageDataset {
  /// What `ImageDataset.load` did: where the images came from, how many it used, and every
  /// file it skipped with the reason.
  public struct Report: Equatable, Sendable, Codable, CustomStringConvertible {
    public enum Source: Equatable, Sendable, Codable {
      /// A folder searched recursively for .png/.jpg/.jpeg files.
      case folder(String)
      /// An idx3 images file and, if one was found, its idx1 labels file.
      case idx(images: String, labels: String?)
    }

    public enum Reason: Equatable, Sendable, Codable {
      /// The file could not be decoded (corrupt, truncated, or not really a PNG/JPEG);
      /// carries the decoder's message.
      case unreadable(String)
      /// The shorter side is below the requested size. Folder images are never upscaled.
      case tooSmall(width: Int, height: Int)
    }

    public struct Skipped: Equatable, Sendable, Codable {
      public var path: String
      public var reason: Reason
    }

    public var source: Source
    /// The side length images were brought to.
    public var size: Int
    /// Image files found (folders) or images in the file (idx).
    public var candidates: Int
    /// How many candidates were looked at; below `candidates` when `limit` was reached first.
    public var examined: Int
    /// Images in the dataset.
    public var loaded: Int
    /// Skipped files in path order.
    public var skipped: [Skipped]
    /// Remarks on how images were transformed, e.g. idx images resized up from 28x28.
    public var notes: [String]
    /// What `loadConditioned` did; nil for a plain `load` (and in reports stored before it existed).
    public var conditioning: Conditioning? = nil

    /// How images were paired with conditions (`ImageDataset.loadConditioned`).
    public struct Conditioning: Equatable, Sendable, Codable {
      public var kind: ConditionKind
      /// Where the conditions came from, e.g. "metadata.jsonl column 'tags'" or "subfolder names (ImageFolder)".
      public var source: String
      /// Images kept: loaded and with a condition.
      public var conditioned: Int
      /// Loaded images dropped for having no condition (no metadata line, no such column, empty tags/text).
      public var skipped: Int
      /// Some of the dropped images (at most 10) with the reason, e.g. "cat.png: no metadata line".
      public var skippedExamples: [String]
      /// Remarks, e.g. where class names came from, metadata lines naming no image.
      public var notes: [String]
    }

    public var unreadableCount: Int {
      skipped.filter { if case .unreadable = $0.reason { return true } else { return false } }.count
    }
    public var tooSmallCount: Int {
      skipped.filter { if case .tooSmall = $0.reason { return true } else { return false } }.count
    }

    /// One summary line, then one line per note and per skipped file.
    public var description: String {
      var lines: [String] = []
      switch source {
      case .folder(let path):
        var line = "loaded \(loaded) images from \(path) (\(candidates) image files found, \(examined) examined"
        if !skipped.isEmpty {
          line += "; skipped \(skipped.count): \(unreadableCount) unreadable, \(tooSmallCount) too small"
        }
        lines.append(line + ")")
      case .idx(let images, let labels):
        lines.append(
          "loaded \(loaded) of \(candidates) images from \(images)" + (labels.map { " with labels from \($0)" } ?? ""))
      }
      lines += notes.map { "  note: \($0)" }
      if let c = conditioning {
        var line = "  conditioning (\(c.kind.rawValue)) from \(c.source): \(c.conditioned) images conditioned"
        if c.skipped > 0 { line += ", \(c.skipped) skipped without a condition" }
        lines.append(line)
        lines += c.notes.map { "  note: \($0)" }
        lines += c.skippedExamples.map { "  skipped \($0)" }
        if c.skipped > c.skippedExamples.count {
          lines.append("  (and \(c.skipped - c.skippedExamples.count) more skipped without a condition)")
        }
      }
      for s in skipped {
        switch s.reason {
        case .unreadable(let message): lines.append("  skipped \(s.path): unreadable: \(message)")
        case .tooSmall(let w, let h): lines.append(
            "  skipped \(s.path): \(w)x\(h) is smaller than \(size) on the shorter side (folder images are not upscaled)")
        }
      }
      return lines.joined(separator: "\n")
    }
  }
}
