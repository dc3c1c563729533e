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

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let w = try scope.weight(
      "weight", [outputChannels, inputChannels, kernelSize, kernelSize], weightInit, spectralNormDim: 0)
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
    let w = try scope.weight("weight", [outputFeatures, inputFeatures], weightInit, spectralNormDim: 0)
    var y = try scope.value(.matmul(transposeA: false, transposeB: true, alpha: 1), [x, w], "linear")
    if bias { y = try scope.value(.addChannel, [y, try scope.parameter("bias", [outputFeatures], biasInit)], "linear bias") }
    return y
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
