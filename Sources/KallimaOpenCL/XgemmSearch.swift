import Foundation

/// A random search over CLBlast's Xgemm parameters (the indirect GEMM kernel, GEMMK = 0),
/// timing CLBlast on one shape with each valid set applied through
/// `CLBlastOverrideParameters`, for `kallima tune --clblast-search N`.
///
/// Each new set costs CLBlast a program compile: 20-30 s under PoCL on the 2-core AVX-512
/// Xeon, where 3 random sets ran 1.7-8.9 GFLOP/s against 20.5 for the hand-set parameters
/// and 163 for Kallima's kernel at 4096x1024x512; so it is off by default on CPUs.
public struct XgemmSearch {
  /// The values CLBlast's own tuner tries (src/tuning/kernels/xgemm.hpp), with vector
  /// widths up to 16 for AVX-512 CPUs.
  static let space: [(String, [Int])] = [
    ("MWG", [16, 32, 64, 128]), ("NWG", [16, 32, 64, 128]), ("KWG", [16, 32]),
    ("MDIMC", [8, 16, 32]), ("NDIMC", [8, 16, 32]), ("MDIMA", [8, 16, 32]), ("NDIMB", [8, 16, 32]),
    ("KWI", [2, 8]), ("VWM", [1, 2, 4, 8, 16]), ("VWN", [1, 2, 4, 8, 16]), ("STRM", [0, 1]), ("STRN", [0, 1]),
    ("SA", [0, 1]), ("SB", [0, 1]),
  ]

  /// Whether CLBlast's Xgemm compiles and runs `p` on a device with `localMemory` bytes
  /// of local memory and work-groups of up to `maxWorkGroupSize` items: the constraints
  /// of CLBlast's tuner (integer per-item tiles, KWG a multiple of KWI and of the
  /// cooperative-load heights, local memory use, work-group size).
  public static func isValid(_ p: [String: Int], localMemory: Int, maxWorkGroupSize: Int) -> Bool {
    guard let mwg = p["MWG"], let nwg = p["NWG"], let kwg = p["KWG"], let mdimc = p["MDIMC"], let ndimc = p["NDIMC"],
      let mdima = p["MDIMA"], let ndimb = p["NDIMB"], let kwi = p["KWI"], let vwm = p["VWM"], let vwn = p["VWN"],
      let sa = p["SA"], let sb = p["SB"], [mwg, nwg, kwg, mdimc, ndimc, mdima, ndimb, kwi, vwm, vwn].allSatisfy({ $0 > 0 })
    else { return false }
    let threads = mdimc * ndimc
    let localBytes = (sa * kwg * mwg / vwm + sb * kwg * nwg / vwn) * 4
    return kwg % kwi == 0
      && mwg % (mdimc * vwm) == 0 && nwg % (ndimc * vwn) == 0
      && mwg % (mdima * vwm) == 0 && nwg % (ndimb * vwn) == 0
      && threads % mdima == 0 && threads % ndimb == 0
      && kwg % (threads / mdima) == 0 && kwg % (threads / ndimb) == 0
      && localBytes <= localMemory && threads <= maxWorkGroupSize
  }

  /// Up to `count` distinct valid parameter sets for `device`, drawn with `seed` (the same
  /// seed gives the same sets).
  public static func sample(count: Int, for device: OpenCLDeviceInfo, seed: UInt64 = 1) -> [[String: Int]] {
    var state = seed
    func next() -> UInt64 {  // SplitMix64
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    var result: [[String: Int]] = []
    var attempts = 0
    while result.count < count && attempts < 100_000 {
      attempts += 1
      var p: [String: Int] = ["GEMMK": 0, "KREG": 1]
      for (name, values) in space { p[name] = values[Int(next() % UInt64(values.count))] }
      if isValid(p, localMemory: device.localMemory, maxWorkGroupSize: device.maxWorkGroupSize) && !result.contains(p) {
        result.append(p)
      }
    }
    return result
  }

  /// One timed parameter set.
  public struct Trial {
    public var parameters: [String: Int]
    /// nil when CLBlast refused or failed with it (`failure` says why).
    public var seconds: Double?
    public var failure: String?
  }

  public let backend: OpenCLBackend
  public var shape: GemmShape
  /// Seconds for the search (the trial under way when it runs out finishes).
  public var budget: Double
  public var count: Int
  public var seed: UInt64 = 1
  public var progress: (_ index: Int, _ count: Int, Trial) -> Void = { _, _, _ in }

  public init(backend: OpenCLBackend, shape: GemmShape, budget: Double, count: Int) {
    (self.backend, self.shape, self.budget, self.count) = (backend, shape, budget, count)
  }

  /// Times the parameters in effect, then each sampled set; leaves the fastest applied and
  /// returns every trial (the first is the starting point).
  @discardableResult
  public func run() throws -> [Trial] {
    let start = Date()
    let original = backend.clblastOverrides["Xgemm"]
    var trials = [Trial(parameters: original ?? [:], seconds: try backend.timeGemm(shape, .clblast, repetitions: 2))]
    progress(0, count, trials[0])
    for (index, parameters) in XgemmSearch.sample(count: count, for: backend.device, seed: seed).enumerated() {
      guard Date().timeIntervalSince(start) < budget else { break }
      var trial = Trial(parameters: parameters)
      if backend.overrideCLBlast("Xgemm", parameters) {
        do {
          trial.seconds = try backend.timeGemm(shape, .clblast, repetitions: 2)
        } catch {
          trial.failure = "\(error)"
        }
      } else {
        trial.failure = "CLBlast refused the parameters"
      }
      trials.append(trial)
      progress(index + 1, count, trial)
    }
    // Leave the fastest in effect. CLBlast's C API cannot restore its own defaults, so when
    // the search started from none (no override) and nothing beat them, the best sampled set
    // stays applied (the table records what the per-shape timings then ran with).
    let timed = trials.filter { $0.seconds != nil }
    let best = timed.min { $0.seconds! < $1.seconds! }
    if let best, !best.parameters.isEmpty {
      _ = backend.overrideCLBlast("Xgemm", best.parameters)
    } else if let bestSample = timed.dropFirst().min(by: { $0.seconds! < $1.seconds! }) {
      _ = backend.overrideCLBlast("Xgemm", bestSample.parameters)
    }
    return trials
  }
}
