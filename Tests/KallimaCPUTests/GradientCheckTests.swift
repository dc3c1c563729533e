import KallimaCPU
import KallimaCore
import KallimaOpSuite
import Testing

/// A differentiable op as the gradient check sees it: inputs, a forward pass producing one
/// output, and a backward pass producing the gradient of each input in `wrt` from dy.
struct GradCase: CustomStringConvertible {
  let name: String
  let inputs: [TensorSpec]
  let wrt: [String]
  let forward: (CPUBackend, [String: Tensor]) throws -> Tensor
  let backward: (CPUBackend, [String: Tensor], Tensor) throws -> [String: Tensor]
  var description: String { name }
}

/// Finite differences in Double on the CPU reference: for L = Σ r·f(x) with a fixed random
/// r, each analytic gradient from the backward ops must match (L(x+h) − L(x−h)) / 2h.
/// Every output tensor starts as the NaN sentinel (`Backend.outputTensor`), so a kernel that
/// leaves part of its output unwritten, or accumulates into it, fails instead of passing on
/// a zero-filled buffer.
@Suite("Finite-difference gradient checks (CPU, Double)")
struct GradientCheckTests {
  static let cases = makeCases()

  @Test("gradient", arguments: 0..<cases.count)
  func gradient(index: Int) throws {
    let c = Self.cases[index]
    let cpu = CPUBackend()
    let stub = OpCase(c.name, "", tensors: c.inputs) { _, _ in }
    let values = stub.initialValues()
    let t = try stub.materialize(on: cpu, values: values)
    let y = try c.forward(cpu, t)
    // r: the fixed projection; dy = r.
    let r = (0..<y.count).map { Double(Philox.normal(stream: RandomStream(seed: 99), index: $0, mean: 0, std: 1)) }
    let dy = try cpu.makeTensor(y.shape)
    try cpu.writeDouble(r, to: dy)
    let grads = try c.backward(cpu, t, dy)
    func objective() throws -> Double {
      let out = try cpu.readDouble(c.forward(cpu, t))
      return zip(out, r).reduce(0) { $0 + $1.0 * $1.1 }
    }
    for role in c.wrt {
      let x = t[role]!
      let analytic = try cpu.readDouble(grads[role]!)
      var base = try cpu.readDouble(x)
      // Every element for small tensors, an evenly spread subset of 64 for large ones.
      let stride = max(1, base.count / 64)
      for i in Swift.stride(from: 0, to: base.count, by: stride) {
        let h = 1e-6 * max(1, abs(base[i]))
        let original = base[i]
        base[i] = original + h
        try cpu.writeDouble(base, to: x)
        let plus = try objective()
        base[i] = original - h
        try cpu.writeDouble(base, to: x)
        let minus = try objective()
        base[i] = original
        try cpu.writeDouble(base, to: x)
        let numeric = (plus - minus) / (2 * h)
        let tolerance = 1e-6 + 1e-5 * abs(numeric)
        #expect(
          abs(numeric - analytic[i]) <= tolerance,
          "\(c.name) d/d\(role)[\(i)]: finite difference \(numeric), backward op \(analytic[i])")
      }
    }
  }
}

