import KallimaCore

/// Builders for every op's cases, and the two sweeps that use them: `parityCases` (shapes
/// around work-group edges, batch 1, odd channels, every DCGAN stride/padding) and
/// `benchmarkCases` (DCGAN-64 sizes).
public enum OpCatalog {
  // MARK: Convolution

  public static func conv2d(
    _ phase: String, n: Int, c: Int, h: Int, w: Int, k: Int, kernel: Int, stride: Int, padding: Int,
    bias: Bool = true
  ) -> OpCase {
    let p = Conv2dParams(stride: stride, padding: padding)
    let oh = (h + 2 * padding - kernel) / stride + 1
    let ow = (w + 2 * padding - kernel) / stride + 1
    let x: Shape = [n, c, h, w]
    let wt: Shape = [k, c, kernel, kernel]
    let y: Shape = [n, k, oh, ow]
    let detail = "x\(x) w\(wt) s\(stride) p\(padding)\(bias ? " bias" : "")"
    let flops = 2.0 * Double(k * c * kernel * kernel * n * oh * ow)
    switch phase {
    case "fwd":
      return OpCase(
        "conv2d_fwd", detail,
        tensors: [.init("x", x), .init("w", wt, .normal(0.2)), .init("b", [k]), .init("y", y, .output)],
        reductionLength: c * kernel * kernel, flops: flops
      ) { be, t in try be.conv2d_fwd(x: t["x"]!, weight: t["w"]!, bias: bias ? t["b"]! : nil, y: t["y"]!, params: p) }
    case "bwd_data":
      return OpCase(
        "conv2d_bwd_data", detail,
        tensors: [.init("dy", y), .init("w", wt, .normal(0.2)), .init("dx", x, .output)],
        reductionLength: k * kernel * kernel, flops: flops
      ) { be, t in try be.conv2d_bwd_data(dy: t["dy"]!, weight: t["w"]!, dx: t["dx"]!, params: p) }
    default:
      return OpCase(
        "conv2d_bwd_weight", detail,
        tensors: [.init("x", x), .init("dy", y), .init("dw", wt, .output)],
        reductionLength: n * oh * ow, flops: flops
      ) { be, t in try be.conv2d_bwd_weight(x: t["x"]!, dy: t["dy"]!, dweight: t["dw"]!, params: p) }
    }
  }

  public static func convTranspose2d(
    _ phase: String, n: Int, c: Int, h: Int, w: Int, k: Int, kernel: Int, stride: Int, padding: Int,
    outputPadding: Int = 0, bias: Bool = true
  ) -> OpCase {
    let p = ConvTranspose2dParams(stride: stride, padding: padding, outputPadding: outputPadding)
    let oh = (h - 1) * stride - 2 * padding + kernel + outputPadding
    let ow = (w - 1) * stride - 2 * padding + kernel + outputPadding
    let x: Shape = [n, c, h, w]
    let wt: Shape = [c, k, kernel, kernel]
    let y: Shape = [n, k, oh, ow]
    let detail = "x\(x) w\(wt) s\(stride) p\(padding) op\(outputPadding)\(bias ? " bias" : "")"
    let flops = 2.0 * Double(k * c * kernel * kernel * n * h * w)
    switch phase {
    case "fwd":
      return OpCase(
        "conv_transpose2d_fwd", detail,
        tensors: [.init("x", x), .init("w", wt, .normal(0.2)), .init("b", [k]), .init("y", y, .output)],
        reductionLength: c * kernel * kernel, flops: flops
      ) { be, t in
        try be.conv_transpose2d_fwd(x: t["x"]!, weight: t["w"]!, bias: bias ? t["b"]! : nil, y: t["y"]!, params: p)
      }
    case "bwd_data":
      return OpCase(
        "conv_transpose2d_bwd_data", detail,
        tensors: [.init("dy", y), .init("w", wt, .normal(0.2)), .init("dx", x, .output)],
        reductionLength: k * kernel * kernel, flops: flops
      ) { be, t in try be.conv_transpose2d_bwd_data(dy: t["dy"]!, weight: t["w"]!, dx: t["dx"]!, params: p) }
    default:
      return OpCase(
        "conv_transpose2d_bwd_weight", detail,
        tensors: [.init("x", x), .init("dy", y), .init("dw", wt, .output)],
        reductionLength: n * h * w, flops: flops
      ) { be, t in try be.conv_transpose2d_bwd_weight(x: t["x"]!, dy: t["dy"]!, dweight: t["dw"]!, params: p) }
    }
  }

  // MARK: Normalisation

