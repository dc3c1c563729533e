import KallimaCore

extension OpCatalog {
  // MARK: Pooling and resizing

  /// Max or average pooling ("max_pool2d" / "avg_pool2d"), phase "fwd" or "bwd".
  public static func pool2d(
    _ kind: String, _ phase: String, x: Shape, params p: Pool2dParams, countIncludePad: Bool = true
  ) -> OpCase {
    let y = p.outputShape(x)
    let op = "\(kind)_\(phase)"
    let window = p.kernel.h * p.kernel.w
    let detail = "x\(x) \(p)\(kind == "avg_pool2d" && !countIncludePad ? " excl-pad" : "")"
    let bytes = 4.0 * Double(x.count + y.count)
    switch (kind, phase) {
    case ("max_pool2d", "fwd"):
      return OpCase(op, detail, tensors: [.init("x", x), .init("y", y, .output)], bytes: bytes) { be, t in
        try be.max_pool2d_fwd(x: t["x"]!, y: t["y"]!, params: p)
      }
    case ("max_pool2d", "gather"):
      return OpCase(op, detail, tensors: [.init("x", x), .init("g", x), .init("y", y, .output)], bytes: bytes) {
        be, t in try be.max_pool2d_gather(x: t["x"]!, g: t["g"]!, y: t["y"]!, params: p)
      }
    case ("max_pool2d", _):
      return OpCase(op, detail, tensors: [.init("x", x), .init("dy", y), .init("dx", x, .output)], bytes: bytes) {
        be, t in try be.max_pool2d_bwd(x: t["x"]!, dy: t["dy"]!, dx: t["dx"]!, params: p)
      }
    case (_, "fwd"):
      return OpCase(
        op, detail, tensors: [.init("x", x), .init("y", y, .output)], reductionLength: window, bytes: bytes
      ) { be, t in try be.avg_pool2d_fwd(x: t["x"]!, y: t["y"]!, params: p, countIncludePad: countIncludePad) }
    default:
      return OpCase(
        op, detail, tensors: [.init("dy", y), .init("dx", x, .output)], reductionLength: window, bytes: bytes
      ) { be, t in try be.avg_pool2d_bwd(dy: t["dy"]!, dx: t["dx"]!, params: p, countIncludePad: countIncludePad) }
    }
  }

  /// Bilinear resize (align_corners=False) of x to oh×ow, phase "fwd" or "bwd".
  public static func upsampleBilinear(_ phase: String, x: Shape, oh: Int, ow: Int) -> OpCase {
    let y: Shape = [x[0], x[1], oh, ow]
    let detail = "x\(x) -> \(oh)x\(ow)"
    let bytes = 4.0 * Double(x.count + y.count)
    if phase == "fwd" {
      return OpCase(
        "upsample_bilinear2d_fwd", detail, tensors: [.init("x", x), .init("y", y, .output)], reductionLength: 4,
        bytes: bytes
      ) { be, t in try be.upsample_bilinear2d_fwd(x: t["x"]!, y: t["y"]!) }
    }
    // Each input gathers from up to 2·⌈OH/H⌉+2 rows and as many columns of outputs.
    let gathered = (2 * ((oh + x[2] - 1) / x[2]) + 2) * (2 * ((ow + x[3] - 1) / x[3]) + 2)
    return OpCase(
      "upsample_bilinear2d_bwd", detail, tensors: [.init("dy", y), .init("dx", x, .output)],
      reductionLength: gathered, bytes: bytes
    ) { be, t in try be.upsample_bilinear2d_bwd(dy: t["dy"]!, dx: t["dx"]!) }
  }

