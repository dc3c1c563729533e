/// Launches over rows of contiguous values: NC planes of ops that need each element's
/// channel, channel blocks of concat and slice (row runs), image rows of padding and
/// resampling (2-D row launches).
extension OpenCLBackend {
  /// The longest run of a row one work-item takes in a row-run launch (ROW_SEGMENT of
  /// Kernels/rows.h).
  static let rowSegment = 2048

  /// Enqueues a row-run launch (Kernels/rows.h): `rows` rows of `rowLength` contiguous
  /// values, each cut into runs of at most `rowSegment`, one work-item per run. A kernel
  /// finds what it needs per row (a channel p % C) once per run and streams the run eight
  /// values at a time; a 1-D launch per element needs divisions per element, which do not
  /// vectorise (they held batch norm and the channel broadcasts to a fraction of copy speed).
  func launchRowRuns(_ name: String, rowLength: Int, rows: Int, _ args: [KernelArg]) throws {
    guard rowLength > 0, rows > 0 else { return }
    let segments = (rowLength + OpenCLBackend.rowSegment - 1) / OpenCLBackend.rowSegment
    try launch(name, items: rows * segments, args)
  }

  /// Enqueues a 2-D launch of `rowLength` × `rows` work-items (each axis rounded up to
  /// whole groups; kernels bound-check both): dimension 0 runs along a row's contiguous
  /// values, dimension 1 over rows. A kernel derives what it needs from the row index (a
  /// channel p % C, a plane and image row r / H, r % H) once per row of work-items, where a
  /// 1-D launch needs divisions per element; integer division does not vectorise, and it
  /// held batch norm and the channel broadcasts to a fraction of copy speed.
  func launchRows(_ name: String, rowLength: Int, rows: Int, _ args: [KernelArg]) throws {
    guard rowLength > 0, rows > 0 else { return }
    let (local0, local1) = OpenCLBackend.rowGroup(rowLength: rowLength, groupSize: groupSize)
    try launch(
      name, global: [(rowLength + local0 - 1) / local0 * local0, (rows + local1 - 1) / local1 * local1],
      local: [local0, local1], args)
  }

  /// The work-group of a row launch: along the row the smallest power of two covering
  /// `rowLength` (at most `groupSize`), the rest of the group over rows, so short rows
  /// (H·W = 1, 4, 16) still fill whole groups.
  static func rowGroup(rowLength: Int, groupSize: Int) -> (Int, Int) {
    var local0 = 1
    while local0 < rowLength && local0 < groupSize { local0 *= 2 }
    return (local0, max(1, groupSize / local0))
  }
}