extension GradientCheckTests {
  static func makeCases() -> [GradCase] {
    var cases: [GradCase] = []

    // Convolutions, with DCGAN's geometries and odd ones.
    for (n, c, h, k, kernel, s, p) in [(2, 3, 6, 4, 4, 2, 1), (1, 2, 4, 3, 4, 1, 0), (2, 3, 5, 2, 3, 1, 1)] {
      let params = Conv2dParams(stride: s, padding: p)
      let oh = (h + 2 * p - kernel) / s + 1
      cases.append(
        GradCase(
          name: "conv2d x[\(n),\(c),\(h),\(h)] k\(kernel) s\(s) p\(p)",
          inputs: [.init("x", [n, c, h, h]), .init("w", [k, c, kernel, kernel], .normal(0.3)), .init("b", [k])],
          wrt: ["x", "w", "b"],
          forward: { be, t in
            let y = try be.outputTensor([n, k, oh, oh])
            try be.conv2d_fwd(x: t["x"]!, weight: t["w"]!, bias: t["b"]!, y: y, params: params)
            return y
          },
          backward: { be, t, dy in
            let (dx, dw, db) = (try be.outputTensor(t["x"]!.shape), try be.outputTensor(t["w"]!.shape), try be.outputTensor([k]))
            try be.conv2d_bwd_data(dy: dy, weight: t["w"]!, dx: dx, params: params)
            try be.conv2d_bwd_weight(x: t["x"]!, dy: dy, dweight: dw, params: params)
            try be.channel_sum(dy, y: db)
            return ["x": dx, "w": dw, "b": db]
          }))
    }
    for (n, c, h, k, kernel, s, p, op) in [(2, 3, 3, 2, 4, 2, 1, 0), (1, 4, 1, 3, 4, 1, 0, 0), (2, 2, 3, 3, 3, 2, 1, 1)] {
      let params = ConvTranspose2dParams(stride: s, padding: p, outputPadding: op)
      let oh = (h - 1) * s - 2 * p + kernel + op
      cases.append(
        GradCase(
          name: "conv_transpose2d x[\(n),\(c),\(h),\(h)] k\(kernel) s\(s) p\(p) op\(op)",
          inputs: [.init("x", [n, c, h, h]), .init("w", [c, k, kernel, kernel], .normal(0.3)), .init("b", [k])],
          wrt: ["x", "w", "b"],
          forward: { be, t in
            let y = try be.outputTensor([n, k, oh, oh])
            try be.conv_transpose2d_fwd(x: t["x"]!, weight: t["w"]!, bias: t["b"]!, y: y, params: params)
            return y
          },
          backward: { be, t, dy in
            let (dx, dw, db) = (try be.outputTensor(t["x"]!.shape), try be.outputTensor(t["w"]!.shape), try be.outputTensor([k]))
            try be.conv_transpose2d_bwd_data(dy: dy, weight: t["w"]!, dx: dx, params: params)
            try be.conv_transpose2d_bwd_weight(x: t["x"]!, dy: dy, dweight: dw, params: params)
            try be.channel_sum(dy, y: db)
            return ["x": dx, "w": dw, "b": db]
          }))
    }

    // Normalisation.
    for shape: Shape in [[3, 2, 3, 3], [5, 3]] {
      let c = shape[1]
      let bnInputs: [TensorSpec] = [
        .init("x", shape, .uniform(-2, 2)), .init("gamma", [c]), .init("beta", [c]), .init("rm", [c]),
        .init("rv", [c], .uniform(0.5, 2)),
      ]
      func trainForward(_ be: CPUBackend, _ t: [String: Tensor]) throws -> (Tensor, Tensor, Tensor) {
        let (y, mean, invstd) = (try be.outputTensor(shape), try be.outputTensor([c]), try be.outputTensor([c]))
        let (rm, rv) = (try be.zeros([c]), try be.zeros([c]))
        try be.batchnorm_fwd_train(
          x: t["x"]!, gamma: t["gamma"]!, beta: t["beta"]!, y: y, saveMean: mean, saveInvstd: invstd,
          runningMean: rm, runningVar: rv, momentum: 0.1, eps: 1e-5)
        return (y, mean, invstd)
      }
      cases.append(
        GradCase(
          name: "batchnorm train x\(shape)", inputs: bnInputs, wrt: ["x", "gamma", "beta"],
          forward: { be, t in try trainForward(be, t).0 },
          backward: { be, t, dy in
            let (_, mean, invstd) = try trainForward(be, t)
            let (dx, dg, db) = (try be.outputTensor(shape), try be.outputTensor([c]), try be.outputTensor([c]))
            try be.batchnorm_bwd(
              dy: dy, x: t["x"]!, gamma: t["gamma"]!, saveMean: mean, saveInvstd: invstd, dx: dx, dgamma: dg, dbeta: db)
            return ["x": dx, "gamma": dg, "beta": db]
          }))
      cases.append(
        GradCase(
          name: "batchnorm eval x\(shape)", inputs: bnInputs, wrt: ["x", "gamma", "beta"],
          forward: { be, t in
            let y = try be.outputTensor(shape)
            try be.batchnorm_fwd_eval(
              x: t["x"]!, gamma: t["gamma"]!, beta: t["beta"]!, runningMean: t["rm"]!, runningVar: t["rv"]!, y: y,
              eps: 1e-5)
            return y
          },
          backward: { be, t, dy in
            let (dx, dg, db) = (try be.outputTensor(shape), try be.outputTensor([c]), try be.outputTensor([c]))
            try be.batchnorm_bwd_eval(
              dy: dy, x: t["x"]!, gamma: t["gamma"]!, runningMean: t["rm"]!, runningVar: t["rv"]!, dx: dx, dgamma: dg,
              dbeta: db, eps: 1e-5)
            return ["x": dx, "gamma": dg, "beta": db]
          }))
    }
    for affine in [false, true] {
      let shape: Shape = [2, 3, 3, 2]
      func forward(_ be: CPUBackend, _ t: [String: Tensor]) throws -> (Tensor, Tensor, Tensor) {
        let (y, mean, invstd) = (try be.outputTensor(shape), try be.outputTensor([6]), try be.outputTensor([6]))
        try be.instancenorm_fwd(
          x: t["x"]!, gamma: affine ? t["gamma"]! : nil, beta: affine ? t["beta"]! : nil, y: y, saveMean: mean,
          saveInvstd: invstd, eps: 1e-5)
        return (y, mean, invstd)
      }
      cases.append(
        GradCase(
          name: "instancenorm x\(shape)\(affine ? " affine" : "")",
          inputs: [.init("x", shape, .uniform(-2, 2)), .init("gamma", [3]), .init("beta", [3])],
          wrt: affine ? ["x", "gamma", "beta"] : ["x"],
          forward: { be, t in try forward(be, t).0 },
          backward: { be, t, dy in
            let (_, mean, invstd) = try forward(be, t)
            let (dx, dg, db) = (try be.outputTensor(shape), try be.outputTensor([3]), try be.outputTensor([3]))
            try be.instancenorm_bwd(
              dy: dy, x: t["x"]!, gamma: affine ? t["gamma"]! : nil, saveMean: mean, saveInvstd: invstd, dx: dx,
              dgamma: affine ? dg : nil, dbeta: affine ? db : nil)
            return ["x": dx, "gamma": dg, "beta": db]
          }))
    }

    // Pointwise.
    for kind: Activation in [.relu, .leakyRelu(slope: 0.2), .tanh, .sigmoid, .sqrt, .square, .rsqrt, .exp] {
      cases.append(
        GradCase(
          name: "activation \(kind)", inputs: [.init("x", [37], kind == .sqrt || kind == .rsqrt ? .uniform(0.1, 3) : .normal(2))], wrt: ["x"],
          forward: { be, t in
            let y = try be.outputTensor([37])
            try be.activation_fwd(kind, x: t["x"]!, y: y)
            return y
          },
          backward: { be, t, dy in
            let (y, dx) = (try be.outputTensor([37]), try be.outputTensor([37]))
            try be.activation_fwd(kind, x: t["x"]!, y: y)
            try be.activation_bwd(kind, x: t["x"]!, y: y, dy: dy, dx: dx)
            return ["x": dx]
          }))
    }
    let s: Shape = [2, 3, 4]
    cases.append(
      GradCase(
        name: "add", inputs: [.init("a", s), .init("b", s)], wrt: ["a", "b"],
        forward: { be, t in
          let y = try be.outputTensor(s)
          try be.add(t["a"]!, t["b"]!, y: y)
          return y
        },
        backward: { _, _, dy in ["a": dy, "b": dy] }))
    cases.append(
      GradCase(
        name: "mul", inputs: [.init("a", s), .init("b", s)], wrt: ["a", "b"],
        forward: { be, t in
          let y = try be.outputTensor(s)
          try be.mul(t["a"]!, t["b"]!, y: y)
          return y
        },
        backward: { be, t, dy in
          let (da, db) = (try be.outputTensor(s), try be.outputTensor(s))
          try be.mul(dy, t["b"]!, y: da)
          try be.mul(dy, t["a"]!, y: db)
          return ["a": da, "b": db]
        }))
    cases.append(
      GradCase(
        name: "scale", inputs: [.init("x", s)], wrt: ["x"],
        forward: { be, t in
          let y = try be.outputTensor(s)
          try be.scale(t["x"]!, alpha: -1.7, y: y)
          return y
        },
        backward: { be, _, dy in
          let dx = try be.outputTensor(s)
          try be.scale(dy, alpha: -1.7, y: dx)
          return ["x": dx]
        }))
    cases.append(
      GradCase(
        name: "add_channel", inputs: [.init("x", s), .init("v", [3])], wrt: ["x", "v"],
        forward: { be, t in
          let y = try be.outputTensor(s)
          try be.add_channel(t["x"]!, bias: t["v"]!, y: y)
          return y
        },
        backward: { be, _, dy in
          let dv = try be.outputTensor([3])
          try be.channel_sum(dy, y: dv)
          return ["x": dy, "v": dv]
        }))
    cases.append(
      GradCase(
        name: "mul_channel", inputs: [.init("x", s), .init("v", [3])], wrt: ["x", "v"],
        forward: { be, t in
          let y = try be.outputTensor(s)
          try be.mul_channel(t["x"]!, scale: t["v"]!, y: y)
          return y
        },
        backward: { be, t, dy in
          let (dx, prod, dv) = (try be.outputTensor(s), try be.outputTensor(s), try be.outputTensor([3]))
          try be.mul_channel(dy, scale: t["v"]!, y: dx)
          try be.mul(dy, t["x"]!, y: prod)
          try be.channel_sum(prod, y: dv)
          return ["x": dx, "v": dv]
        }))
    cases.append(
      GradCase(
        name: "concat_channels", inputs: [.init("a", [2, 1, 3]), .init("b", [2, 4, 3])], wrt: ["a", "b"],
        forward: { be, t in
          let y = try be.outputTensor([2, 5, 3])
          try be.concat_channels([t["a"]!, t["b"]!], y: y)
          return y
        },
        backward: { be, _, dy in
          let (da, db) = (try be.outputTensor([2, 1, 3]), try be.outputTensor([2, 4, 3]))
          try be.slice_channels(dy, start: 0, y: da)
          try be.slice_channels(dy, start: 1, y: db)
          return ["a": da, "b": db]
        }))
    cases.append(
      GradCase(
        name: "slice_channels", inputs: [.init("x", [2, 5, 3])], wrt: ["x"],
        forward: { be, t in
          let y = try be.outputTensor([2, 2, 3])
          try be.slice_channels(t["x"]!, start: 2, y: y)
          return y
        },
        backward: { be, _, dy in
          let dx = try be.outputTensor([2, 5, 3])
          try be.slice_channels_bwd(dy: dy, start: 2, dx: dx)
          return ["x": dx]
        }))

    // Matrix products, every transpose combination; linear.
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
      let (m, n, k) = (3, 4, 5)
      let alpha: Float = 0.7
      cases.append(
        GradCase(
          name: "matmul\(ta ? " Aᵀ" : "")\(tb ? " Bᵀ" : "")",
          inputs: [.init("a", ta ? [k, m] : [m, k]), .init("b", tb ? [n, k] : [k, n])], wrt: ["a", "b"],
          forward: { be, t in
            let c = try be.outputTensor([m, n])
            try be.matmul(t["a"]!, transposeA: ta, t["b"]!, transposeB: tb, c: c, alpha: alpha, beta: 0)
            return c
          },
          backward: { be, t, dc in
            let (a, b) = (t["a"]!, t["b"]!)
            let (da, db) = (try be.outputTensor(a.shape), try be.outputTensor(b.shape))
            if ta {
              try be.matmul(b, transposeA: tb, dc, transposeB: true, c: da, alpha: alpha, beta: 0)
            } else {
              try be.matmul(dc, transposeA: false, b, transposeB: !tb, c: da, alpha: alpha, beta: 0)
            }
            if tb {
              try be.matmul(dc, transposeA: true, a, transposeB: ta, c: db, alpha: alpha, beta: 0)
            } else {
              try be.matmul(a, transposeA: !ta, dc, transposeB: false, c: db, alpha: alpha, beta: 0)
            }
            return ["a": da, "b": db]
          }))
    }
    cases.append(
      GradCase(
        name: "linear", inputs: [.init("x", [3, 5]), .init("w", [4, 5]), .init("b", [4])], wrt: ["x", "w", "b"],
        forward: { be, t in
          let y = try be.outputTensor([3, 4])
          try be.linear_fwd(x: t["x"]!, weight: t["w"]!, bias: t["b"]!, y: y)
          return y
        },
        backward: { be, t, dy in
          let (dx, dw, db) = (try be.outputTensor([3, 5]), try be.outputTensor([4, 5]), try be.outputTensor([4]))
          try be.linear_bwd_data(dy: dy, weight: t["w"]!, dx: dx)
          try be.linear_bwd_weight(x: t["x"]!, dy: dy, dweight: dw)
          try be.channel_sum(dy, y: db)
          return ["x": dx, "w": dw, "b": db]
        }))

