import KallimaCore

extension OpCatalog {
  // MARK: Ops for GAN objectives, optimisers and layers beyond DCGAN

  /// "mul_scalar" or "div_scalar": x [n] with a one-element device scalar s.
  public static func scalarOperand(_ op: String, n: Int) -> OpCase {
    let s: Shape = [n]
    return OpCase(op, "n\(n)", tensors: [.init("x", s), .init("s", [1], .uniform(0.5, 2)), .init("y", s, .output)]) {
      be, t in
      if op == "mul_scalar" { try be.mul_scalar(t["x"]!, t["s"]!, y: t["y"]!) } else { try be.div_scalar(t["x"]!, t["s"]!, y: t["y"]!) }
    }
  }

  /// clamp to [−1, 1.5] (into y, or in place), or its backward.
  public static func clamp(backward: Bool, n: Int, inPlace: Bool = false) -> OpCase {
    let s: Shape = [n]
    let (lo, hi): (Float, Float) = (-1, 1.5)
    if backward {
      return OpCase("clamp_bwd", "n\(n)", tensors: [.init("x", s, .normal(2)), .init("dy", s), .init("dx", s, .output)]) {
        be, t in try be.clamp_bwd(x: t["x"]!, dy: t["dy"]!, dx: t["dx"]!, min: lo, max: hi)
      }
    }
    if inPlace {
      return OpCase("clamp_fwd", "n\(n) in place", tensors: [.init("x", s, .normal(2))]) { be, t in
        try be.clamp_fwd(t["x"]!, y: t["x"]!, min: lo, max: hi)
      }
    }
    return OpCase("clamp_fwd", "n\(n)", tensors: [.init("x", s, .normal(2)), .init("y", s, .output)]) { be, t in
      try be.clamp_fwd(t["x"]!, y: t["y"]!, min: lo, max: hi)
    }
  }

  public static func rmsprop(n: Int, momentum: Double, centered: Bool) -> OpCase {
    let s: Shape = [n]
    let h = RMSpropParams(lr: 1e-3, alpha: 0.99, eps: 1e-8, weightDecay: 0.01, momentum: momentum, centered: centered)
    // v − gAvg² stays positive: v ≥ 0.0099 after the update, gAvg² ≤ 0.0025.
    return OpCase(
      "rmsprop_step", "n\(n) momentum \(momentum)\(centered ? " centred" : "")",
      tensors: [
        .init("p", s), .init("g", s), .init("v", s, .uniform(0.01, 0.02)), .init("buf", s, .normal(0.1)),
        .init("gavg", s, .uniform(-0.05, 0.05)),
      ],
      flops: 14.0 * Double(n)
    ) { be, t in
      try be.rmsprop_step(
        param: t["p"]!, grad: t["g"]!, squareAvg: t["v"]!, momentumBuffer: momentum > 0 ? t["buf"]! : nil,
        gradAvg: centered ? t["gavg"]! : nil, params: h)
    }
  }

  public static func ema(n: Int, beta: Double) -> OpCase {
    let s: Shape = [n]
    // beta = 0 copies param whatever ema held (NaN included): ema starts as the sentinel.
    return OpCase("ema_update", "n\(n) beta \(beta)", tensors: [.init("ema", s, beta == 0 ? .output : .normal(1)), .init("p", s)]) { be, t in
      try be.ema_update(ema: t["ema"]!, param: t["p"]!, beta: beta)
    }
  }

  public static func dropoutMask(n: Int, counter: UInt64, p: Float) -> OpCase {
    OpCase("dropout_mask", "n\(n) counter \(counter) p \(p)", tensors: [.init("y", [n], .output)], exact: true) { be, t in
      try be.dropout_mask(t["y"]!, stream: RandomStream(seed: 0x0fed_cba9_8765_4321, counter: counter), p: p)
    }
  }

  /// Reflection padding, phase "fwd" or "bwd".
  public static func reflectionPad2d(_ phase: String, x: Shape, padding p: Padding2d) -> OpCase {
    let y = p.outputShape(x)
    let detail = "x\(x) \(p)"
    let bytes = 4.0 * Double(x.count + y.count)
    if phase == "fwd" {
      return OpCase("reflection_pad2d_fwd", detail, tensors: [.init("x", x), .init("y", y, .output)], bytes: bytes) {
        be, t in try be.reflection_pad2d_fwd(x: t["x"]!, y: t["y"]!, padding: p)
      }
    }
    return OpCase(
      "reflection_pad2d_bwd", detail, tensors: [.init("dy", y), .init("dx", x, .output)], reductionLength: 9,
      bytes: bytes
    ) { be, t in try be.reflection_pad2d_bwd(dy: t["dy"]!, dx: t["dx"]!, padding: p) }
  }

