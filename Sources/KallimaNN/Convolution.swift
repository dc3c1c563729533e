import KallimaCore
import KallimaGraph

/// nn.Conv2d: x [N, in, H, W] -> [N, out, OH, OW]; weight [out, in, k, k] (OIHW), optional
/// bias [out]. Initialised as PyTorch does unless `weightInit` / `biasInit` say otherwise
/// (DCGAN: N(0, 0.02), Radford et al. 2015).
public struct Conv2d: Layer {
  public var inputChannels: Int
  public var outputChannels: Int
  public var kernelSize: Int
  public var stride: Int
  public var padding: Int
  public var bias: Bool
  public var weightInit: ParameterInit
  public var biasInit: ParameterInit
  /// A constant the stored weight is multiplied by at every use (1: none). The equalised
  /// learning rate of Progressive GAN (Karras et al. 2018, §4.1): weights drawn N(0, 1) and
  /// scaled by He's constant gain/√fan-in at run time, so Adam's step is the same size
  /// relative to every layer's weights.
  public var weightScale: Float = 1

  public init(
    _ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
    weightInit: ParameterInit? = nil, biasInit: ParameterInit? = nil
  ) {
    self.inputChannels = inputChannels
    self.outputChannels = outputChannels
    self.kernelSize = kernelSize
    self.stride = stride
    self.padding = padding
    self.bias = bias
    let fanIn = inputChannels * kernelSize * kernelSize
    self.weightInit = weightInit ?? .pytorchDefault(fanIn: fanIn)
    self.biasInit = biasInit ?? .pytorchDefault(fanIn: fanIn)
  }

  /// An equalised-learning-rate convolution: weight N(0, 1) scaled by gain/√(in·k²) at run
  /// time, bias zero (Progressive GAN's conv2d with use_wscale; gain √2 before a leaky ReLU).
  /// The scale is formed in Double and rounded once, as the reference's NumPy constant.
  public static func equalized(
    _ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, padding: Int = 0, gain: Double = 2.0.squareRoot()
  ) -> Conv2d {
    var conv = Conv2d(
      inputChannels, outputChannels, kernelSize: kernelSize, padding: padding, weightInit: .normal(mean: 0, std: 1),
      biasInit: .constant(0))
    conv.weightScale = Float(gain / Double(inputChannels * kernelSize * kernelSize).squareRoot())
    return conv
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let w = try scope.scaled(
      try scope.weight("weight", [outputChannels, inputChannels, kernelSize, kernelSize], weightInit, spectralNormDim: 0),
      by: weightScale)
    var inputs = [x, w]
    if bias { inputs.append(try scope.parameter("bias", [outputChannels], biasInit)) }
    return try scope.value(.conv2d(Conv2dParams(stride: stride, padding: padding)), inputs, "conv")
  }
}

/// nn.ConvTranspose2d: x [N, in, H, W] -> [N, out, (H−1)·s − 2p + k + op, …]; weight
/// [in, out, k, k] (IOHW, as PyTorch), optional bias [out]. PyTorch's default init takes
/// the fan-in from weight.size(1)·k·k (= out·k·k), as kaiming_uniform does on that layout.
public struct ConvTranspose2d: Layer {
  public var inputChannels: Int
  public var outputChannels: Int
  public var kernelSize: Int
  public var stride: Int
  public var padding: Int
  public var outputPadding: Int
  public var bias: Bool
  public var weightInit: ParameterInit
  public var biasInit: ParameterInit

  public init(
    _ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
    outputPadding: Int = 0, bias: Bool = true, weightInit: ParameterInit? = nil, biasInit: ParameterInit? = nil
  ) {
    self.inputChannels = inputChannels
    self.outputChannels = outputChannels
    self.kernelSize = kernelSize
    self.stride = stride
    self.padding = padding
    self.outputPadding = outputPadding
    self.bias = bias
    let fanIn = outputChannels * kernelSize * kernelSize
    self.weightInit = weightInit ?? .pytorchDefault(fanIn: fanIn)
    self.biasInit = biasInit ?? .pytorchDefault(fanIn: fanIn)
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    // torch.nn.utils.spectral_norm normalises a ConvTranspose2d weight along dim 1.
    let w = try scope.weight(
      "weight", [inputChannels, outputChannels, kernelSize, kernelSize], weightInit, spectralNormDim: 1)
    var inputs = [x, w]
    if bias { inputs.append(try scope.parameter("bias", [outputChannels], biasInit)) }
    let p = ConvTranspose2dParams(stride: stride, padding: padding, outputPadding: outputPadding)
    return try scope.value(.convTranspose2d(p), inputs, "conv_transpose")
  }
}

