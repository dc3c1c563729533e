/// 2-D launches over rows of contiguous values: NC planes of ops that need each element's
/// channel, image rows of padding and resampling, channel blocks of concat and slice.
extension OpenCLBackend {
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