  /// Pooling and resizing cases around edges: every window/stride/padding pytorch-fid's
  /// Inception and torchvision's SqueezeNet use, ceil mode, global pooling, 1×1 maps, odd
  /// sizes, non-square windows; resizes up, down, and to 299.
  static func poolingParityCases() -> [OpCase] {
    var cases: [OpCase] = []
    let pools: [(x: Shape, p: Pool2dParams)] = [
      ([2, 3, 9, 9], Pool2dParams(kernel: 3, stride: 2)),  // Inception's max pools
      ([1, 2, 8, 7], Pool2dParams(kernel: 3, stride: 1, padding: 1)),  // Inception's branch avg pools
      ([2, 3, 13, 13], Pool2dParams(kernel: 3, stride: 2, ceilMode: true)),  // SqueezeNet's max pools
      ([1, 2, 12, 10], Pool2dParams(kernel: 3, stride: 2, padding: 1, ceilMode: true)),
      ([3, 2, 8, 8], Pool2dParams.global(h: 8, w: 8)),  // Inception's final pooling
      ([1, 1, 1, 1], Pool2dParams(kernel: 1)),
      ([2, 1, 33, 31], Pool2dParams(kernel: 2)),
      ([1, 3, 7, 11], Pool2dParams(kernel: (3, 1), stride: (2, 1), padding: (1, 0))),
      ([1, 1, 5, 5], Pool2dParams(kernel: 5, stride: 1, padding: 2)),
    ]
    for (x, p) in pools {
      for phase in ["fwd", "bwd"] {
        cases.append(pool2d("max_pool2d", phase, x: x, params: p))
        if phase == "bwd" { cases.append(pool2d("max_pool2d", "gather", x: x, params: p)) }
        for include in [true, false] { cases.append(pool2d("avg_pool2d", phase, x: x, params: p, countIncludePad: include)) }
      }
    }
    let resizes: [(x: Shape, oh: Int, ow: Int)] = [
      ([1, 1, 1, 1], 3, 3), ([2, 3, 7, 5], 11, 13), ([1, 2, 9, 9], 4, 4), ([1, 2, 6, 6], 6, 6),
      ([1, 2, 32, 32], 299, 299), ([2, 1, 5, 8], 3, 17),
    ]
    for r in resizes {
      for phase in ["fwd", "bwd"] { cases.append(upsampleBilinear(phase, x: r.x, oh: r.oh, ow: r.ow)) }
    }
    return cases
  }

  /// Pooling and resizing at the sizes pytorch-fid's Inception-v3 runs them, batch n.
  static func poolingBenchmarkCases(batch n: Int) -> [OpCase] {
    [
      upsampleBilinear("fwd", x: [n, 3, 64, 64], oh: 299, ow: 299),
      upsampleBilinear("bwd", x: [n, 3, 64, 64], oh: 299, ow: 299),
      pool2d("max_pool2d", "fwd", x: [n, 64, 147, 147], params: Pool2dParams(kernel: 3, stride: 2)),
      pool2d("max_pool2d", "bwd", x: [n, 64, 147, 147], params: Pool2dParams(kernel: 3, stride: 2)),
      pool2d("avg_pool2d", "fwd", x: [n, 192, 35, 35], params: Pool2dParams(kernel: 3, stride: 1, padding: 1), countIncludePad: false),
      pool2d("avg_pool2d", "bwd", x: [n, 192, 35, 35], params: Pool2dParams(kernel: 3, stride: 1, padding: 1), countIncludePad: false),
    ]
  }
}

extension OpCatalog {
  // MARK: Softmax

  /// Softmax cross-entropy ("softmax_cross_entropy_fwd"/"_bwd", targets are any non-negative
  /// rows: probability targets) or row softmax ("softmax_fwd") over [n, c] logits.
  public static func softmax(_ op: String, n: Int, c: Int) -> OpCase {
    let shape: Shape = [n, c]
    let detail = "[\(n), \(c)]"
    let logits = TensorSpec("x", shape, .normal(4))
    let targets = TensorSpec("t", shape, .uniform(0, 1))
    switch op {
    case "softmax_cross_entropy_fwd":
      return OpCase(op, detail, tensors: [logits, targets, .init("loss", [1], .output)], reductionLength: n * c) { be, t in
        try be.softmax_cross_entropy_fwd(logits: t["x"]!, targets: t["t"]!, loss: t["loss"]!)
      }
    case "softmax_cross_entropy_bwd":
      return OpCase(
        op, detail, tensors: [logits, targets, .init("dloss", [1], .constant(1.5)), .init("dx", shape, .output)],
        reductionLength: c
      ) { be, t in try be.softmax_cross_entropy_bwd(logits: t["x"]!, targets: t["t"]!, dloss: t["dloss"]!, dlogits: t["dx"]!) }
    default:
      return OpCase(op, detail, tensors: [logits, .init("y", shape, .output)], reductionLength: c) { be, t in
        try be.softmax_fwd(t["x"]!, y: t["y"]!)
      }
    }
  }

  static func softmaxParityCases() -> [OpCase] {
    [(1, 1), (1, 10), (3, 7), (64, 10), (257, 10), (5, 1008)].flatMap { n, c in
      ["softmax_cross_entropy_fwd", "softmax_cross_entropy_bwd", "softmax_fwd"].map { softmax($0, n: n, c: c) }
    }
  }
}