    // Reductions.
    cases.append(
      GradCase(
        name: "reduce_sum", inputs: [.init("x", [7])], wrt: ["x"],
        forward: { be, t in
          let y = try be.outputTensor([1])
          try be.reduce_sum(t["x"]!, y: y, alpha: 0.3)
          return y
        },
        backward: { be, _, dy in
          let dx = try be.outputTensor([7])
          try be.reduce_sum_bwd(dy: dy, alpha: 0.3, dx: dx)
          return ["x": dx]
        }))
    cases.append(
      GradCase(
        name: "channel_sum", inputs: [.init("x", s)], wrt: ["x"],
        forward: { be, t in
          let y = try be.outputTensor([3])
          try be.channel_sum(t["x"]!, y: y)
          return y
        },
        backward: { be, _, dy in
          let dx = try be.outputTensor(s)
          try be.channel_sum_bwd(dy: dy, dx: dx)
          return ["x": dx]
        }))

    // Losses (with respect to the prediction).
    for op in ["bce_logits", "mse", "l1"] {
      cases.append(
        GradCase(
          name: "\(op) loss", inputs: [.init("x", [11], .normal(3)), .init("t", [11], .uniform(0, 1))], wrt: ["x"],
          forward: { be, t in
            let loss = try be.outputTensor([1])
            switch op {
            case "bce_logits": try be.bce_logits_fwd(logits: t["x"]!, targets: t["t"]!, loss: loss)
            case "mse": try be.mse_fwd(x: t["x"]!, target: t["t"]!, loss: loss)
            default: try be.l1_fwd(x: t["x"]!, target: t["t"]!, loss: loss)
            }
            return loss
          },
          backward: { be, t, dl in
            let dx = try be.outputTensor([11])
            switch op {
            case "bce_logits": try be.bce_logits_bwd(logits: t["x"]!, targets: t["t"]!, dloss: dl, dlogits: dx)
            case "mse": try be.mse_bwd(x: t["x"]!, target: t["t"]!, dloss: dl, dx: dx)
            default: try be.l1_bwd(x: t["x"]!, target: t["t"]!, dloss: dl, dx: dx)
            }
            return ["x": dx]
          }))
    }