  /// `momentum` (train-mode forward): 0 must leave the running statistics untouched.
  /// `ramp`: x rises through the tensor (train-mode forward and backward) instead of being
  /// uniform noise, so the statistics' splits have different means.
  public static func batchnorm(_ phase: String, shape: Shape, momentum: Float = 0.1, ramp: Bool = false) -> OpCase {
    let c = shape[1]
    let m = shape.count / c
    let ch: Shape = [c]
    let x: TensorInit = ramp ? .ramp(-2, 3) : .uniform(-2, 3)
    let detail = "x\(shape)" + (momentum == 0.1 ? "" : " momentum \(momentum)") + (ramp ? " ramp" : "")
    switch phase {
    case "fwd_train":
      return OpCase(
        "batchnorm_fwd_train", detail,
        tensors: [
          .init("x", shape, x), .init("gamma", ch), .init("beta", ch), .init("y", shape, .output),
          .init("mean", ch, .output), .init("invstd", ch, .output), .init("rm", ch), .init("rv", ch, .uniform(0.5, 2)),
        ],
        reductionLength: m, flops: 8.0 * Double(shape.count)
      ) { be, t in
        try be.batchnorm_fwd_train(
          x: t["x"]!, gamma: t["gamma"]!, beta: t["beta"]!, y: t["y"]!, saveMean: t["mean"]!,
          saveInvstd: t["invstd"]!, runningMean: t["rm"]!, runningVar: t["rv"]!, momentum: momentum, eps: 1e-5)
      }
    case "fwd_eval":
      return OpCase(
        "batchnorm_fwd_eval", detail,
        tensors: [
          .init("x", shape), .init("gamma", ch), .init("beta", ch), .init("rm", ch), .init("rv", ch, .uniform(0.5, 2)),
          .init("y", shape, .output),
        ]
      ) { be, t in
        try be.batchnorm_fwd_eval(
          x: t["x"]!, gamma: t["gamma"]!, beta: t["beta"]!, runningMean: t["rm"]!, runningVar: t["rv"]!,
          y: t["y"]!, eps: 1e-5)
      }
    case "bwd":
      return OpCase(
        "batchnorm_bwd", detail,
        tensors: [
          .init("dy", shape), .init("x", shape, x), .init("gamma", ch), .init("mean", ch, .uniform(0, 1)),
          .init("invstd", ch, .uniform(0.5, 1.5)), .init("dx", shape, .output), .init("dgamma", ch, .output),
          .init("dbeta", ch, .output),
        ],
        reductionLength: m, flops: 10.0 * Double(shape.count)
      ) { be, t in
        try be.batchnorm_bwd(
          dy: t["dy"]!, x: t["x"]!, gamma: t["gamma"]!, saveMean: t["mean"]!, saveInvstd: t["invstd"]!,
          dx: t["dx"]!, dgamma: t["dgamma"]!, dbeta: t["dbeta"]!)
      }
    default:
      return OpCase(
        "batchnorm_bwd_eval", detail,
        tensors: [
          .init("dy", shape), .init("x", shape), .init("gamma", ch), .init("rm", ch), .init("rv", ch, .uniform(0.5, 2)),
          .init("dx", shape, .output), .init("dgamma", ch, .output), .init("dbeta", ch, .output),
        ],
        reductionLength: m
      ) { be, t in
        try be.batchnorm_bwd_eval(
          dy: t["dy"]!, x: t["x"]!, gamma: t["gamma"]!, runningMean: t["rm"]!, runningVar: t["rv"]!,
          dx: t["dx"]!, dgamma: t["dgamma"]!, dbeta: t["dbeta"]!, eps: 1e-5)
      }
    }
  }

  public static func instancenorm(_ phase: String, shape: Shape, affine: Bool) -> OpCase {
    let (n, c) = (shape[0], shape[1])
    let ch: Shape = [c]
    let st: Shape = [n * c]
    let detail = "x\(shape)\(affine ? " affine" : "")"
    if phase == "fwd" {
      return OpCase(
        "instancenorm_fwd", detail,
        tensors: [
          .init("x", shape, .uniform(-1, 2)), .init("gamma", ch), .init("beta", ch), .init("y", shape, .output),
          .init("mean", st, .output), .init("invstd", st, .output),
        ],
        reductionLength: shape.count / (n * c)
      ) { be, t in
        try be.instancenorm_fwd(
          x: t["x"]!, gamma: affine ? t["gamma"]! : nil, beta: affine ? t["beta"]! : nil, y: t["y"]!,
          saveMean: t["mean"]!, saveInvstd: t["invstd"]!, eps: 1e-5)
      }
    }
    return OpCase(
      "instancenorm_bwd", detail,
      // Without affine the op writes no dgamma, dbeta: the case has none.
      tensors: [
        .init("dy", shape), .init("x", shape), .init("gamma", ch), .init("mean", st, .uniform(-0.5, 0.5)),
        .init("invstd", st, .uniform(0.5, 1.5)), .init("dx", shape, .output),
      ] + (affine ? [.init("dgamma", ch, .output), .init("dbeta", ch, .output)] : []),
      reductionLength: shape.count / c
    ) { be, t in
      try be.instancenorm_bwd(
        dy: t["dy"]!, x: t["x"]!, gamma: affine ? t["gamma"]! : nil, saveMean: t["mean"]!,
        saveInvstd: t["invstd"]!, dx: t["dx"]!, dgamma: affine ? t["dgamma"]! : nil,
        dbeta: affine ? t["dbeta"]! : nil)
    }
  }

