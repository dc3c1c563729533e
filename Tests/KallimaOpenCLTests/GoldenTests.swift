import Foundation
import KallimaCPU
import KallimaCore
import KallimaOpSuite
import KallimaOpenCL
import Testing

// Golden values from PyTorch: Fixtures/golden.json, written by Scripts/make_golden_fixtures.py
// (run by hand; the build and tests never need Python). Inputs in the fixture are float32
// values; expected outputs were computed by PyTorch in float64 from those exact inputs, so
// the tolerances below cover only Kallima's own rounding.
//
// Every op runs on both backends: the CPU reference backend and an OpenCL backend on the
// first device (PoCL's CPU device in CI). If the OpenCL backend cannot be created the
// OpenCL cases FAIL (the error is thrown), they are not skipped.
//
// Tolerances: an element passes when |actual − expected| <= atol + rtol·|expected|, with
//   • ops with a reduction of length L (conv, conv-transpose, batchnorm, losses, bias
//     gradients): atol = 1e-5·sqrt(L), rtol = 1e-4; pointwise outputs use L = 1;
//   • Adam (param, exp_avg, exp_avg_sq after steps 1 and 2): atol = 1e-7, rtol = 1e-6.

// MARK: Fixture

private struct GoldenTensor: Decodable {
  let shape: [Int]
  let data: [Double]
}

private struct GoldenCase: Decodable {
  let params: [String: Double]
  let tensors: [String: GoldenTensor]

  func tensor(_ key: String) throws -> GoldenTensor {
    guard let t = tensors[key] else { throw GoldenError("fixture tensor '\(key)' missing") }
    return t
  }
  func param(_ key: String) throws -> Double {
    guard let p = params[key] else { throw GoldenError("fixture parameter '\(key)' missing") }
    return p
  }
}

private struct GoldenFile: Decodable {
  let torch_version: String
  let cases: [String: GoldenCase]
}

private struct GoldenError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

private func goldenLoadFixture() throws -> GoldenFile {
  guard
    let url = Bundle.module.url(forResource: "golden", withExtension: "json", subdirectory: "Fixtures")
  else { throw GoldenError("Fixtures/golden.json not found in the test bundle") }
  return try JSONDecoder().decode(GoldenFile.self, from: Data(contentsOf: url))
}

private let goldenFixture = Result { try goldenLoadFixture() }

private func goldenCase(_ name: String) throws -> GoldenCase {
  guard let c = try goldenFixture.get().cases[name] else {
    throw GoldenError("fixture case '\(name)' missing")
  }
  return c
}

// MARK: Backends

/// One OpenCL backend shared by every golden test (creating one builds programs).
private let goldenOpenCL = Result { try OpenCLBackend() }

private let goldenBackendKinds = ["cpu", "opencl"]

private func goldenBackend(_ kind: String) throws -> any Backend {
  switch kind {
  case "cpu": return CPUBackend()
  case "opencl": return try goldenOpenCL.get()
  default: throw GoldenError("unknown backend kind \(kind)")
  }
}

/// A tensor holding the fixture's (float32) values.
private func goldenInput(_ b: any Backend, _ t: GoldenTensor) throws -> Tensor {
  try b.makeTensor(Shape(t.shape), values: t.data.map { Float($0) })
}

/// An output tensor pre-filled with the NaN sentinel (`OpCase.sentinel`), so an element an op
/// fails to write, or accumulates into instead of overwriting, stays NaN and fails
/// `goldenCheck` (NaN passes no tolerance).
private func goldenOutput(_ b: any Backend, _ shape: [Int]) throws -> Tensor {
  try b.outputTensor(Shape(shape))
}

// MARK: Comparison

private struct GoldenTolerance: CustomStringConvertible {
  let atol: Double
  let rtol: Double

  /// Output of a reduction of length `length` (1 for pointwise outputs).
  static func reduction(_ length: Int) -> GoldenTolerance {
    GoldenTolerance(atol: 1e-5 * Double(length).squareRoot(), rtol: 1e-4)
  }
  static let adam = GoldenTolerance(atol: 1e-7, rtol: 1e-6)

  var description: String { "atol \(atol), rtol \(rtol)" }
}

