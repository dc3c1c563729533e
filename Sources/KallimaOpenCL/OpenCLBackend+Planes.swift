/// Launches over NC planes: ops on x [N, C, inner] that need each element's channel.
extension OpenCLBackend {
  /// Enqueues a 2-D launch of `inner` × `planes` work-items (each axis rounded up to whole
  /// groups; kernels bound-check both): dimension 0 runs along a plane's `inner` contiguous
  /// values, dimension 1 over the planes p = n·C + c. A kernel finds the channel as p % C,
  /// the same for a whole row of work-items, where a 1-D launch needs two divisions per
  /// element (integer division does not vectorise; it held batch norm far below copy speed).
  func launchPlanes(_ name: String, inner: Int, planes: Int, _ args: [KernelArg]) throws {
    guard inner > 0, planes > 0 else { return }
    let (local0, local1) = OpenCLBackend.planeGroup(inner: inner, groupSize: groupSize)
    try launch(
      name, global: [(inner + local0 - 1) / local0 * local0, (planes + local1 - 1) / local1 * local1],
      local: [local0, local1], args)
  }

  /// The work-group of a plane launch: along the plane the smallest power of two covering
  /// `inner` (at most `groupSize`), the rest of the group over planes, so short planes
  /// (H·W = 1, 4, 16) still fill whole groups.
  static func planeGroup(inner: Int, groupSize: Int) -> (Int, Int) {
    var local0 = 1
    while local0 < inner && local0 < groupSize { local0 *= 2 }
    return (local0, max(1, groupSize / local0))
  }
}