  // MARK: Pointwise, matrix, reductions, losses, optimisers, random

  public static func activation(_ kind: Activation, backward: Bool, n: Int) -> OpCase {
    let s: Shape = [n]
    let positive = kind == .sqrt || kind == .rsqrt
    let x: TensorInit = positive ? .uniform(0.01, 4) : kind == .exp ? .uniform(-4, 4) : .normal(3)
    let y: TensorInit = positive ? .uniform(0.1, 2) : .uniform(-1, 1)
    if !backward {
      return OpCase("activation_fwd", "\(kind) n\(n)", tensors: [.init("x", s, x), .init("y", s, .output)]) {
        be, t in try be.activation_fwd(kind, x: t["x"]!, y: t["y"]!)
      }
    }
    return OpCase(
      "activation_bwd", "\(kind) n\(n)",
      tensors: [.init("x", s, x), .init("y", s, y), .init("dy", s), .init("dx", s, .output)]
    ) { be, t in try be.activation_bwd(kind, x: t["x"]!, y: t["y"]!, dy: t["dy"]!, dx: t["dx"]!) }
  }

  public static func binary(_ op: String, n: Int) -> OpCase {
    let s: Shape = [n]
    return OpCase(op, "n\(n)", tensors: [.init("a", s), .init("b", s), .init("y", s, .output)]) { be, t in
      switch op {
      case "add": try be.add(t["a"]!, t["b"]!, y: t["y"]!)
      case "mul": try be.mul(t["a"]!, t["b"]!, y: t["y"]!)
      default: try be.scale(t["a"]!, alpha: -0.37, y: t["y"]!)
      }
    }
  }

  public static func channelBroadcast(_ op: String, shape: Shape) -> OpCase {
    OpCase(op, "x\(shape)", tensors: [.init("x", shape), .init("v", [shape[1]]), .init("y", shape, .output)]) {
      be, t in
      if op == "add_channel" {
        try be.add_channel(t["x"]!, bias: t["v"]!, y: t["y"]!)
      } else {
        try be.mul_channel(t["x"]!, scale: t["v"]!, y: t["y"]!)
      }
    }
  }

  public static func concatSlice(n: Int, c1: Int, c2: Int, hw: Int) -> [OpCase] {
    let a: Shape = [n, c1, hw, hw]
    let b: Shape = [n, c2, hw, hw]
    let y: Shape = [n, c1 + c2, hw, hw]
    return [
      OpCase("concat_channels", "\(a) + \(b)", tensors: [.init("a", a), .init("b", b), .init("y", y, .output)]) {
        be, t in try be.concat_channels([t["a"]!, t["b"]!], y: t["y"]!)
      },
      OpCase("slice_channels", "\(y)[\(c1)..<\(c1 + c2)]", tensors: [.init("x", y), .init("y", b, .output)]) {
        be, t in try be.slice_channels(t["x"]!, start: c1, y: t["y"]!)
      },
      OpCase("slice_channels_bwd", "\(b) into \(y)", tensors: [.init("dy", b), .init("dx", y, .output)]) {
        be, t in try be.slice_channels_bwd(dy: t["dy"]!, start: c1, dx: t["dx"]!)
      },
    ]
  }

  /// copy_channels on its own (channels 1..<4 of x into channels 2..<5 of y; y's other
  /// channels must keep their values).
  public static func copyChannels(n: Int, hw: Int) -> OpCase {
    let (x, y): (Shape, Shape) = ([n, 5, hw, hw], [n, 6, hw, hw])
    return OpCase("copy_channels", "\(x)[1..<4] into \(y)[2..<5]", tensors: [.init("x", x), .init("y", y)]) { be, t in
      try be.copy_channels(x: t["x"]!, xStart: 1, y: t["y"]!, yStart: 2, count: 3)
    }
  }