    cases.append(
      GradCase(
        name: "softmax_cross_entropy loss", inputs: [.init("x", [4, 5], .normal(3)), .init("t", [4, 5], .uniform(0, 1))],
        wrt: ["x"],
        forward: { be, t in
          let loss = try be.outputTensor([1])
          try be.softmax_cross_entropy_fwd(logits: t["x"]!, targets: t["t"]!, loss: loss)
          return loss
        },
        backward: { be, t, dl in
          let dx = try be.outputTensor([4, 5])
          try be.softmax_cross_entropy_bwd(logits: t["x"]!, targets: t["t"]!, dloss: dl, dlogits: dx)
          return ["x": dx]
        }))

    // Pooling and resizing (the input is uniform so max pooling has no near-ties for the
    // finite difference to cross).
    let pools: [(Shape, Pool2dParams)] = [
      ([2, 2, 5, 5], Pool2dParams(kernel: 3, stride: 2)), ([1, 2, 4, 5], Pool2dParams(kernel: 3, stride: 1, padding: 1)),
      ([1, 1, 6, 6], Pool2dParams(kernel: 3, stride: 2, ceilMode: true)),
    ]
    for (shape, p) in pools {
      let yShape = p.outputShape(shape)
      cases.append(
        GradCase(
          name: "max_pool2d x\(shape) \(p)", inputs: [.init("x", shape, .uniform(-2, 2))], wrt: ["x"],
          forward: { be, t in
            let y = try be.outputTensor(yShape)
            try be.max_pool2d_fwd(x: t["x"]!, y: y, params: p)
            return y
          },
          backward: { be, t, dy in
            let dx = try be.outputTensor(shape)
            try be.max_pool2d_bwd(x: t["x"]!, dy: dy, dx: dx, params: p)
            return ["x": dx]
          }))
      for include in [true, false] {
        cases.append(
          GradCase(
            name: "avg_pool2d x\(shape) \(p) count_include_pad \(include)", inputs: [.init("x", shape)], wrt: ["x"],
            forward: { be, t in
              let y = try be.outputTensor(yShape)
              try be.avg_pool2d_fwd(x: t["x"]!, y: y, params: p, countIncludePad: include)
              return y
            },
            backward: { be, _, dy in
              let dx = try be.outputTensor(shape)
              try be.avg_pool2d_bwd(dy: dy, dx: dx, params: p, countIncludePad: include)
              return ["x": dx]
            }))
      }
    }
    for (shape, oh, ow) in [([1, 2, 3, 4] as Shape, 7, 5), ([2, 1, 6, 6], 4, 9)] {
      cases.append(
        GradCase(
          name: "upsample_bilinear2d x\(shape) -> \(oh)x\(ow)", inputs: [.init("x", shape)], wrt: ["x"],
          forward: { be, t in
            let y = try be.outputTensor([shape[0], shape[1], oh, ow])
            try be.upsample_bilinear2d_fwd(x: t["x"]!, y: y)
            return y
          },
          backward: { be, _, dy in
            let dx = try be.outputTensor(shape)
            try be.upsample_bilinear2d_bwd(dy: dy, dx: dx)
            return ["x": dx]
          }))
    }
    cases += ganOpCases()
    return cases
  }

  /// Clamp, device-scalar products and quotients, reflection padding, nearest upsampling.
  static func ganOpCases() -> [GradCase] {
    var cases: [GradCase] = []
    // Normal(1) inputs land within 1e-6 of the bounds with negligible probability.
    let shape: Shape = [3, 7]
    cases.append(
      GradCase(
        name: "clamp [-0.8, 0.9]", inputs: [.init("x", shape)], wrt: ["x"],
        forward: { be, t in
          let y = try be.outputTensor(shape)
          try be.clamp_fwd(t["x"]!, y: y, min: -0.8, max: 0.9)
          return y
        },
        backward: { be, t, dy in
          let dx = try be.outputTensor(shape)
          try be.clamp_bwd(x: t["x"]!, dy: dy, dx: dx, min: -0.8, max: 0.9)
          return ["x": dx]
        }))
    for op in ["mul_scalar", "div_scalar"] {
      cases.append(
        GradCase(
          name: op, inputs: [.init("x", shape), .init("s", [1], .uniform(0.5, 2))], wrt: ["x", "s"],
          forward: { be, t in
            let y = try be.outputTensor(shape)
            if op == "mul_scalar" { try be.mul_scalar(t["x"]!, t["s"]!, y: y) } else { try be.div_scalar(t["x"]!, t["s"]!, y: y) }
            return y
          },
          backward: { be, t, dy in
            // d/dx = dy·s (or dy/s); d/ds = Σ dy·x (or −Σ dy·x / s²).
            let (dx, ds, prod) = (try be.outputTensor(shape), try be.outputTensor([1]), try be.outputTensor(shape))
            try be.mul(dy, t["x"]!, y: prod)
            try be.reduce_sum(prod, y: ds, alpha: op == "mul_scalar" ? 1 : -1)
            if op == "mul_scalar" {
              try be.mul_scalar(dy, t["s"]!, y: dx)
            } else {
              try be.div_scalar(dy, t["s"]!, y: dx)
              try be.div_scalar(ds, t["s"]!, y: ds)
              try be.div_scalar(ds, t["s"]!, y: ds)
            }
            return ["x": dx, "s": ds]
          }))
    }
    let pads: [(Shape, Padding2d)] = [([2, 2, 4, 5], Padding2d(top: 3, bottom: 1, left: 2, right: 4)), ([1, 1, 3, 3], Padding2d(2))]
    for (x, p) in pads {
      cases.append(
        GradCase(
          name: "reflection_pad2d x\(x) \(p)", inputs: [.init("x", x)], wrt: ["x"],
          forward: { be, t in
            let y = try be.outputTensor(p.outputShape(x))
            try be.reflection_pad2d_fwd(x: t["x"]!, y: y, padding: p)
            return y
          },
          backward: { be, _, dy in
            let dx = try be.outputTensor(x)
            try be.reflection_pad2d_bwd(dy: dy, dx: dx, padding: p)
            return ["x": dx]
          }))
    }
    let ups: [(Shape, Int)] = [([2, 2, 3, 4], 2), ([1, 1, 2, 3], 3)]
    for (x, k) in ups {
      cases.append(
        GradCase(
          name: "upsample_nearest2d x\(x) x\(k)", inputs: [.init("x", x)], wrt: ["x"],
          forward: { be, t in
            let y = try be.outputTensor([x[0], x[1], x[2] * k, x[3] * k])
            try be.upsample_nearest2d_fwd(x: t["x"]!, y: y, scale: k)
            return y
          },
          backward: { be, _, dy in
            let dx = try be.outputTensor(x)
            try be.upsample_nearest2d_bwd(dy: dy, dx: dx, scale: k)
            return ["x": dx]
          }))
    }
    return cases
  }
}

@Suite("Data order")
struct DataOrderTests {
  @Test("every epoch visits every image exactly once, in a different order each epoch", arguments: [1, 2, 3, 5, 17, 64, 1000, 60000])
  func permutation(count: Int) {
    let order = DataOrder(seed: 7, count: count)
    var epochs: [[Int]] = []
    for epoch in 0..<3 {
      let visited = (0..<count).map { order.index(UInt64(epoch * count + $0)) }
      #expect(Set(visited).count == count && visited.allSatisfy { $0 >= 0 && $0 < count })
      epochs.append(visited)
    }
    if count >= 5 { #expect(epochs[0] != epochs[1] && epochs[1] != epochs[2]) }
  }

  @Test("about half the samples are mirrored")
  func flips() {
    let order = DataOrder(seed: 3, count: 10)
    let share = Double((0..<10_000).filter { order.flips(UInt64($0)) }.count) / 10_000
    #expect(abs(share - 0.5) < 0.03)
  }
}
