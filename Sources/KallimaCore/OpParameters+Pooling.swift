/// Window geometry for max and average pooling, PyTorch semantics with dilation 1:
/// out = floor((in + 2·padding − kernel) / stride) + 1, or with `ceilMode` (torchvision's
/// SqueezeNet uses it) ceil instead of floor, minus one if the last window would start
/// beyond the input and its left padding (PyTorch's rule). Padding is at most half the
/// kernel (PyTorch's own limit), so every window holds at least one real pixel.
/// Global average pooling (adaptive_avg_pool2d to 1×1) is `Pool2dParams.global(h:w:)`.
public struct Pool2dParams: Hashable, Sendable, CustomStringConvertible {
  public var kernel: (h: Int, w: Int)
  public var stride: (h: Int, w: Int)
  public var padding: (h: Int, w: Int)
  /// Round the output size up (torch's ceil_mode=True): the last window may hang over the
  /// bottom/right edge; it pools only what it covers.
  public var ceilMode: Bool

  /// Square windows; the stride defaults to the kernel size, as in torch.nn.MaxPool2d.
  public init(kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
    self.init(kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding), ceilMode: ceilMode)
  }

  public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false) {
    self.kernel = (kernel.0, kernel.1)
    self.stride = stride.map { ($0.0, $0.1) } ?? (kernel.0, kernel.1)
    self.padding = (padding.0, padding.1)
    self.ceilMode = ceilMode
  }

  /// One window covering a whole h×w map: global average pooling, which equals
  /// adaptive_avg_pool2d(output_size=1) (Inception-v3's last pooling, 8×8 → 1×1).
  public static func global(h: Int, w: Int) -> Pool2dParams { Pool2dParams(kernel: (h, w)) }

  /// Output height and width for an h×w input (not validated; see `ShapeCheck.pool2d`).
  public func outputSize(h: Int, w: Int) -> (h: Int, w: Int) {
    func size(_ input: Int, _ k: Int, _ s: Int, _ p: Int) -> Int {
      let span = input + 2 * p - k
      guard ceilMode, span >= 0 else { return span / s + 1 }
      var out = (span + s - 1) / s + 1
      if (out - 1) * s >= input + p { out -= 1 }
      return out
    }
    return (size(h, kernel.h, stride.h, padding.h), size(w, kernel.w, stride.w, padding.w))
  }

  /// The pooled shape of an NCHW shape x.
  public func outputShape(_ x: Shape) -> Shape {
    let (oh, ow) = outputSize(h: x[2], w: x[3])
    return [x[0], x[1], oh, ow]
  }

  public static func == (a: Self, b: Self) -> Bool {
    a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding && a.ceilMode == b.ceilMode
  }
  public func hash(into h: inout Hasher) {
    h.combine(kernel.h); h.combine(kernel.w); h.combine(stride.h); h.combine(stride.w)
    h.combine(padding.h); h.combine(padding.w); h.combine(ceilMode)
  }

  public var description: String {
    func pair(_ p: (h: Int, w: Int)) -> String { p.h == p.w ? "\(p.h)" : "\(p.h)x\(p.w)" }
    return "k\(pair(kernel)) s\(pair(stride)) p\(pair(padding))\(ceilMode ? " ceil" : "")"
  }
}

/// Fully resolved pooling geometry: `planes` = N·C independent h×w maps pooled to oh×ow.
/// Window (oy, ox) covers rows oy·sh − ph ..< oy·sh − ph + kh and the matching columns.
public struct PoolGeometry: Hashable, Sendable, CustomStringConvertible {
  public var n: Int, c: Int, h: Int, w: Int
  public var oh: Int, ow: Int
  public var kh: Int, kw: Int
  public var sh: Int, sw: Int
  public var ph: Int, pw: Int

  public init(n: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int, params p: Pool2dParams) {
    (self.n, self.c, self.h, self.w, self.oh, self.ow) = (n, c, h, w, oh, ow)
    (kh, kw, sh, sw, ph, pw) = (p.kernel.h, p.kernel.w, p.stride.h, p.stride.w, p.padding.h, p.padding.w)
  }

  /// Independent maps (N·C).
  public var planes: Int { n * c }

  /// Rows of window `oy` inside the image, and its height counted through the padding
  /// (PyTorch clips that at h + ph, which only bites in ceil mode).
  public func rows(_ oy: Int) -> (range: Range<Int>, padded: Int) {
    let start = oy * sh - ph
    let end = min(start + kh, h + ph)
    return (max(start, 0)..<min(end, h), end - start)
  }

  /// Columns of window `ox`, as `rows`.
  public func columns(_ ox: Int) -> (range: Range<Int>, padded: Int) {
    let start = ox * sw - pw
    let end = min(start + kw, w + pw)
    return (max(start, 0)..<min(end, w), end - start)
  }

  public var description: String {
    "n\(n) c\(c) \(h)x\(w) -> \(oh)x\(ow) kernel \(kh)x\(kw) stride \(sh)x\(sw) pad \(ph)x\(pw)"
  }
}

/// Geometry of a 2-D resize: `planes` = N·C maps from h×w to oh×ow.
public struct ResizeGeometry: Hashable, Sendable, CustomStringConvertible {
  public var n: Int, c: Int, h: Int, w: Int
  public var oh: Int, ow: Int

  public init(n: Int, c: Int, h: Int, w: Int, oh: Int, ow: Int) {
    (self.n, self.c, self.h, self.w, self.oh, self.ow) = (n, c, h, w, oh, ow)
  }

  public var planes: Int { n * c }

  public var description: String { "n\(n) c\(c) \(h)x\(w) -> \(oh)x\(ow)" }
}
