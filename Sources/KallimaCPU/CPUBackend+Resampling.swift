import KallimaCore

/// Nearest-neighbour upsampling and reflection padding: index maps, so the reference is an
/// exact gather forward and a scatter-add backward in Double.
extension CPUBackend {
  public func upsample_nearest2d_fwd(x: Tensor, y: Tensor, scale k: Int) throws {
    let op = "upsample_nearest2d_fwd"
    let (planes, h, w) = try ShapeCheck.upsampleNearest2d(op, x: x.shape, y: y.shape, scale: k)
    let xs = try buf(x, op).values
    let out = try buf(y, op)
    let (oh, ow) = (h * k, w * k)
    for p in 0..<planes {
      for oy in 0..<oh {
        for ox in 0..<ow { out.values[(p * oh + oy) * ow + ox] = xs[(p * h + oy / k) * w + ox / k] }
      }
    }
  }

  public func upsample_nearest2d_bwd(dy: Tensor, dx: Tensor, scale k: Int) throws {
    let op = "upsample_nearest2d_bwd"
    let (planes, h, w) = try ShapeCheck.upsampleNearest2d(op, x: dx.shape, y: dy.shape, scale: k)
    let g = try buf(dy, op).values
    let out = try buf(dx, op)
    let (oh, ow) = (h * k, w * k)
    for i in 0..<dx.count { out.values[i] = 0 }
    for p in 0..<planes {
      for oy in 0..<oh {
        for ox in 0..<ow { out.values[(p * h + oy / k) * w + ox / k] += g[(p * oh + oy) * ow + ox] }
      }
    }
  }

  /// The input index that output index `i − pad` reads along an axis of `size` (reflection).
  static func reflect(_ i: Int, _ size: Int) -> Int {
    i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i)
  }

  public func reflection_pad2d_fwd(x: Tensor, y: Tensor, padding p: Padding2d) throws {
    let op = "reflection_pad2d_fwd"
    let (planes, h, w, oh, ow) = try ShapeCheck.reflectionPad2d(op, x: x.shape, y: y.shape, padding: p)
    let xs = try buf(x, op).values
    let out = try buf(y, op)
    for q in 0..<planes {
      for oy in 0..<oh {
        let iy = CPUBackend.reflect(oy - p.top, h)
        for ox in 0..<ow {
          out.values[(q * oh + oy) * ow + ox] = xs[(q * h + iy) * w + CPUBackend.reflect(ox - p.left, w)]
        }
      }
    }
  }

  public func reflection_pad2d_bwd(dy: Tensor, dx: Tensor, padding p: Padding2d) throws {
    let op = "reflection_pad2d_bwd"
    let (planes, h, w, oh, ow) = try ShapeCheck.reflectionPad2d(op, x: dx.shape, y: dy.shape, padding: p)
    let g = try buf(dy, op).values
    let out = try buf(dx, op)
    for i in 0..<dx.count { out.values[i] = 0 }
    for q in 0..<planes {
      for oy in 0..<oh {
        let iy = CPUBackend.reflect(oy - p.top, h)
        for ox in 0..<ow {
          out.values[(q * h + iy) * w + CPUBackend.reflect(ox - p.left, w)] += g[(q * oh + oy) * ow + ox]
        }
      }
    }
  }
}
