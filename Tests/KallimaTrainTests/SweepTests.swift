import Foundation
import KallimaCore
import KallimaGAN
import KallimaOpenCL
import KallimaTrain
import Testing

@Suite("Sweeps")
struct SweepTests {
  @Test("recipes × seeds: one run folder each, one shared classifier, a mean ± std table and JSON")
  func smallSweep() throws {
    let folder = try TemporaryFolder()
    var base = try tinyOptions(folder, steps: 4)
    var labels: [UInt8] = [0, 0, 8, 1] + withUnsafeBytes(of: UInt32(40).bigEndian) { Array($0) }
    labels += (0..<40).map { UInt8($0 % 4) }
    try Data(labels).write(to: URL(fileURLWithPath: folder.path("labels-idx1-ubyte")))
    (base.evalSamples, base.classifierSteps) = (20, 10)
    base.out = folder.path("sweep")
    let sweep = try Sweep(recipes: ["ns", "hinge+sn"], seeds: [0, 1], base: base, backend: try trainOpenCL.get())
    var notes: [String] = []
    let results = try sweep.run { notes.append($0) }
    #expect(results.map(\.recipe) == ["ns", "ns", "hinge+sn", "hinge+sn"])
    #expect(results.allSatisfy { $0.steps == 4 && $0.classes == 4 && $0.kl != nil && $0.lossD.isFinite })
    #expect(notes.filter { $0.contains("trained") }.count == 1, "the classifier is trained once: \(notes)")
    for r in results {
      #expect(FileManager.default.fileExists(atPath: folder.path("sweep/\(r.recipe)/seed_\(r.seed)/checkpoints/latest.safetensors")))
    }
    let table = try String(contentsOfFile: folder.path("sweep/table.md"), encoding: .utf8)
    #expect(table.split(separator: "\n").count == 4 && table.contains("| hinge+sn | 2 | 4 |") && table.contains("±"), "\(table)")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.path("sweep/results.json"))))
    #expect((json as? [Any])?.count == 4)
    #expect(throws: KallimaError.self) { try Sweep.recipe("hinge+bogus") }
    #expect(throws: KallimaError.self) { try Sweep.recipe("wasserstein") }
  }
}
