/// Window geometry for conv2d (Dumoulin & Visin, "A guide to convolution arithmetic", 2016).
public struct Conv2dParams: Hashable, Sendable {
  public var stride: (h: Int, w: Int)
  public var padding: (h: Int, w: Int)

  public init(stride: Int = 1, padding: Int = 0) {
    self.stride = (stride, stride)
    self.padding = (padding, padding)
  }
  public init(stride: (Int, Int), padding: (Int, Int)) {
    self.stride = (stride.0, stride.1)
    self.padding = (padding.0, padding.1)
  }

  public static func == (a: Self, b: Self) -> Bool {
    a.stride == b.stride && a.padding == b.padding
  }
  public func hash(into h: inout Hasher) {
    h.combine(stride.h); h.combine(stride.w); h.combine(padding.h); h.combine(padding.w)
  }
}

/// Geometry for transposed conv2d, PyTorch semantics:
/// out = (in - 1)·stride - 2·padding + kernel + outputPadding.
public struct ConvTranspose2dParams: Hashable, Sendable {
  public var stride: (h: Int, w: Int)
  public var padding: (h: Int, w: Int)
  public var outputPadding: (h: Int, w: Int)

  public init(stride: Int = 1, padding: Int = 0, outputPadding: Int = 0) {
    self.stride = (stride, stride)
    self.padding = (padding, padding)
    self.outputPadding = (outputPadding, outputPadding)
  }

  public static func == (a: Self, b: Self) -> Bool {
    a.stride == b.stride && a.padding == b.padding && a.outputPadding == b.outputPadding
  }
  public func hash(into h: inout Hasher) {
    h.combine(stride.h); h.combine(stride.w); h.combine(padding.h); h.combine(padding.w)
    h.combine(outputPadding.h); h.combine(outputPadding.w)
  }
}

/// Fully resolved convolution geometry shared by conv2d and its transpose. For conv2d the
/// "image" side is the input x and the "columns" side the output y; for the transpose the
/// roles swap (its forward pass is conv2d's data gradient), so one set of im2col/col2im
/// kernels serves both.
public struct ConvGeometry: Hashable, Sendable, CustomStringConvertible {
  /// Batch size.
  public var n: Int
  /// Channels, height, width of the image side (conv2d input, conv-transpose output).
  public var c: Int, h: Int, w: Int
  /// Channels, height, width of the patch-grid side (conv2d output, conv-transpose input).
  public var k: Int, oh: Int, ow: Int
  public var kh: Int, kw: Int
  public var sh: Int, sw: Int
  public var ph: Int, pw: Int

  public init(
    n: Int, c: Int, h: Int, w: Int, k: Int, oh: Int, ow: Int, kh: Int, kw: Int, sh: Int,
    sw: Int, ph: Int, pw: Int
  ) {
    (self.n, self.c, self.h, self.w, self.k, self.oh, self.ow) = (n, c, h, w, k, oh, ow)
    (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) = (kh, kw, sh, sw, ph, pw)
  }

  /// Rows of the im2col matrix: C·KH·KW.
  public var patchSize: Int { c * kh * kw }
  /// Columns of the im2col matrix: N·OH·OW.
  public var patchCount: Int { n * oh * ow }
  /// Multiply-adds of one forward pass (and of each of the two backward passes).
  public var macs: Int { k * patchSize * patchCount }

  public var description: String {
    "n\(n) c\(c) \(h)x\(w) -> k\(k) \(oh)x\(ow) kernel \(kh)x\(kw) stride \(sh)x\(sw) pad \(ph)x\(pw)"
  }
}

/// Pointwise functions: the nonlinearities (LeakyReLU: Maas et al. 2013), and sqrt and
/// square, which norms such as WGAN-GP's gradient penalty are built from.
public enum Activation: Hashable, Sendable, CustomStringConvertible {
  case relu
  case leakyRelu(slope: Float)
  case tanh
  case sigmoid
  /// √x (x ≥ 0); its backward reads y.
  case sqrt
  /// x²; its backward reads x.
  case square
  /// 1/√x (x > 0): batch norm's inverse standard deviation; its backward reads y.
  case rsqrt
  /// eˣ: StackGAN's conditioning augmentation (σ = exp(½·log σ²)); its backward reads y.
  case exp