/// Reads `actual` and compares it with the golden tensor; records one issue listing the
/// first mismatching indices with expected and actual values.
private func goldenCheck(
  _ label: String, _ b: any Backend, _ actual: Tensor, _ expected: GoldenTensor,
  _ tol: GoldenTolerance, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  #expect(
    actual.shape.dims == expected.shape,
    "\(b.name) \(label): shape \(actual.shape) != golden \(expected.shape)",
    sourceLocation: sourceLocation)
  let values = try b.read(actual)
  guard values.count == expected.data.count else {
    Issue.record(
      "\(b.name) \(label): \(values.count) values, golden has \(expected.data.count)",
      sourceLocation: sourceLocation)
    return
  }
  var bad: [Int] = []
  var worst = 0.0
  for i in values.indices {
    let a = Double(values[i])
    let r = expected.data[i]
    let err = abs(a - r)
    if !(err <= tol.atol + tol.rtol * abs(r)) {
      bad.append(i)
      worst = max(worst, err.isNaN ? .infinity : err)
    }
  }
  guard !bad.isEmpty else { return }
  let shown = bad.prefix(8).map { i -> String in
    let r = expected.data[i]
    let a = Double(values[i])
    return "[\(i)] expected \(r) actual \(a) |diff| \(abs(a - r)) allowed \(tol.atol + tol.rtol * abs(r))"
  }
  Issue.record(
    """
    \(b.name) \(label): \(bad.count) of \(values.count) elements outside tolerance \
    (\(tol)); max |diff| \(worst); first bad:
    \(shown.joined(separator: "\n"))
    """,
    sourceLocation: sourceLocation)
}

// MARK: Tests

@Suite("Golden values from PyTorch", .serialized)
struct GoldenTests {
  @Test func goldenFixtureLoads() throws {
    let f = try goldenFixture.get()
    #expect(!f.torch_version.isEmpty)
    for name in [
      "conv2d", "conv_transpose2d", "batchnorm2d_train", "batchnorm2d_eval", "bce_logits", "adam",
    ] {
      #expect(f.cases[name] != nil, "case \(name) missing from golden.json")
    }
  }

