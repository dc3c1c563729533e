import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import Testing

// One GAN training iteration against PyTorch: Fixtures/dcgan_step.json, written by
// Scripts/make_dcgan_step_fixture.py (run by hand; the build and tests never need Python).
//
// The fixture holds the initial state of the narrow test DCGAN (nz 16, ngf 8, ndf 8, 3x32x32)
// as drawn by torch, the real batch and both latent batches, and the state after one
// iteration of Kallima's algorithm (batch 4, Adam lr 2e-4, betas (0.5, 0.999), eps 1e-8,
// BCE-with-logits, batch norm in train mode): the D step (G(zD) in train mode; D on the real
// batch, then on the detached fake; Adam on D), then the G step (G(zG); D with its updated
// weights; Adam on G). PyTorch computed it in float64 from the exact float32 input values,
// so the references carry no float32 rounding; the tolerances cover Kallima's own.
//
// Both backends run it: the CPU reference backend and an OpenCL backend (PoCL's CPU device in
// CI). If the OpenCL backend cannot be created the OpenCL case FAILS, it is not skipped.
//
// An element passes when |actual − expected| <= atol + rtol·|expected|:
//   • loss_D, loss_G, D(x), D(G(z)):                atol 1e-5, rtol 1e-4;
//   • parameters (both networks) and running stats: atol 1e-5, rtol 1e-4;
//   • Adam states exp_avg, exp_avg_sq:              atol 1e-5·max|expected| over the tensor,
//     rtol 1e-4 (their scale is that of the gradient, or its square, so a fixed atol of 1e-5
//     would not test exp_avg_sq at all).
// Every element must pass: no outliers are allowed (the fixture's smallest gradient is
// 4e-6, about 1e-5 of its tensor's largest, far from float32 rounding, so no Adam step can
// legitimately flip sign).

// MARK: Fixture

struct StepTensor: Decodable {
  let shape: [Int]
  let dtype: String
  let base64: String
  let delta_from_initial: Bool?

  var count: Int { shape.reduce(1, *) }
}

private struct StepNetwork: Decodable {
  /// Every parameter and buffer before the iteration.
  let initial: [String: StepTensor]
  /// Every parameter (as a delta from its initial value) and buffer after the iteration,
  /// and the Adam states "NAME.exp_avg" (and "NAME.exp_avg_sq" when the fixture has them).
  let final: [String: StepTensor]
}

private struct StepStatistics: Decodable {
  let lossD: Double
  let lossG: Double
  let dReal: Double
  let dFake: Double
}

private struct StepConfig: Decodable {
  let nz: Int
  let ngf: Int
  let ndf: Int
  let channels: Int
  let image_size: Int
  let batch: Int
  let lr: Double
  let beta1: Double
  let beta2: Double
  let eps: Double
  let bn_momentum: Double
  let bn_eps: Double
}

private struct StepFixture: Decodable {
  let torch_version: String
  let config: StepConfig
  let statistics: StepStatistics
  let inputs: [String: StepTensor]
  let G: StepNetwork
  let D: StepNetwork
}

struct StepError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

private func stepLoadFixture() throws -> StepFixture {
  guard
    let url = Bundle.module.url(forResource: "dcgan_step", withExtension: "json", subdirectory: "Fixtures")
  else { throw StepError("Fixtures/dcgan_step.json not found in the test bundle") }
  return try JSONDecoder().decode(StepFixture.self, from: Data(contentsOf: url))
}

private let stepFixture = Result { try stepLoadFixture() }

