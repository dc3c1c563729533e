import Foundation
import KallimaCore
import KallimaEval
import Testing

// L1, PSNR and SSIM against scikit-image 0.26.0 (Fixtures/image_fidelity.json, written by
// Scripts/make_image_fidelity_fixtures.py): three image pairs [3, 16, 20] in [−1, 1]. Both
// sides compute in float64 from the same float32 inputs; tolerance 1e-12 absolute on L1 and
// SSIM and 1e-10 dB on PSNR (measured worst: 0, 5.6e-16 and 1.4e-14 dB, printed).

private struct FidelityFixture: Decodable {
  let shape: [Int]
  let a: [Float]
  let b: [Float]
  let l1: [Double]
  let psnr: [Double]
  let ssim: [Double]
}

@Suite("Image fidelity (L1, PSNR, SSIM)")
struct ImageFidelityTests {
  @Test("values equal scikit-image's (structural_similarity with Gaussian weights, peak_signal_noise_ratio)")
  func againstSkimage() throws {
    let url = try #require(Bundle.module.url(forResource: "image_fidelity", withExtension: "json", subdirectory: "Fixtures"))
    let f = try JSONDecoder().decode(FidelityFixture.self, from: Data(contentsOf: url))
    let scores = try ImageFidelity.scores(f.a, f.b, shape: Shape(f.shape))
    func worst(_ a: [Double], _ e: [Double]) -> Double { zip(a, e).map { abs($0 - $1) }.max() ?? .infinity }
    let (l1, psnr, ssim) = (worst(scores.l1, f.l1), worst(scores.psnr, f.psnr), worst(scores.ssim, f.ssim))
    #expect(scores.l1.count == 3 && l1 <= 1e-12, "L1 \(scores.l1) vs \(f.l1)")
    #expect(scores.psnr.count == 3 && psnr <= 1e-10, "PSNR \(scores.psnr) vs \(f.psnr)")
    #expect(scores.ssim.count == 3 && ssim <= 1e-12, "SSIM \(scores.ssim) vs \(f.ssim)")
    #expect(try ImageFidelity.ssim(f.a, f.b, shape: Shape(f.shape)) == scores.ssim)
    #expect(try ImageFidelity.psnr(f.a, f.b, shape: Shape(f.shape)) == scores.psnr)
    #expect(try ImageFidelity.l1(f.a, f.b, shape: Shape(f.shape)) == scores.l1)
    #expect(abs(scores.meanSSIM - f.ssim.reduce(0, +) / 3) <= 1e-12)
    print("image fidelity vs scikit-image: worst |error| L1 \(l1), PSNR \(psnr) dB, SSIM \(ssim)")
  }

  @Test("identical images: L1 0, PSNR +∞, SSIM 1; a shift changes them")
  func identical() throws {
    let shape: Shape = [2, 3, 12, 13]
    let a = (0..<shape.count).map { Float(sin(0.3 * Double($0))) }
    let same = try ImageFidelity.scores(a, a, shape: shape)
    #expect(same.l1 == [0, 0] && same.psnr == [.infinity, .infinity] && same.meanPSNR == .infinity)
    #expect(same.ssim.allSatisfy { abs($0 - 1) < 1e-12 }, "\(same.ssim)")
    let b = a.map { $0 * 0.5 }
    let other = try ImageFidelity.scores(a, b, shape: shape)
    #expect(other.l1.allSatisfy { $0 > 0 } && other.psnr.allSatisfy(\.isFinite) && other.ssim.allSatisfy { $0 < 1 })
    // L1 on [0, 1] is half the mean |a − b| on [−1, 1].
    let direct = zip(a.prefix(shape.count / 2), b).map { Double(abs($0 - $1)) }.reduce(0, +) / Double(shape.count / 2)
    #expect(abs(other.l1[0] - direct / 2) < 1e-12)
  }

  @Test("bad input: mismatched sizes, a non-batch shape, images smaller than the SSIM window")
  func badInput() throws {
    #expect(throws: KallimaError.self) { try ImageFidelity.scores([0, 0], [0], shape: [1, 1, 1, 2]) }
    #expect(throws: KallimaError.self) { try ImageFidelity.l1([0, 0], [0, 0], shape: [2]) }
    do {
      _ = try ImageFidelity.ssim([Float](repeating: 0, count: 100), [Float](repeating: 0, count: 100), shape: [1, 1, 10, 10])
      Issue.record("a 10x10 image must be rejected by SSIM")
    } catch { #expect("\(error)".contains("at least 11x11"), "\(error)") }
  }

  @Test("sharpness: the mean neighbour difference; 0 for a flat image, exact on a small one, lower after a blur")
  func sharpness() throws {
    // One 1x2x3 image on [0, 1]: rows (0, 1, 0) and (1, 1, 1): horizontal |1-0|, |0-1|, 0, 0;
    // vertical |1-0|, 0, |1-0|: 4 of 7 pairs differ by 1.
    let unit: [Double] = [0, 1, 0, 1, 1, 1]
    let s = try ImageFidelity.sharpness(unit.map { Float($0 * 2 - 1) }, shape: [1, 1, 2, 3])
    #expect(abs(s[0] - 4.0 / 7.0) < 1e-12, "\(s)")
    #expect(try ImageFidelity.sharpness([Float](repeating: 0.3, count: 16), shape: [1, 1, 4, 4]) == [0])
    // A checkerboard and its 3-tap horizontal box blur.
    let side = 16
    let board = (0..<(side * side)).map { Float(((($0 / side) + ($0 % side)) % 2) * 2 - 1) }
    let blurred = (0..<(side * side)).map { i -> Float in
      let (y, x) = (i / side, i % side)
      let taps = [max(0, x - 1), x, min(side - 1, x + 1)].map { board[y * side + $0] }
      return taps.reduce(0, +) / 3
    }
    let (sharp, soft) = (try ImageFidelity.sharpness(board, shape: [1, 1, side, side])[0], try ImageFidelity.sharpness(blurred, shape: [1, 1, side, side])[0])
    #expect(sharp == 1 && soft < 0.5 * sharp, "board \(sharp), blurred \(soft)")
  }
}