  /// fill, and the reductions' composites: reduce_mean, reduce_sum_bwd (in place through a
  /// column view) and channel_sum_bwd.
  public static func fillAndReductionComposites(n: Int) -> [OpCase] {
    let s: Shape = [n]
    let planes: Shape = [2, 3, n]
    return [
      OpCase("fill", "n\(n)", tensors: [.init("y", s, .output)], exact: true) { be, t in try be.fill(t["y"]!, value: -2.5) },
      OpCase("reduce_mean", "n\(n)", tensors: [.init("x", s), .init("y", [1], .output)], reductionLength: n) { be, t in
        try be.reduce_mean(t["x"]!, y: t["y"]!)
      },
      OpCase("reduce_sum_bwd", "n\(n)", tensors: [.init("dy", [1]), .init("dx", s, .output)]) { be, t in
        try be.reduce_sum_bwd(dy: t["dy"]!, alpha: 0.5, dx: t["dx"]!)
      },
      OpCase("channel_sum_bwd", "\(planes)", tensors: [.init("dy", [3]), .init("dx", planes, .output)]) { be, t in
        try be.channel_sum_bwd(dy: t["dy"]!, dx: t["dx"]!)
      },
    ]
  }

  public static func matmul(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) -> OpCase {
    let a: Shape = transposeA ? [k, m] : [m, k]
    let b: Shape = transposeB ? [n, k] : [k, n]
    return OpCase(
      "matmul", "\(m)x\(n)x\(k)\(transposeA ? " Aᵀ" : "")\(transposeB ? " Bᵀ" : "")",
      tensors: [.init("a", a), .init("b", b), .init("c", [m, n])], reductionLength: k, flops: 2.0 * Double(m * n * k)
    ) { be, t in
      try be.matmul(t["a"]!, transposeA: transposeA, t["b"]!, transposeB: transposeB, c: t["c"]!, alpha: 0.75, beta: 0.5)
    }
  }

  public static func linear(_ phase: String, n: Int, inFeatures: Int, out: Int) -> OpCase {
    let detail = "x[\(n), \(inFeatures)] -> \(out)"
    let flops = 2.0 * Double(n * inFeatures * out)
    switch phase {
    case "fwd":
      return OpCase(
        "linear_fwd", detail,
        tensors: [.init("x", [n, inFeatures]), .init("w", [out, inFeatures]), .init("b", [out]), .init("y", [n, out], .output)],
        reductionLength: inFeatures, flops: flops
      ) { be, t in try be.linear_fwd(x: t["x"]!, weight: t["w"]!, bias: t["b"]!, y: t["y"]!) }
    case "bwd_data":
      return OpCase(
        "linear_bwd_data", detail,
        tensors: [.init("dy", [n, out]), .init("w", [out, inFeatures]), .init("dx", [n, inFeatures], .output)],
        reductionLength: out, flops: flops
      ) { be, t in try be.linear_bwd_data(dy: t["dy"]!, weight: t["w"]!, dx: t["dx"]!) }
    default:
      return OpCase(
        "linear_bwd_weight", detail,
        tensors: [.init("x", [n, inFeatures]), .init("dy", [n, out]), .init("dw", [out, inFeatures], .output)],
        reductionLength: n, flops: flops
      ) { be, t in try be.linear_bwd_weight(x: t["x"]!, dy: t["dy"]!, dweight: t["dw"]!) }
    }
  }

  public static func reduceSum(n: Int) -> OpCase {
    OpCase("reduce_sum", "n\(n)", tensors: [.init("x", [n]), .init("y", [1], .output)], reductionLength: n) { be, t in
      try be.reduce_sum(t["x"]!, y: t["y"]!, alpha: 0.5)
    }
  }

  public static func channelSum(shape: Shape) -> OpCase {
    OpCase(
      "channel_sum", "x\(shape)", tensors: [.init("x", shape), .init("y", [shape[1]], .output)],
      reductionLength: shape.count / shape[1]
    ) { be, t in try be.channel_sum(t["x"]!, y: t["y"]!) }
  }