  @Test(arguments: goldenBackendKinds)
  func goldenConv2d(kind: String) throws {
    let b = try goldenBackend(kind)
    let g = try goldenCase("conv2d")
    let params = Conv2dParams(stride: Int(try g.param("stride")), padding: Int(try g.param("padding")))
    let (x, w, bias, dy) = (
      try goldenInput(b, g.tensor("x")), try goldenInput(b, g.tensor("weight")),
      try goldenInput(b, g.tensor("bias")), try goldenInput(b, g.tensor("dy"))
    )
    let (n, c) = (x.shape[0], x.shape[1])
    let (k, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let (oh, ow) = (dy.shape[2], dy.shape[3])

    let y = try goldenOutput(b, try g.tensor("y").shape)
    try b.conv2d_fwd(x: x, weight: w, bias: bias, y: y, params: params)
    try goldenCheck("conv2d_fwd y", b, y, g.tensor("y"), .reduction(c * kh * kw))

    let dx = try goldenOutput(b, x.shape.dims)
    try b.conv2d_bwd_data(dy: dy, weight: w, dx: dx, params: params)
    try goldenCheck("conv2d_bwd_data dx", b, dx, g.tensor("dx"), .reduction(k * kh * kw))

    let dw = try goldenOutput(b, w.shape.dims)
    try b.conv2d_bwd_weight(x: x, dy: dy, dweight: dw, params: params)
    try goldenCheck("conv2d_bwd_weight dweight", b, dw, g.tensor("dweight"), .reduction(n * oh * ow))

    let db = try goldenOutput(b, bias.shape.dims)
    try b.channel_sum(dy, y: db)
    try goldenCheck("channel_sum dbias (conv2d)", b, db, g.tensor("dbias"), .reduction(n * oh * ow))
  }

  @Test(arguments: goldenBackendKinds)
  func goldenConvTranspose2d(kind: String) throws {
    let b = try goldenBackend(kind)
    let g = try goldenCase("conv_transpose2d")
    let params = ConvTranspose2dParams(
      stride: Int(try g.param("stride")), padding: Int(try g.param("padding")),
      outputPadding: Int(try g.param("output_padding")))
    let (x, w, bias, dy) = (
      try goldenInput(b, g.tensor("x")), try goldenInput(b, g.tensor("weight")),
      try goldenInput(b, g.tensor("bias")), try goldenInput(b, g.tensor("dy"))
    )
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
    let (oh, ow) = (dy.shape[2], dy.shape[3])

    let y = try goldenOutput(b, try g.tensor("y").shape)
    try b.conv_transpose2d_fwd(x: x, weight: w, bias: bias, y: y, params: params)
    try goldenCheck("conv_transpose2d_fwd y", b, y, g.tensor("y"), .reduction(cin * kh * kw))

    let dx = try goldenOutput(b, x.shape.dims)
    try b.conv_transpose2d_bwd_data(dy: dy, weight: w, dx: dx, params: params)
    try goldenCheck(
      "conv_transpose2d_bwd_data dx", b, dx, g.tensor("dx"), .reduction(cout * kh * kw))

    let dw = try goldenOutput(b, w.shape.dims)
    try b.conv_transpose2d_bwd_weight(x: x, dy: dy, dweight: dw, params: params)
    try goldenCheck(
      "conv_transpose2d_bwd_weight dweight", b, dw, g.tensor("dweight"), .reduction(n * h * wd))

    let db = try goldenOutput(b, bias.shape.dims)
    try b.channel_sum(dy, y: db)
    try goldenCheck(
      "channel_sum dbias (conv_transpose2d)", b, db, g.tensor("dbias"), .reduction(n * oh * ow))
  }

  @Test(arguments: goldenBackendKinds)
  func goldenBatchnormTrain(kind: String) throws {
    let b = try goldenBackend(kind)
    let g = try goldenCase("batchnorm2d_train")
    let momentum = Float(try g.param("momentum"))
    let eps = Float(try g.param("eps"))
    let x = try goldenInput(b, g.tensor("x"))
    let gamma = try goldenInput(b, g.tensor("gamma"))
    let beta = try goldenInput(b, g.tensor("beta"))
    let dy = try goldenInput(b, g.tensor("dy"))
    let runningMean = try goldenInput(b, g.tensor("running_mean_in"))
    let runningVar = try goldenInput(b, g.tensor("running_var_in"))
    let c = x.shape[1]
    let perChannel = x.count / c

    let y = try goldenOutput(b, x.shape.dims)
    let saveMean = try goldenOutput(b, [c])
    let saveInvstd = try goldenOutput(b, [c])
    try b.batchnorm_fwd_train(
      x: x, gamma: gamma, beta: beta, y: y, saveMean: saveMean, saveInvstd: saveInvstd,
      runningMean: runningMean, runningVar: runningVar, momentum: momentum, eps: eps)
    let tol = GoldenTolerance.reduction(perChannel)
    try goldenCheck("batchnorm_fwd_train y", b, y, g.tensor("y"), tol)
    try goldenCheck("batchnorm_fwd_train saveMean", b, saveMean, g.tensor("save_mean"), tol)
    try goldenCheck("batchnorm_fwd_train saveInvstd", b, saveInvstd, g.tensor("save_invstd"), tol)
    try goldenCheck("batchnorm_fwd_train runningMean", b, runningMean, g.tensor("running_mean"), tol)
    try goldenCheck("batchnorm_fwd_train runningVar", b, runningVar, g.tensor("running_var"), tol)

    let dx = try goldenOutput(b, x.shape.dims)
    let dgamma = try goldenOutput(b, [c])
    let dbeta = try goldenOutput(b, [c])
    try b.batchnorm_bwd(
      dy: dy, x: x, gamma: gamma, saveMean: saveMean, saveInvstd: saveInvstd, dx: dx,
      dgamma: dgamma, dbeta: dbeta)
    try goldenCheck("batchnorm_bwd dx", b, dx, g.tensor("dx"), tol)
    try goldenCheck("batchnorm_bwd dgamma", b, dgamma, g.tensor("dgamma"), tol)
    try goldenCheck("batchnorm_bwd dbeta", b, dbeta, g.tensor("dbeta"), tol)
  }

  @Test(arguments: goldenBackendKinds)
  func goldenBatchnormEval(kind: String) throws {
    let b = try goldenBackend(kind)
    let g = try goldenCase("batchnorm2d_eval")
    let eps = Float(try g.param("eps"))
    let x = try goldenInput(b, g.tensor("x"))
    let y = try goldenOutput(b, x.shape.dims)
    try b.batchnorm_fwd_eval(
      x: x, gamma: goldenInput(b, g.tensor("gamma")), beta: goldenInput(b, g.tensor("beta")),
      runningMean: goldenInput(b, g.tensor("running_mean")),
      runningVar: goldenInput(b, g.tensor("running_var")), y: y, eps: eps)
    try goldenCheck("batchnorm_fwd_eval y", b, y, g.tensor("y"), .reduction(1))
  }

  @Test(arguments: goldenBackendKinds)
  func goldenBCEWithLogits(kind: String) throws {
    let b = try goldenBackend(kind)
    let g = try goldenCase("bce_logits")
    let logits = try goldenInput(b, g.tensor("logits"))
    let targets = try goldenInput(b, g.tensor("targets"))
    let loss = try goldenOutput(b, [1])
    try b.bce_logits_fwd(logits: logits, targets: targets, loss: loss)
    try goldenCheck("bce_logits_fwd loss", b, loss, g.tensor("loss"), .reduction(logits.count))

    let dloss = try b.makeTensor([1], values: [Float(try g.param("dloss"))])
    let dlogits = try goldenOutput(b, logits.shape.dims)
    try b.bce_logits_bwd(logits: logits, targets: targets, dloss: dloss, dlogits: dlogits)
    try goldenCheck("bce_logits_bwd dlogits", b, dlogits, g.tensor("dlogits"), .reduction(1))
  }

  @Test(arguments: goldenBackendKinds)
  func goldenAdamTwoSteps(kind: String) throws {
    let b = try goldenBackend(kind)
    let g = try goldenCase("adam")
    let hp = AdamParams(
      lr: try g.param("lr"), beta1: try g.param("beta1"), beta2: try g.param("beta2"),
      eps: try g.param("eps"), weightDecay: try g.param("weight_decay"))
    let param = try goldenInput(b, g.tensor("param0"))
    let m = try b.zeros(param.shape)
    let v = try b.zeros(param.shape)
    for step in 1...2 {
      let grad = try goldenInput(b, g.tensor("grad\(step)"))
      try b.adam_step(param: param, grad: grad, m: m, v: v, step: step, params: hp)
      try goldenCheck("adam_step \(step) param", b, param, g.tensor("param\(step)"), .adam)
      try goldenCheck("adam_step \(step) exp_avg", b, m, g.tensor("exp_avg\(step)"), .adam)
      try goldenCheck("adam_step \(step) exp_avg_sq", b, v, g.tensor("exp_avg_sq\(step)"), .adam)
    }
  }

  @Test(arguments: goldenBackendKinds)
  func goldenPoolingAndResize(kind: String) throws {
    let b = try goldenBackend(kind)
    for name in ["max_pool2d_k3s2", "max_pool2d_k3s2_ceil", "avg_pool2d_k3s1p1_exclude_pad", "avg_pool2d_k3s2p1_ceil"] {
      let g = try goldenCase(name)
      let p = Pool2dParams(
        kernel: Int(try g.param("kernel")), stride: Int(try g.param("stride")), padding: Int(try g.param("padding")),
        ceilMode: try g.param("ceil") == 1)
      let x = try goldenInput(b, g.tensor("x"))
      let dy = try goldenInput(b, g.tensor("dy"))
      let y = try goldenOutput(b, try g.tensor("y").shape)
      let dx = try goldenOutput(b, x.shape.dims)
      let window = p.kernel.h * p.kernel.w
      if name.hasPrefix("max") {
        try b.max_pool2d_fwd(x: x, y: y, params: p)
        try b.max_pool2d_bwd(x: x, dy: dy, dx: dx, params: p)
        try goldenCheck("\(name) y", b, y, g.tensor("y"), .reduction(1))
      } else {
        let include = try g.param("count_include_pad") == 1
        try b.avg_pool2d_fwd(x: x, y: y, params: p, countIncludePad: include)
        try b.avg_pool2d_bwd(dy: dy, dx: dx, params: p, countIncludePad: include)
        try goldenCheck("\(name) y", b, y, g.tensor("y"), .reduction(window))
      }
      try goldenCheck("\(name) dx", b, dx, g.tensor("dx"), .reduction(window))
    }
    let g = try goldenCase("upsample_bilinear2d")
    let x = try goldenInput(b, g.tensor("x"))
    let dy = try goldenInput(b, g.tensor("dy"))
    let y = try goldenOutput(b, try g.tensor("y").shape)
    let dx = try goldenOutput(b, x.shape.dims)
    try b.upsample_bilinear2d_fwd(x: x, y: y)
    try b.upsample_bilinear2d_bwd(dy: dy, dx: dx)
    try goldenCheck("upsample_bilinear2d y", b, y, g.tensor("y"), .reduction(4))
    try goldenCheck("upsample_bilinear2d dx", b, dx, g.tensor("dx"), .reduction(16))
  }

  @Test(arguments: goldenBackendKinds)
  func goldenSoftmaxCrossEntropy(kind: String) throws {
    let b = try goldenBackend(kind)
    let g = try goldenCase("softmax_cross_entropy")
    let logits = try goldenInput(b, g.tensor("logits"))
    let classes = logits.shape[1]
    let probabilities = try goldenOutput(b, logits.shape.dims)
    try b.softmax_fwd(logits, y: probabilities)
    try goldenCheck("softmax_fwd", b, probabilities, g.tensor("softmax"), .reduction(classes))
    let dloss = try b.makeTensor([1], values: [Float(try g.param("dloss"))])
    for kind in ["labels", "probabilities"] {
      let targets = try goldenInput(b, g.tensor("targets_\(kind)"))
      let loss = try goldenOutput(b, [1])
      try b.softmax_cross_entropy_fwd(logits: logits, targets: targets, loss: loss)
      try goldenCheck("softmax_cross_entropy_fwd (\(kind))", b, loss, g.tensor("loss_\(kind)"), .reduction(logits.count))
      let dlogits = try goldenOutput(b, logits.shape.dims)
      try b.softmax_cross_entropy_bwd(logits: logits, targets: targets, dloss: dloss, dlogits: dlogits)
      try goldenCheck("softmax_cross_entropy_bwd (\(kind))", b, dlogits, g.tensor("dlogits_\(kind)"), .reduction(classes))
    }
  }
}
