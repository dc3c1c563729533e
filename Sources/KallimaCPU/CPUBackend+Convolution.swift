import KallimaCore

/// Direct convolution loops. conv2d and its transpose share three routines over a
/// `ConvGeometry` (image side c×h×w, patch-grid side k×oh×ow, weight [k, c, kh, kw]):
/// - gridFromImage:  grid[n,k,oy,ox] = Σ image[n,c,iy,ix]·w[k,c,i,j]   (conv2d forward)
/// - imageFromGrid:  image[n,c,iy,ix] = Σ grid[n,k,oy,ox]·w[k,c,i,j]   (its data gradient)
/// - weightGradient: dw[k,c,i,j]     = Σ grid[n,k,oy,ox]·image[n,c,iy,ix]
/// with iy = oy·sh − ph + i, ix = ox·sw − pw + j.
extension CPUBackend {
  /// Calls body(n, i, j, gridPixel, imagePixel) for every tap inside the image.
  func forEachTap(_ g: ConvGeometry, _ body: (Int, Int, Int, Int, Int) -> Void) {
    for n in 0..<g.n {
      for oy in 0..<g.oh {
        for ox in 0..<g.ow {
          for i in 0..<g.kh {
            let iy = oy * g.sh - g.ph + i
            if iy < 0 || iy >= g.h { continue }
            for j in 0..<g.kw {
              let ix = ox * g.sw - g.pw + j
              if ix < 0 || ix >= g.w { continue }
              body(n, i, j, oy * g.ow + ox, iy * g.w + ix)
            }
          }
        }
      }
    }
  }

  func gridFromImage(_ g: ConvGeometry, image: [Double], weight: [Double], bias: [Double]?) -> [Double] {
    let (hw, ohw, kk) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw)
    var grid = [Double](repeating: 0, count: g.n * g.k * ohw)
    forEachTap(g) { n, i, j, gp, ip in
      for k in 0..<g.k {
        var s = 0.0
        for c in 0..<g.c { s += image[(n * g.c + c) * hw + ip] * weight[(k * g.c + c) * kk + i * g.kw + j] }
        grid[(n * g.k + k) * ohw + gp] += s
      }
    }
    if let bias {
      for n in 0..<g.n { for k in 0..<g.k { for p in 0..<ohw { grid[(n * g.k + k) * ohw + p] += bias[k] } } }
    }
    return grid
  }

  func imageFromGrid(_ g: ConvGeometry, grid: [Double], weight: [Double], bias: [Double]?) -> [Double] {
    let (hw, ohw, kk) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw)
    var image = [Double](repeating: 0, count: g.n * g.c * hw)
    forEachTap(g) { n, i, j, gp, ip in
      for c in 0..<g.c {
        var s = 0.0
        for k in 0..<g.k { s += grid[(n * g.k + k) * ohw + gp] * weight[(k * g.c + c) * kk + i * g.kw + j] }
        image[(n * g.c + c) * hw + ip] += s
      }
    }
    if let bias {
      for n in 0..<g.n { for c in 0..<g.c { for p in 0..<hw { image[(n * g.c + c) * hw + p] += bias[c] } } }
    }
    return image
  }

  func weightGradient(_ g: ConvGeometry, image: [Double], grid: [Double]) -> [Double] {
    let (hw, ohw, kk) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw)
    var dw = [Double](repeating: 0, count: g.k * g.c * kk)
    forEachTap(g) { n, i, j, gp, ip in
      for k in 0..<g.k {
        let d = grid[(n * g.k + k) * ohw + gp]
        for c in 0..<g.c { dw[(k * g.c + c) * kk + i * g.kw + j] += d * image[(n * g.c + c) * hw + ip] }
      }
    }
    return dw
  }

  func store(_ values: [Double], _ t: Tensor, _ op: String) throws {
    let b = try buf(t, op)
    for i in values.indices { b.values[i] = values[i] }
  }

  public func conv2d_fwd(x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor, params: Conv2dParams) throws {
    let op = "conv2d_fwd"
    let g = try ShapeCheck.conv2d(op, x: x.shape, weight: weight.shape, y: y.shape, bias: bias?.shape, params: params)
    try store(
      gridFromImage(g, image: buf(x, op).values, weight: buf(weight, op).values, bias: bias.map { try buf($0, op).values }),
      y, op)
  }

  public func conv2d_bwd_data(dy: Tensor, weight: Tensor, dx: Tensor, params: Conv2dParams) throws {
    let op = "conv2d_bwd_data"
    let g = try ShapeCheck.conv2d(op, x: dx.shape, weight: weight.shape, y: dy.shape, bias: nil, params: params)
    try store(imageFromGrid(g, grid: buf(dy, op).values, weight: buf(weight, op).values, bias: nil), dx, op)
  }

  public func conv2d_bwd_weight(x: Tensor, dy: Tensor, dweight: Tensor, params: Conv2dParams) throws {
    let op = "conv2d_bwd_weight"
    let g = try ShapeCheck.conv2d(op, x: x.shape, weight: dweight.shape, y: dy.shape, bias: nil, params: params)
    try store(weightGradient(g, image: buf(x, op).values, grid: buf(dy, op).values), dweight, op)
  }

  public func conv_transpose2d_fwd(
    x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor, params: ConvTranspose2dParams
  ) throws {
    let op = "conv_transpose2d_fwd"
    let g = try ShapeCheck.convTranspose2d(
      op, x: x.shape, weight: weight.shape, y: y.shape, bias: bias?.shape, params: params)
    try store(
      imageFromGrid(g, grid: buf(x, op).values, weight: buf(weight, op).values, bias: bias.map { try buf($0, op).values }),
      y, op)
  }

  public func conv_transpose2d_bwd_data(
    dy: Tensor, weight: Tensor, dx: Tensor, params: ConvTranspose2dParams
  ) throws {
    let op = "conv_transpose2d_bwd_data"
    let g = try ShapeCheck.convTranspose2d(op, x: dx.shape, weight: weight.shape, y: dy.shape, bias: nil, params: params)
    try store(gridFromImage(g, image: buf(dy, op).values, weight: buf(weight, op).values, bias: nil), dx, op)
  }

  public func conv_transpose2d_bwd_weight(
    x: Tensor, dy: Tensor, dweight: Tensor, params: ConvTranspose2dParams
  ) throws {
    let op = "conv_transpose2d_bwd_weight"
    let g = try ShapeCheck.convTranspose2d(op, x: x.shape, weight: dweight.shape, y: dy.shape, bias: nil, params: params)
    try store(weightGradient(g, image: buf(dy, op).values, grid: buf(x, op).values), dweight, op)
  }
}
