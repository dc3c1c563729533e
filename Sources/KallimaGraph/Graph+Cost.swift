import KallimaCore

extension Graph {
  /// Floating-point operations of one run of node `index`, counting the GEMM-shaped work
  /// (convolutions and their gradients, matrix products) as 2 per multiply-add; pointwise and
  /// reduction nodes count 0 (they are bandwidth-bound and a small share of a DCGAN step).
  public func flops(ofNode index: Int) -> Double {
    let node = nodes[index]
    let s = node.inputs.map(shape)
    func conv(image: Shape, weight: Shape, grid: Shape) -> Double {
      // weight [K, C, KH, KW] (or [C, K, ...] for the transpose): every tap of every output.
      2 * Double(weight.count) * Double(grid[0] * grid[2] * grid[3])
    }
    switch node.op {
    case .conv2d:
      return conv(image: s[0], weight: s[1], grid: node.outputShapes[0])
    case .conv2dBwdData:
      return conv(image: node.outputShapes[0], weight: s[1], grid: s[0])
    case .conv2dBwdWeight:
      return conv(image: s[0], weight: node.outputShapes[0], grid: s[1])
    case .convTranspose2d:
      return conv(image: node.outputShapes[0], weight: s[1], grid: s[0])
    case .convTranspose2dBwdData:
      return conv(image: s[0], weight: s[1], grid: node.outputShapes[0])
    case .convTranspose2dBwdWeight:
      return conv(image: s[1], weight: node.outputShapes[0], grid: s[0])
    case .matmul(let ta, _, _):
      let k = ta ? s[0][0] : s[0][1]
      return 2 * Double(node.outputShapes[0].count) * Double(k)
    default:
      return 0
    }
  }

  /// Total GEMM-shaped FLOPs of one run of the graph.
  public var flops: Double { nodes.indices.reduce(0) { $0 + flops(ofNode: $1) } }
}
