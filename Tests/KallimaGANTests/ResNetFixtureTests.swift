import Foundation
import KallimaCPU
import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaOpenCL
import Testing

// SNGAN's ResNet G and D at 32x32 against PyTorch: Fixtures/resnet32.json, written by
// Scripts/make_resnet_fixture.py (float64 from exactly the stored weights and inputs).
// Checked: G(z) in train mode and G's running statistics after it, D(x), and the gradients
// of Σ r·D(x) with respect to x and every D parameter — the wiring of every block (ReLU
// placement, nearest up-sampling, average pooling before/after the shortcut conv, global sum
// pooling) and its backward. |a − e| <= atol + rtol·|e| with, on the CPU reference (Double
// arithmetic), atol 1e-9·max|e| and rtol 1e-9 (measured worst: 0.003 of it, on G(z)), except
// the running statistics: batch norm's momentum is a Float, and 0.1f differs from 0.1 by
// 1.5e-8 relative, so they get rtol 1e-7 (measured: 0.15 of it); on OpenCL (float32),
// atol 1e-4·max|e| and rtol 1e-3 (measured worst: 0.007 of it). Each ratio is printed.

private struct ResNetFixture: Decodable {
  let G: [String: StepTensor]
  let D: [String: StepTensor]
  let z: StepTensor
  let x: StepTensor
  let r: StepTensor
  let G_out: StepTensor
  let G_running: [String: StepTensor]
  let D_out: StepTensor
  let dx: StepTensor
  let dD: [String: StepTensor]
}

private func loadResNetFixture() throws -> ResNetFixture {
  guard let url = Bundle.module.url(forResource: "resnet32", withExtension: "json", subdirectory: "Fixtures") else {
    throw StepError("Fixtures/resnet32.json not found in the test bundle")
  }
  return try JSONDecoder().decode(ResNetFixture.self, from: Data(contentsOf: url))
}

private func check(_ backend: Backend, double: Bool) throws {
  let f = try loadResNetFixture()
  let model = try ResNetGAN(DCGANConfig(nz: 8, ngf: 8, ndf: 8, channels: 3, imageSize: 32))
  let g = Graph()
  let b = GraphBinder(graph: g)
  let gStore = ParameterStore(backend: backend, seed: 1)
  let dStore = ParameterStore(backend: backend, seed: 2)
  func input(_ t: StepTensor, _ name: String) throws -> Value {
    let v = g.input(Shape(t.shape), name: name)
    b.bind(v, try backend.makeTensor(Shape(t.shape), values: try stepFloats(try stepDecode(t, name), name)))
    return v
  }
  let z = try input(f.z, "z")
  let x = try input(f.x, "x")
  let r = try input(f.r, "r")
  let image = try model.generatorNetwork(z, in: Scope(binder: b, store: gStore, tag: "G"))
  let score = try model.discriminatorNetwork(x, in: Scope(binder: b, store: dStore, tag: "D"))
  let dNames = dStore.trainable.map(\.name)
  let params = b.parameters(of: dStore)
  let grads = try g.gradients(of: score, wrt: [x] + dNames.map { params[$0]! }, seed: r)
  let outputs = [image, score] + grads.map { $0! }
  for (store, tensors, label) in [(gStore, f.G, "G"), (dStore, f.D, "D")] {
    #expect(Set(store.entries.map(\.name)) == Set(tensors.keys), "\(label): names differ from PyTorch's state dict")
    for e in store.entries {
      let t = try #require(tensors[e.name])
      try backend.write(try stepFloats(try stepDecode(t, e.name), e.name), to: e.tensor)
    }
  }
  let plan = try Plan(graph: g, backend: backend, bindings: b.bindings, keep: outputs)
  try plan.run()
  let cpu = backend as? CPUBackend
  func read(_ t: Tensor) throws -> [Double] { try cpu?.readDouble(t) ?? backend.read(t).map(Double.init) }
  let (atolScale, rtol) = double ? (1e-9, 1e-9) : (1e-4, 1e-3)
  var report: [String] = []
  func compare(_ actual: [Double], _ t: StepTensor, _ label: String, rtol: Double = rtol) throws {
    let expected = try stepDecode(t, label)
    let atol = atolScale * (expected.map(abs).max() ?? 0)
    var worst = 0.0
    for (a, e) in zip(actual, expected) { worst = max(worst, abs(a - e) / (atol + rtol * abs(e))) }
    #expect(actual.count == expected.count && worst <= 1, "\(label): off by \(worst)× the tolerance on \(backend.name)")
    report.append("\(label) \(String(format: "%.2g", worst))")
  }
  try compare(try read(plan.tensor(image)), f.G_out, "G(z)")
  try compare(try read(plan.tensor(score)), f.D_out, "D(x)")
  try compare(try read(plan.tensor(grads[0]!)), f.dx, "dx")
  for (name, grad) in zip(dNames, grads.dropFirst()) { try compare(try read(plan.tensor(grad!)), f.dD[name]!, "d \(name)") }
  for (name, t) in f.G_running { try compare(try read(gStore[name]!), t, name, rtol: double ? 1e-7 : rtol) }
  print("resnet32 vs PyTorch on \(backend.name): worst |error|/allowed: \(report.joined(separator: ", "))")
}

@Suite("ResNet G and D against PyTorch")
struct ResNetFixtureTests {
  @Test("CPU reference (Double)") func cpu() throws { try check(CPUBackend(), double: true) }
  @Test("OpenCL") func openCL() throws { try check(try ganOpenCL.get(), double: false) }
}
