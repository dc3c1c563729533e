import KallimaCPU
import KallimaCore
import KallimaEval
import Testing

@Suite("Memorisation check")
struct MemorisationTests {
  @Test("a copied and a mirrored training image are found at distance 0; others are not")
  func findsCopies() throws {
    let cl = try evalOpenCL.get()
    let (m, c, side) = (20, 1, 6)
    let d = c * side * side
    let training = (0..<(m * d)).map { Philox.uniform(stream: RandomStream(seed: 3), index: $0, low: -1, high: 1) }
    let copy = Array(training[(7 * d)..<(8 * d)])
    let mirrored = Memorisation.mirror(Array(training[(12 * d)..<(13 * d)]), width: side)
    let novel = (0..<d).map { Philox.uniform(stream: RandomStream(seed: 9), index: $0, low: -1, high: 1) }
    let matches = try Memorisation.nearest(
      samples: copy + mirrored + novel, count: 3, training: try cl.makeTensor([m, c, side, side], values: training),
      width: side, k: 3, on: cl)
    #expect(matches[0][0].index == 7 && !matches[0][0].mirrored && matches[0][0].distance < 1e-3)
    #expect(matches[1][0].index == 12 && matches[1][0].mirrored && matches[1][0].distance < 1e-3)
    #expect(matches[2][0].distance > 0.3)
    #expect(matches.allSatisfy { $0.count == 3 && zip($0, $0.dropFirst()).allSatisfy { $0.distance <= $1.distance } })
  }
}
