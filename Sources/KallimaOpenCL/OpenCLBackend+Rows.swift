/// Row runs (Kernels/rows.h): launches over rows of contiguous values. NC planes of the
/// ops that need each element's channel (norm apply, channel broadcasts), channel blocks of
/// concat and slice, image rows of padding and nearest upsampling.
extension OpenCLBackend {
  /// The longest run of a row one work-item takes (ROW_SEGMENT of Kernels/rows.h).
  static let rowSegment = 2048

  /// Enqueues a row-run launch: `rows` rows of `rowLength` contiguous values, each cut into
  /// runs of at most `rowSegment`, one work-item per run. A kernel finds what it needs per
  /// row (a channel p % C, a source row) once per run and streams the run eight values at a
  /// time. A launch of one work-item per element needs integer divisions per element
  /// instead, which do not vectorise: they held batch norm and the channel broadcasts to a
  /// fraction of copy speed.
  func launchRowRuns(_ name: String, rowLength: Int, rows: Int, _ args: [KernelArg]) throws {
    guard rowLength > 0, rows > 0 else { return }
    let segments = (rowLength + OpenCLBackend.rowSegment - 1) / OpenCLBackend.rowSegment
    try launch(name, items: rows * segments, args)
  }
}
