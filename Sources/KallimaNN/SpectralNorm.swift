import KallimaCore
import KallimaGraph

extension Scope {
  /// A layer's weight: the parameter itself, or, when the binding asks for spectral
  /// normalisation, W / σ(W) with the state-dict names of torch.nn.utils.spectral_norm
  /// (`weight_orig`, `weight_u`, `weight_v`). `spectralNormDim` is the axis PyTorch treats
  /// as the rows of the weight matrix (0 for conv/linear/embedding, 1 for conv-transpose).
  public func weight(_ name: String, _ shape: Shape, _ initial: ParameterInit, spectralNormDim: Int) throws -> Value {
    guard options.spectralNorm else { return try parameter(name, shape, initial) }
    throw KallimaError.invalidArgument(op: nodeName(name), message: "spectral normalisation is not available yet")
  }
}
