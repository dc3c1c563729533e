import KallimaCore
import KallimaGraph

/// Spectral normalisation (Miyato et al. 2018) with the semantics and state-dict names of
/// `torch.nn.utils.spectral_norm` (one power iteration, eps 1e-12):
/// - `NAME_orig` is the trained parameter W; `NAME_u` [rows] and `NAME_v` [cols] are buffers;
/// - in train mode each application of the layer runs one power iteration from the current
///   u, with W detached: v = normalize(Wᵀu), u = normalize(W v) (normalize(a) =
///   a / max(‖a‖, eps)); the new u and v are carried to the next application in the same
///   graph and written back when the graph is complete;
/// - σ = uᵀ W v with u, v constants and W differentiable; the layer uses W / σ;
/// - in eval mode the stored u and v are used as they are.
/// W is viewed as a matrix [rows, cols] with rows = size of `dim` (0 for conv, linear and
/// embedding weights).
extension Scope {
  static let spectralNormEps: Float = 1e-12

  /// A layer's weight: the parameter itself, or, when the binding asks for spectral
  /// normalisation, W / σ(W) as described above. `spectralNormDim` is the axis PyTorch
  /// treats as the rows of the weight matrix (0 for conv/linear/embedding, 1 for
  /// conv-transpose).
  public func weight(_ name: String, _ shape: Shape, _ initial: ParameterInit, spectralNormDim: Int) throws -> Value {
    guard options.spectralNorm else { return try parameter(name, shape, initial) }
    guard spectralNormDim == 0 || spectralNormDim == 1 else {
      throw KallimaError.invalidArgument(op: nodeName(name), message: "spectral norm along dim \(spectralNormDim) is not supported")
    }
    let rows = shape[spectralNormDim]
    let cols = shape.count / rows
    let w = try parameter(name + "_orig", shape, initial)
    let uName = qualified(name + "_u")
    let vName = qualified(name + "_v")
    // PyTorch draws u and v from N(0, 1) and normalises them; the first power iteration
    // makes the scale irrelevant.
    let storedU = try parameter(name + "_u", [rows], .normal(mean: 0, std: 1), trainable: false)
    let storedV = try parameter(name + "_v", [cols], .normal(mean: 0, std: 1), trainable: false)
    // PyTorch moves `dim` to the front (weight.permute(dim, …)) before the reshape.
    let rowsFirst = spectralNormDim == 0 ? w : try value(.transpose01, [w], "\(name) dim \(spectralNormDim) first")
    let matrix = try value(.reshape([rows, cols]), [rowsFirst], "\(name) as matrix")
    // u and v are vectors in the store (PyTorch's shapes) and columns in the products.
    var u = try value(.reshape([rows, 1]), [binder.carried(store, uName) ?? storedU], "\(name) u column")
    var v = try value(.reshape([cols, 1]), [binder.carried(store, vName) ?? storedV], "\(name) v column")
    if training {
      let fixed = try value(.detach, [matrix], "\(name) detached")
      v = try normalize(try value(.matmul(transposeA: true, transposeB: false, alpha: 1), [fixed, u], "\(name) Wᵀu"), "\(name) v")
      u = try normalize(try value(.matmul(transposeA: false, transposeB: false, alpha: 1), [fixed, v], "\(name) Wv"), "\(name) u")
      binder.carry(store, uName, try value(.reshape([rows]), [u], "\(name) new u"))
      binder.carry(store, vName, try value(.reshape([cols]), [v], "\(name) new v"))
    }
    let wv = try value(.matmul(transposeA: false, transposeB: false, alpha: 1), [matrix, v], "\(name) W·v")
    let sigma = try value(.matmul(transposeA: true, transposeB: false, alpha: 1), [u, wv], "\(name) σ")
    let sigmaScalar = try value(.reshape([1]), [sigma], "\(name) σ scalar")
    return try value(.divScalar, [w, sigmaScalar], "\(name) / σ")
  }

  /// a / max(‖a‖₂, eps) for a column vector.
  func normalize(_ a: Value, _ what: String) throws -> Value {
    let squares = try value(.activation(.square), [a], "\(what) squares")
    let norm = try value(.activation(.sqrt), [try value(.reduceSum(alpha: 1), [squares], "\(what) ‖·‖²")], "\(what) ‖·‖")
    let safe = try value(.clamp(min: Scope.spectralNormEps, max: .infinity), [norm], "\(what) max(‖·‖, eps)")
    return try value(.divScalar, [a, safe], what)
  }
}
