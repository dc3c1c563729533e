import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import Testing

// Three DCGAN training iterations against PyTorch in float64: Fixtures/dcgan_step.json,
// written by Scripts/make_dcgan_step_fixture.py (run by hand; the build and tests never need
// Python). It is an objective fixture (Scripts/make_objective_fixtures.py's layout and
// conventions, read and run by ObjectiveFixtureTests.swift's `runTrainingFixture`) of the
// paper's recipe on a narrow DCGAN, DCGANConfig(nz: 8, ngf: 4, ndf: 4, channels: 3,
// imageSize: 16), batch 4, Adam(lr 2e-4, betas (0.5, 0.999), eps 1e-8), BCE-with-logits,
// batch norm in train mode, that records the whole state after EVERY iteration: both
// networks' parameters and running statistics, and Adam's exp_avg and exp_avg_sq, all
// float64. Kallima runs it through `GANTrainer(config:batch:adam:noise: .input)` on the CPU
// reference backend and on OpenCL (PoCL in CI; the OpenCL case FAILS, never skips, without
// a device).
//
// Why three iterations: after Adam's first step every weight has moved by ≈ ±lr whatever
// the size of its gradient, so the first state proves only the gradients' signs. The second
// and third updates mix gradients of different steps and so depend on their sizes: the
// script's "magnitude probe" (the first D and G gradients 1% too large) moves the conv
// weights by 1.0e-6 after iteration 2 and 1.9e-6 after iteration 3 (at most 1e-8 after
// iteration 1), about 3× their tolerance below or more, and the Adam states by 1e-3 of their
// size. exp_avg and exp_avg_sq also see what the update cannot: with beta2 0.9985 instead of
// 0.999 in Kallima, every parameter still passes (bias correction cancels it) and only
// exp_avg_sq fails, by 15000× its tolerance.
//
// An element passes when |actual − expected| <= atol + rtol·|expected|. Measured worst
// |error|/allowed (the test prints it per section), CPU backend / PoCL 3.1 on a 2-core x86:
//   • parameters and running statistics: atol 2e-7, rtol 2e-6 (values up to 1.03; PyTorch's
//     own float32 run stays within 1.8e-7 of float64): 0.026 / 0.15, a margin of 6.8;
//   • exp_avg, exp_avg_sq: atol 3e-6·max|expected| over the tensor, rtol 3e-5 (torch's
//     float32 run: within 4e-7 of the tensor's max): 0.0024 / 0.077, a margin of 13;
//   • loss_D, loss_G, D(x), D(G(z)) of each iteration: atol 1e-7, rtol 1e-6:
//     0.037 / 0.065, a margin of 15.
// Every element must pass: no outliers; the fixture's seed is the one of eight whose
// results move least (6.9e-8) under gradient noise of 1e-6·max|g|, so float32 rounding
// cannot flip an Adam step.

// MARK: Fixture tensors (shared by every fixture test of this target)

/// {"shape", "dtype": "f16" | "f32" | "f64", "base64": little-endian bytes, row-major}.
struct StepTensor: Decodable {
  let shape: [Int]
  let dtype: String
  let base64: String

  var count: Int { shape.reduce(1, *) }
}

struct StepError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

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

// MARK: Tests

@Suite("Three DCGAN iterations against PyTorch (float64 references, the state after each)")
struct PyTorchStepTests {
  static let fixture = Result { try loadObjectiveFixture("dcgan_step", subdirectory: "Fixtures") }
  static let model = DCGANConfig(nz: 8, ngf: 4, ndf: 4, channels: 3, imageSize: 16)
  static let adam = AdamParams(lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8)
  static let tolerance = FixtureTolerance(state: (2e-7, 2e-6), optimizer: (3e-6, 3e-5), statistics: (1e-7, 1e-6))

  @Test("the fixture is the paper's recipe on the test DCGAN, with the state after each of three iterations")
  func fixtureDescribesTheTestedStep() throws {
    let f = try Self.fixture.get()
    let c = f.config
    let m = Self.model
    #expect((c.nz, c.ngf, c.ndf, c.channels, c.image_size) == (m.nz, m.ngf, m.ndf, m.channels, m.imageSize))
    #expect((c.objective, c.batch, c.n_critic, c.d_arch) == ("ns", 4, 1, "batchnorm"))
    for (key, o) in c.optimizer {
      let a = Self.adam
      #expect((o.kind, o.lr, o.beta1, o.beta2, o.eps) == ("adam", a.lr, a.beta1, a.beta2, a.eps), "optimizer \(key)")
    }
    #expect(c.schedule.kind == "constant" && c.ema == nil && c.spectral_norm == nil && f.final == nil)
    #expect(f.steps.count == 3)
    for (t, step) in f.steps.enumerated() {
      let sections = step.state.map { Set($0.keys) }
      #expect(sections == ["G", "D", "optimizer_G", "optimizer_D"], "iteration \(t + 1): \(sections ?? [])")
      #expect(step.statistics.d_real_sigmoid != nil && step.statistics.d_fake_sigmoid != nil)
      // Every expected value is float64, Adam's moments included (stored, not derived):
      // exp_avg and exp_avg_sq of every parameter.
      for (section, tensors) in step.state ?? [:] {
        for (name, entry) in tensors {
          guard case .tensor(let tensor) = entry else { continue }
          #expect(tensor.dtype == "f64", "iteration \(t + 1) \(section).\(name) is \(tensor.dtype)")
        }
      }
      for key in ["optimizer_G", "optimizer_D"] {
        let names = Array(step.state?[key]?.keys ?? [:].keys)
        let first = names.filter { $0.hasSuffix(".exp_avg") }.map { $0.dropLast(".exp_avg".count) }
        let second = names.filter { $0.hasSuffix(".exp_avg_sq") }.map { $0.dropLast(".exp_avg_sq".count) }
        #expect(!first.isEmpty && Set(first) == Set(second) && first.count + second.count == names.count, "\(key)")
      }
    }
  }

  @Test(
    "loss, D outputs, parameters, running statistics, exp_avg and exp_avg_sq after each of three iterations match PyTorch",
    arguments: ["cpu", "opencl"])
  func threeIterations(kind: String) throws {
    let f = try Self.fixture.get()
    let backend: Backend = kind == "cpu" ? CPUBackend() : try ganOpenCL.get()
    let trainer = try GANTrainer(
      backend: backend, config: Self.model, batch: f.config.batch, adam: Self.adam, noise: .input)
    let worst = try runTrainingFixture(f, "dcgan_step", on: trainer, tolerance: Self.tolerance)
    print("dcgan_step on \(backend.name): worst |error|/allowed: \(describeWorst(worst))")
  }
}