/// nn.Linear: x [N, in] -> [N, out] = x·Wᵀ + b; weight [out, in].
public struct Linear: Layer {
  public var inputFeatures: Int
  public var outputFeatures: Int
  public var bias: Bool
  public var weightInit: ParameterInit
  public var biasInit: ParameterInit
  /// A constant the stored weight is multiplied by at every use (see `Conv2d.weightScale`).
  public var weightScale: Float = 1

  public init(
    _ inputFeatures: Int, _ outputFeatures: Int, bias: Bool = true, weightInit: ParameterInit? = nil,
    biasInit: ParameterInit? = nil
  ) {
    self.inputFeatures = inputFeatures
    self.outputFeatures = outputFeatures
    self.bias = bias
    self.weightInit = weightInit ?? .pytorchDefault(fanIn: inputFeatures)
    self.biasInit = biasInit ?? .pytorchDefault(fanIn: inputFeatures)
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let s = scope.graph.shape(x)
    guard s.rank == 2, s[1] == inputFeatures else {
      throw KallimaError.shapeMismatch(
        op: scope.nodeName("linear"), message: "input must be [N, \(inputFeatures)], got \(s); flatten images first")
    }
    let w = try scope.scaled(
      try scope.weight("weight", [outputFeatures, inputFeatures], weightInit, spectralNormDim: 0), by: weightScale)
    var y = try scope.value(.matmul(transposeA: false, transposeB: true, alpha: 1), [x, w], "linear")
    if bias { y = try scope.value(.addChannel, [y, try scope.parameter("bias", [outputFeatures], biasInit)], "linear bias") }
    return y
  }
}

extension Linear {
  /// An equalised-learning-rate linear layer: weight N(0, 1) scaled by gain/√in at run time,
  /// bias zero (Progressive GAN's dense with use_wscale).
  public static func equalized(_ inputFeatures: Int, _ outputFeatures: Int, gain: Double = 2.0.squareRoot()) -> Linear {
    var linear = Linear(inputFeatures, outputFeatures, weightInit: .normal(mean: 0, std: 1), biasInit: .constant(0))
    linear.weightScale = Float(gain / Double(inputFeatures).squareRoot())
    return linear
  }
}

extension Scope {
  /// `w`·scale as a node (w itself when the scale is 1).
  func scaled(_ w: Value, by scale: Float) throws -> Value {
    scale == 1 ? w : try value(.scale(scale), [w], "weight·\(scale)")
  }
}

/// nn.Embedding applied to one-hot rows: y [N, D] = onehot [N, K] · weight [K, D]. Labels
/// travel as one-hot (or soft, e.g. interpolated) rows so the lookup is a GEMM that
/// differentiates like any other. Initialised N(0, 1) as PyTorch does.
public struct Embedding: Layer {
  public var count: Int
  public var dimension: Int
  public var weightInit: ParameterInit

  public init(_ count: Int, _ dimension: Int, weightInit: ParameterInit = .normal(mean: 0, std: 1)) {
    self.count = count
    self.dimension = dimension
    self.weightInit = weightInit
  }

  public func callAsFunction(_ onehot: Value, in scope: Scope) throws -> Value {
    let s = scope.graph.shape(onehot)
    guard s.rank == 2, s[1] == count else {
      throw KallimaError.shapeMismatch(op: scope.nodeName("embedding"), message: "input must be one-hot [N, \(count)], got \(s)")
    }
    // torch.nn.utils.spectral_norm on an embedding normalises its [K, D] weight along dim 0.
    let w = try scope.weight("weight", [count, dimension], weightInit, spectralNormDim: 0)
    return try scope.value(.matmul(transposeA: false, transposeB: false, alpha: 1), [onehot, w], "embedding")
  }
}