  public static func loss(_ op: String, n: Int) -> OpCase {
    let s: Shape = [n]
    let logits: TensorInit = op.hasPrefix("bce") ? .uniform(-100, 100) : .normal(1)
    let backward = op.hasSuffix("_bwd")
    var tensors: [TensorSpec] = [.init("x", s, logits), .init("t", s, .uniform(0, 1))]
    tensors += backward ? [.init("dloss", [1], .constant(1.5)), .init("dx", s, .output)] : [.init("loss", [1], .output)]
    return OpCase(op, "n\(n)", tensors: tensors, reductionLength: backward ? 1 : n) { be, t in
      let (x, tg) = (t["x"]!, t["t"]!)
      switch op {
      case "bce_logits_fwd": try be.bce_logits_fwd(logits: x, targets: tg, loss: t["loss"]!)
      case "bce_logits_bwd": try be.bce_logits_bwd(logits: x, targets: tg, dloss: t["dloss"]!, dlogits: t["dx"]!)
      case "mse_fwd": try be.mse_fwd(x: x, target: tg, loss: t["loss"]!)
      case "mse_bwd": try be.mse_bwd(x: x, target: tg, dloss: t["dloss"]!, dx: t["dx"]!)
      case "l1_fwd": try be.l1_fwd(x: x, target: tg, loss: t["loss"]!)
      default: try be.l1_bwd(x: x, target: tg, dloss: t["dloss"]!, dx: t["dx"]!)
      }
    }
  }

  public static func adam(n: Int, step: Int) -> OpCase {
    let s: Shape = [n]
    let h = AdamParams(lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8, weightDecay: 0.01)
    return OpCase(
      "adam_step", "n\(n) step \(step)",
      tensors: [.init("p", s), .init("g", s), .init("m", s, .normal(0.1)), .init("v", s, .uniform(0, 0.01))],
      flops: 14.0 * Double(n)
    ) { be, t in try be.adam_step(param: t["p"]!, grad: t["g"]!, m: t["m"]!, v: t["v"]!, step: step, params: h) }
  }

  public static func sgd(n: Int, momentum: Float) -> OpCase {
    let s: Shape = [n]
    return OpCase(
      "sgd_step", "n\(n) momentum \(momentum)", tensors: [.init("p", s), .init("g", s), .init("buf", s, .normal(0.1))]
    ) { be, t in
      try be.sgd_step(
        param: t["p"]!, grad: t["g"]!, momentumBuffer: momentum == 0 ? nil : t["buf"]!,
        params: SGDParams(lr: 0.01, momentum: momentum, weightDecay: 1e-4))
    }
  }

  public static func gatherImages(count m: Int, batch n: Int, channels c: Int, size: Int, position: UInt64, flip: Bool) -> OpCase {
    OpCase(
      "gather_images", "source[\(m), \(c), \(size), \(size)] batch \(n) at \(position)\(flip ? " flip" : "")",
      tensors: [.init("source", [m, c, size, size]), .init("y", [n, c, size, size], .output)],
      bytes: Double(2 * n * c * size * size * 4)
    ) { be, t in
      try be.gather_images(
        source: t["source"]!, y: t["y"]!, order: DataOrder(seed: 42, count: m), position: position, flip: flip)
    }
  }

  /// `gather_images_u8` from an 8-bit source (made inside the run: the case's tensors are
  /// float) whose bytes run 0, 1, …, 255, 0, … so that small cases already meet every byte;
  /// `streamed`: the source is the batch's window. Exact: the conversion is defined to the bit.
  public static func gatherImagesU8(
    count m: Int, batch n: Int, channels c: Int, size: Int, position: UInt64, flip: Bool, streamed: Bool
  ) -> OpCase {
    let images = streamed ? n : m
    return OpCase(
      "gather_images_u8",
      "source[\(images), \(c), \(size), \(size)] u8 batch \(n) at \(position)\(flip ? " flip" : "")\(streamed ? " streamed" : "")",
      tensors: [.init("y", [n, c, size, size], .output)], bytes: Double(n * c * size * size * 5), exact: true
    ) { be, t in
      let source = try be.makeByteTensor([images, c, size, size])
      let bytes = (0..<source.count).map { UInt8(truncatingIfNeeded: $0) }
      try bytes.withUnsafeBytes { try be.write(bytes: $0, to: source, offset: 0) }
      try be.gather_images_u8(
        source: source, y: t["y"]!, order: DataOrder(seed: 42, count: m), position: position, flip: flip,
        streamed: streamed)
    }
  }

  public static func random(_ op: String, n: Int, counter: UInt64) -> OpCase {
    OpCase(op, "n\(n) counter \(counter)", tensors: [.init("y", [n], .output)], exact: true) { be, t in
      let stream = RandomStream(seed: 0x1234_5678_9abc_def0, counter: counter)
      if op == "random_uniform" {
        try be.random_uniform(t["y"]!, stream: stream, low: -1, high: 3)
      } else {
        try be.random_normal(t["y"]!, stream: stream, mean: 0.5, std: 2)
      }
    }
  }
}