  /// Whether the backward pass can be computed from the forward output y alone (pass y
  /// as both x and y): true for tanh, sigmoid and sqrt, and for relu and leaky ReLU with a
  /// positive slope, whose mask x > 0 equals y > 0. Then x can be freed, or overwritten
  /// in place, as soon as y exists.
  public var backwardReadsOutput: Bool {
    switch self {
    case .tanh, .sigmoid, .sqrt, .rsqrt, .exp, .relu: return true
    case .leakyRelu(let slope): return slope > 0
    case .square: return false
    }
  }

  public var description: String {
    switch self {
    case .relu: return "relu"
    case .leakyRelu(let s): return "leaky_relu(\(s))"
    case .tanh: return "tanh"
    case .sigmoid: return "sigmoid"
    case .sqrt: return "sqrt"
    case .square: return "square"
    case .rsqrt: return "rsqrt"
    case .exp: return "exp"
    }
  }
}

/// Adam hyper-parameters (Kingma & Ba 2015), PyTorch's `torch.optim.Adam` semantics:
/// L2 weight decay is added to the gradient (not decoupled). Held in Double, as PyTorch
/// holds them: 1 − β₂ computed from Float(0.999) would be off by 1.3e-5 relative.
public struct AdamParams: Hashable, Sendable {
  public var lr: Double
  public var beta1: Double
  public var beta2: Double
  public var eps: Double
  public var weightDecay: Double

  public init(
    lr: Double = 2e-4, beta1: Double = 0.5, beta2: Double = 0.999, eps: Double = 1e-8,
    weightDecay: Double = 0
  ) {
    (self.lr, self.beta1, self.beta2, self.eps, self.weightDecay) = (
      lr, beta1, beta2, eps, weightDecay
    )
  }
}

/// SGD with momentum, PyTorch's `torch.optim.SGD` semantics (dampening 0, not Nesterov).
public struct SGDParams: Hashable, Sendable {
  public var lr: Float
  public var momentum: Float
  public var weightDecay: Float

  public init(lr: Float, momentum: Float = 0, weightDecay: Float = 0) {
    (self.lr, self.momentum, self.weightDecay) = (lr, momentum, weightDecay)
  }
}

/// RMSprop hyper-parameters, PyTorch's `torch.optim.RMSprop` semantics (defaults as there:
/// lr 0.01, alpha 0.99, eps 1e-8 added outside the square root). Held in Double, as PyTorch
/// holds them (1 − alpha is formed in Double).
public struct RMSpropParams: Hashable, Sendable {
  public var lr: Double
  public var alpha: Double
  public var eps: Double
  public var weightDecay: Double
  public var momentum: Double
  /// Normalise by an estimate of the gradient's variance (Graves 2013) instead of its
  /// second moment; needs the `gradAvg` state.
  public var centered: Bool

  public init(
    lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8, weightDecay: Double = 0, momentum: Double = 0,
    centered: Bool = false
  ) {
    (self.lr, self.alpha, self.eps, self.weightDecay, self.momentum, self.centered) = (
      lr, alpha, eps, weightDecay, momentum, centered
    )
  }
}

/// Which Philox stream to draw from: `seed` is the key; `counter` the first 128-bit block
/// (each block yields four 32-bit words, so a fill of n values uses ceil(n/4) blocks).
public struct RandomStream: Hashable, Sendable {
  public var seed: UInt64
  public var counter: UInt64

  public init(seed: UInt64, counter: UInt64 = 0) {
    self.seed = seed
    self.counter = counter
  }

  /// The stream position after drawing `count` values.
  public func advanced(by count: Int) -> RandomStream {
    RandomStream(seed: seed, counter: counter + UInt64((count + 3) / 4))
  }
}