/// IEEE binary16 bits to Double (Float16 is not available on every platform Kallima targets).
func stepHalf(_ bits: UInt16) -> Double {
  let sign: Double = bits & 0x8000 != 0 ? -1 : 1
  let exponent = Int((bits >> 10) & 0x1F)
  let mantissa = Double(bits & 0x3FF)
  switch exponent {
  case 0: return sign * mantissa * 0x1p-24
  case 31: return mantissa == 0 ? sign * .infinity : .nan
  default: return sign * (1 + mantissa / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
  }
}

/// The tensor's values (little-endian float16, float32 or float64), exactly.
func stepDecode(_ t: StepTensor, _ label: String) throws -> [Double] {
  guard let data = Data(base64Encoded: t.base64) else { throw StepError("\(label): bad base64") }
  let bytes = [UInt8](data)
  let width: Int
  switch t.dtype {
  case "f16": width = 2
  case "f32": width = 4
  case "f64": width = 8
  default: throw StepError("\(label): unknown dtype \(t.dtype)")
  }
  guard bytes.count == t.count * width else {
    throw StepError("\(label): \(bytes.count) bytes for shape \(t.shape) of \(t.dtype)")
  }
  return (0..<t.count).map { i in
    var bits: UInt64 = 0
    for b in 0..<width { bits |= UInt64(bytes[i * width + b]) << (8 * b) }
    switch width {
    case 2: return stepHalf(UInt16(bits))
    case 4: return Double(Float(bitPattern: UInt32(bits)))
    default: return Double(bitPattern: bits)
    }
  }
}

/// An input's values as the float32 values Kallima writes; they must be exact.
func stepFloats(_ values: [Double], _ label: String) throws -> [Float] {
  let floats = values.map { Float($0) }
  guard zip(floats, values).allSatisfy({ Double($0) == $1 }) else {
    throw StepError("\(label): fixture input is not exactly representable in float32")
  }
  return floats
}

// MARK: Backends

/// The OpenCL backend of this file.
private let stepOpenCL = Result { try OpenCLBackend() }

private func stepBackend(_ kind: String) throws -> any Backend {
  switch kind {
  case "cpu": return CPUBackend()
  case "opencl": return try stepOpenCL.get()
  default: throw StepError("unknown backend kind \(kind)")
  }
}

/// Kallima's narrow test DCGAN, the one the fixture was made for.
private let stepModel = DCGANConfig(nz: 16, ngf: 8, ndf: 8, channels: 3, imageSize: 32)

// MARK: Comparison

private struct StepTolerance: CustomStringConvertible {
  let atol: Double
  let rtol: Double
  var description: String { "atol \(atol), rtol \(rtol)" }
  func allowed(_ expected: Double) -> Double { atol + rtol * abs(expected) }
}

/// Largest error and largest error/allowed ratio per category, for the summary line.
private struct StepWorst {
  var diff = 0.0
  var ratio = 0.0
  var elements = 0
  var label = ""
  mutating func add(diff d: Double, ratio r: Double, label l: String) {
    diff = max(diff, d)
    if r > ratio { (ratio, label) = (r, l) }
  }
}

/// Compares `actual` with `expected`; records one issue listing the first bad indices with
/// expected and actual values. Returns (max |diff|, max |diff|/allowed).
@discardableResult
private func stepCheck(
  _ label: String, _ actual: [Float], _ expected: [Double], _ tol: StepTolerance,
  sourceLocation: SourceLocation = #_sourceLocation
) -> (diff: Double, ratio: Double) {
  guard actual.count == expected.count else {
    Issue.record("\(label): \(actual.count) values, fixture has \(expected.count)", sourceLocation: sourceLocation)
    return (.infinity, .infinity)
  }
  var bad: [Int] = []
  var worst = 0.0
  var ratio = 0.0
  for i in actual.indices {
    let (a, r) = (Double(actual[i]), expected[i])
    let err = abs(a - r)
    let allowed = tol.allowed(r)
    worst = max(worst, err.isNaN ? .infinity : err)
    ratio = max(ratio, err.isNaN ? .infinity : err / allowed)
    if !(err <= allowed) { bad.append(i) }
  }
  if !bad.isEmpty {
    let shown = bad.prefix(8).map { i -> String in
      let (a, r) = (Double(actual[i]), expected[i])
      return "[\(i)] expected \(r) actual \(a) |diff| \(abs(a - r)) allowed \(tol.allowed(r))"
    }
    Issue.record(
      """
      \(label): \(bad.count) of \(actual.count) elements outside tolerance (\(tol)); \
      max |diff| \(worst); first bad:
      \(shown.joined(separator: "\n"))
      """,
      sourceLocation: sourceLocation)
  }
  return (worst, ratio)
}

/// The expected state of one store entry after the iteration, and its category.
private enum StepCategory: String, CaseIterable {
  case parameter = "parameters"
  case running = "running stats"
  case adam = "Adam states"
}

private func stepExpected(
  _ name: String, _ net: StepNetwork, _ key: String, _ config: StepConfig
) throws -> (values: [Double], category: StepCategory) {
  let label = "\(key) \(name)"
  if let t = net.final[name] {
    let values = try stepDecode(t, label)
    if t.delta_from_initial == true {
      guard let t0 = net.initial[name] else { throw StepError("\(label): delta without an initial value") }
      let initial = try stepDecode(t0, label + " (initial)")
      guard initial.count == values.count else { throw StepError("\(label): delta and initial sizes differ") }
      return (zip(initial, values).map { $0 + $1 }, .parameter)
    }
    if name.hasSuffix(".exp_avg") || name.hasSuffix(".exp_avg_sq") { return (values, .adam) }
    return (values, .running)
  }
  // exp_avg_sq after Adam's first step: (1 − beta2)·g² with exp_avg = (1 − beta1)·g (the
  // script asserts this on torch's state; stored only with --full).
  if name.hasSuffix(".exp_avg_sq"), let m = net.final[String(name.dropLast(3))] {
    let c = (1 - config.beta2) / ((1 - config.beta1) * (1 - config.beta1))
    return (try stepDecode(m, label).map { c * $0 * $0 }, .adam)
  }
  throw StepError("\(label): no expected value in the fixture")
}

// MARK: Tests

@Suite("One GAN iteration against PyTorch")
struct PyTorchStepTests {
  @Test func pyTorchStepFixtureLoads() throws {
    let f = try stepFixture.get()
    #expect(!f.torch_version.isEmpty)
    let c = f.config
    #expect(
      (c.nz, c.ngf, c.ndf, c.channels, c.image_size)
        == (stepModel.nz, stepModel.ngf, stepModel.ndf, stepModel.channels, stepModel.imageSize))
    #expect(Float(c.bn_momentum) == DCGAN.bnMomentum && Float(c.bn_eps) == DCGAN.bnEps)
    #expect(f.G.initial.count > 0 && f.D.initial.count > 0)
  }

  @Test("loss, D outputs, parameters, running statistics and Adam states after one iteration match PyTorch",
    arguments: ["cpu", "opencl"])
  func pyTorchStep(kind: String) throws {
    let f = try stepFixture.get()
    let backend = try stepBackend(kind)
    let c = f.config
    let adam = AdamParams(lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8)
    try #require(
      (c.batch, c.lr, c.beta1, c.beta2, c.eps) == (4, adam.lr, adam.beta1, adam.beta2, adam.eps),
      "fixture made for another batch or Adam setting")
    let trainer = try GANTrainer(backend: backend, config: stepModel, batch: c.batch, adam: adam, noise: .input)

    // Every store entry must be covered by the fixture with the same shape, and every
    // fixture name must be a store entry.
    let networks = [("G", f.G, trainer.generatorParameters), ("D", f.D, trainer.discriminatorParameters)]
    var problems: [String] = []
    for (key, net, store) in networks {
      let names = Set(store.entries.map(\.name))
      for e in store.entries {
        let isAdam = e.name.hasSuffix(".exp_avg") || e.name.hasSuffix(".exp_avg_sq")
        if isAdam {
          let base = String(e.name.prefix(upTo: e.name.range(of: ".exp_avg", options: .backwards)!.lowerBound))
          if net.initial[base] == nil { problems.append("\(key) \(e.name): Adam state of a parameter the fixture lacks") }
          if net.final[e.name] == nil && !(e.name.hasSuffix(".exp_avg_sq") && net.final[base + ".exp_avg"] != nil) {
            problems.append("\(key) \(e.name): no final value in the fixture")
          }
        } else {
          guard let t = net.initial[e.name] else {
            problems.append("\(key) \(e.name): not in the fixture's initial state")
            continue
          }
          if t.shape != e.tensor.shape.dims { problems.append("\(key) \(e.name): Kallima \(e.tensor.shape), fixture \(t.shape)") }
          if net.final[e.name] == nil { problems.append("\(key) \(e.name): no final value in the fixture") }
          if (net.final[e.name]?.delta_from_initial == true) != e.trainable {
            problems.append("\(key) \(e.name): trainable in one of Kallima and PyTorch only")
          }
        }
      }
      for name in Set(net.initial.keys).union(net.final.keys) where !names.contains(name) {
        problems.append("\(key) \(name): in the fixture, not in Kallima's store")
      }
      let trainable = store.trainable.map(\.name)
      for name in trainable where !names.contains(name + ".exp_avg") || !names.contains(name + ".exp_avg_sq") {
        problems.append("\(key) \(name): Kallima has no Adam state for it")
      }
    }
    try #require(problems.isEmpty, "\(problems.count) naming problems:\n\(problems.sorted().joined(separator: "\n"))")

    // The initial state: PyTorch's parameters and buffers, Adam states zero.
    for (key, net, store) in networks {
      for e in store.entries {
        if let t = net.initial[e.name] {
          try backend.write(try stepFloats(try stepDecode(t, "\(key) \(e.name)"), "\(key) \(e.name)"), to: e.tensor)
        } else {
          try backend.fill(e.tensor, value: 0)
        }
      }
    }
    for (name, tensor) in [("x", trainer.real), ("zD", trainer.zD!), ("zG", trainer.zG!)] {
      guard let t = f.inputs[name] else { throw StepError("input \(name) missing from the fixture") }
      try #require(t.shape == tensor.shape.dims, "input \(name): fixture \(t.shape), Kallima \(tensor.shape)")
      try backend.write(try stepFloats(try stepDecode(t, name), name), to: tensor)
    }

    try trainer.step()
    let stats = try trainer.readStatistics()
    #expect(stats.steps == 1)

    var worst = [String: StepWorst]()
    let statTol = StepTolerance(atol: 1e-5, rtol: 1e-4)
    for (name, a, r) in [
      ("loss_D", stats.lossD, f.statistics.lossD), ("loss_G", stats.lossG, f.statistics.lossG),
      ("D(x)", stats.dReal, f.statistics.dReal), ("D(G(z))", stats.dFake, f.statistics.dFake),
    ] {
      let (d, q) = stepCheck("\(backend.name) \(name)", [a], [r], statTol)
      worst["statistics", default: StepWorst()].add(diff: d, ratio: q, label: name)
      worst["statistics", default: StepWorst()].elements += 1
    }

    for (key, net, store) in networks {
      for e in store.entries {
        let (expected, category) = try stepExpected(e.name, net, key, c)
        let tol: StepTolerance
        switch category {
        case .parameter, .running: tol = StepTolerance(atol: 1e-5, rtol: 1e-4)
        case .adam: tol = StepTolerance(atol: 1e-5 * (expected.map(abs).max() ?? 0), rtol: 1e-4)
        }
        let label = "\(key) \(e.name)"
        let (d, q) = stepCheck("\(backend.name) \(label) after one iteration", try backend.read(e.tensor), expected, tol)
        worst[category.rawValue, default: StepWorst()].add(diff: d, ratio: q, label: label)
        worst[category.rawValue, default: StepWorst()].elements += e.tensor.count
      }
    }
    let summary = (["statistics"] + StepCategory.allCases.map(\.rawValue)).compactMap { k in
      worst[k].map { w in
        "\(k) (\(w.elements) values): max |diff| \(w.diff), max |diff|/allowed \(w.ratio) (\(w.label))"
      }
    }
    print("PyTorchStep \(backend.name) vs torch \(f.torch_version):\n  " + summary.joined(separator: "\n  "))
  }
}