  /// Nearest upsampling by `scale`, phase "fwd" or "bwd".
  public static func upsampleNearest(_ phase: String, x: Shape, scale k: Int) -> OpCase {
    let y: Shape = [x[0], x[1], x[2] * k, x[3] * k]
    let detail = "x\(x) x\(k)"
    let bytes = 4.0 * Double(x.count + y.count)
    if phase == "fwd" {
      return OpCase("upsample_nearest2d_fwd", detail, tensors: [.init("x", x), .init("y", y, .output)], bytes: bytes) {
        be, t in try be.upsample_nearest2d_fwd(x: t["x"]!, y: t["y"]!, scale: k)
      }
    }
    return OpCase(
      "upsample_nearest2d_bwd", detail, tensors: [.init("dy", y), .init("dx", x, .output)],
      reductionLength: k * k, bytes: bytes
    ) { be, t in try be.upsample_nearest2d_bwd(dy: t["dy"]!, dx: t["dx"]!, scale: k) }
  }

  /// y [B, A, …] = x [A, B, …].
  public static func transpose01(_ x: Shape) -> OpCase {
    let y = Shape([x[1], x[0]] + Array(x.dims.dropFirst(2)))
    return OpCase("transpose01", "x\(x)", tensors: [.init("x", x), .init("y", y, .output)]) { be, t in
      try be.transpose01(t["x"]!, y: t["y"]!)
    }
  }

  /// The parity sweep for these ops: every length in `edgeLengths`, and padding/upsampling
  /// geometries with 1-pixel maps, odd sizes, the largest legal paddings and rows of
  /// 31–33, 63–65 and 255–257 pixels.
  static func ganOpsParityCases() -> [OpCase] {
    var cases: [OpCase] = []
    for n in edgeLengths {
      cases.append(scalarOperand("mul_scalar", n: n))
      cases.append(scalarOperand("div_scalar", n: n))
      cases.append(clamp(backward: false, n: n))
      cases.append(clamp(backward: false, n: n, inPlace: true))
      cases.append(clamp(backward: true, n: n))
      cases.append(rmsprop(n: n, momentum: 0, centered: false))
      cases.append(rmsprop(n: n, momentum: 0.9, centered: true))
      cases.append(ema(n: n, beta: 0.999))
      cases.append(transpose01([n, 3, 2, 2]))
      cases.append(transpose01([2, n]))
      cases.append(dropoutMask(n: n, counter: 3, p: 0.3))
    }
    cases.append(rmsprop(n: 65, momentum: 0.5, centered: false))
    cases.append(rmsprop(n: 65, momentum: 0, centered: true))
    cases.append(ema(n: 65, beta: 0))
    cases.append(dropoutMask(n: 257, counter: 0xffff_ffff, p: 0))
    cases.append(dropoutMask(n: 257, counter: 1, p: 0.5))
    cases.append(dropoutMask(n: 33, counter: 1, p: 1))
    let pads: [(Shape, Padding2d)] = [
      ([1, 1, 2, 2], Padding2d(1)), ([2, 3, 5, 7], Padding2d(top: 2, bottom: 1, left: 3, right: 0)),
      ([1, 2, 33, 31], Padding2d(3)), ([1, 1, 1, 64], Padding2d(top: 0, bottom: 0, left: 63, right: 1)),
      ([1, 1, 32, 255], Padding2d(top: 31, bottom: 31, left: 1, right: 1)), ([2, 1, 65, 4], Padding2d(top: 64, bottom: 2, left: 3, right: 3)),
      ([1, 1, 3, 257], Padding2d(top: 2, bottom: 2, left: 256, right: 256)),
    ]
    for (x, p) in pads {
      for phase in ["fwd", "bwd"] { cases.append(reflectionPad2d(phase, x: x, padding: p)) }
    }
    let ups: [(Shape, Int)] = [
      ([1, 1, 1, 1], 2), ([2, 3, 5, 7], 2), ([1, 2, 33, 31], 3), ([1, 1, 4, 4], 1), ([1, 1, 2, 3], 5),
      ([1, 1, 1, 65], 4), ([1, 1, 255, 1], 2),
    ]
    for (x, k) in ups {
      for phase in ["fwd", "bwd"] { cases.append(upsampleNearest(phase, x: x, scale: k)) }
    }
    return cases
  }

  /// These ops at DCGAN-64, batch-n sizes.
  static func ganOpsBenchmarkCases(batch n: Int) -> [OpCase] {
    let count = n * 128 * 16 * 16
    return [
      scalarOperand("mul_scalar", n: count), scalarOperand("div_scalar", n: count),
      clamp(backward: false, n: count), clamp(backward: true, n: count),
      rmsprop(n: 1 << 21, momentum: 0, centered: false), ema(n: 1 << 21, beta: 0.999),
      dropoutMask(n: count, counter: 0, p: 0.5), transpose01([512, 256, 4, 4]),
      reflectionPad2d("fwd", x: [n, 64, 32, 32], padding: Padding2d(1)),
      reflectionPad2d("bwd", x: [n, 64, 32, 32], padding: Padding2d(1)),
      upsampleNearest("fwd", x: [n, 128, 16, 16], scale: 2), upsampleNearest("bwd", x: [n, 128, 16, 16], scale: 2),
    ]
  }
}
