/// Philox4x32-10, the counter-based generator of Salmon et al., "Parallel random numbers:
/// as easy as 1, 2, 3" (SC 2011), and the transforms Kallima applies to its output.
///
/// Every function here is written with float additions and multiplications only, in a fixed
/// order, so the OpenCL kernels in Kernels/random.cl (compiled with FP_CONTRACT OFF) produce
/// the same bits: uniform and normal fills are bit-identical on every backend.
public enum Philox {
  static let m0: UInt32 = 0xD251_1F53
  static let m1: UInt32 = 0xCD9E_8D57
  static let w0: UInt32 = 0x9E37_79B9
  static let w1: UInt32 = 0xBB67_AE85

  /// The four 32-bit words of block `counter` under `seed`: the 128-bit counter
  /// (counter, 0) and the key (low, high word of seed).
  public static func block(seed: UInt64, counter: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
    block(
      counter: (UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32), 0, 0),
      key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
  }

  /// Philox4x32-10 on a full 128-bit counter and 64-bit key, as Random123's philox4x32(ctr, key)
  /// (its known-answer vectors are stated in these terms).
  public static func block(
    counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)
  ) -> (UInt32, UInt32, UInt32, UInt32) {
    var (c0, c1, c2, c3) = counter
    var (k0, k1) = key
    for round in 0..<10 {
      if round > 0 {
        k0 &+= w0
        k1 &+= w1
      }
      let p0 = UInt64(m0) * UInt64(c0)
      let p1 = UInt64(m1) * UInt64(c2)
      let (hi0, lo0) = (UInt32(p0 >> 32), UInt32(truncatingIfNeeded: p0))
      let (hi1, lo1) = (UInt32(p1 >> 32), UInt32(truncatingIfNeeded: p1))
      (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
    }
    return (c0, c1, c2, c3)
  }

  /// Word `i` (0...3) of a block.
  @inline(__always)
  static func word(_ b: (UInt32, UInt32, UInt32, UInt32), _ i: Int) -> UInt32 {
    switch i {
    case 0: return b.0
    case 1: return b.1
    case 2: return b.2
    default: return b.3
    }
  }

  /// Uniform in [0, 1) with 24 random bits: exact in float.
  @inline(__always)
  public static func unitOpen(_ x: UInt32) -> Float { Float(x >> 8) * 0x1p-24 }

  /// Uniform in (0, 1]: the Box–Muller radius needs log(u) finite.
  @inline(__always)
  public static func unitClosed(_ x: UInt32) -> Float { Float((x >> 8) + 1) * 0x1p-24 }

  /// Natural log for x in (0, 1] (Cephes logf polynomial; adds and multiplies only).
  public static func log(_ x: Float) -> Float {
    let bits = x.bitPattern
    var e = Int32((bits >> 23) & 0xff) - 126
    var m = Float(bitPattern: (bits & 0x007f_ffff) | 0x3f00_0000)  // x = m·2^e, m in [0.5, 1)
    if m < 0.707106781186547524 {
      e -= 1
      m = m + m - 1
    } else {
      m = m - 1
    }
    let z = m * m
    var p: Float = 7.0376836292e-2
    p = p * m - 1.1514610310e-1
    p = p * m + 1.1676998740e-1
    p = p * m - 1.2420140846e-1
    p = p * m + 1.4249322787e-1
    p = p * m - 1.6668057665e-1
    p = p * m + 2.0000714765e-1
    p = p * m - 2.4999993993e-1
    p = p * m + 3.3333331174e-1
    var y = p * m * z
    let fe = Float(e)
    y = y + -2.12194440e-4 * fe
    y = y + -0.5 * z
    var r = m + y
    r = r + 0.693359375 * fe
    return r
  }

  /// sqrt(v) for v >= 0 by three Newton steps on 1/sqrt (adds and multiplies only).
  public static func sqrt(_ v: Float) -> Float {
    var y = Float(bitPattern: 0x5f37_59df &- (v.bitPattern >> 1))
    for _ in 0..<3 { y = y * (1.5 - ((0.5 * v) * y) * y) }
    return v * y
  }

  /// (sin, cos) of 2π·u for u in [0, 1): exact quadrant split, Cephes polynomials on [0, π/4].
  public static func sinCos2Pi(_ u: Float) -> (Float, Float) {
    let t = u * 4
    let q = Int32(t)  // 0...3
    let f = t - Float(q)  // [0, 1), exact
    let flip = f > 0.5
    let a = (flip ? 1 - f : f) * 1.57079632679489662  // [0, π/4]
    let z = a * a
    var s: Float = -1.9515295891e-4
    s = s * z + 8.3321608736e-3
    s = s * z - 1.6666654611e-1
    s = s * z * a + a
    var c: Float = 2.443315711809948e-5
    c = c * z - 1.388731625493765e-3
    c = c * z + 4.166664568298827e-2
    c = c * z * z - 0.5 * z + 1
    let (sa, ca) = flip ? (c, s) : (s, c)  // sin and cos of f·π/2
    switch q {
    case 0: return (sa, ca)
    case 1: return (ca, -sa)
    case 2: return (-sa, -ca)
    default: return (-ca, sa)
    }
  }

  /// Value `i` of a uniform fill in [low, high).
  public static func uniform(stream: RandomStream, index i: Int, low: Float, high: Float) -> Float {
    let b = block(seed: stream.seed, counter: stream.counter &+ UInt64(i / 4))
    return low + (high - low) * unitOpen(word(b, i % 4))
  }

  /// Value `i` of a normal fill: Box–Muller on word pairs (0,1) and (2,3) of each block.
  public static func normal(stream: RandomStream, index i: Int, mean: Float, std: Float) -> Float {
    let b = block(seed: stream.seed, counter: stream.counter &+ UInt64(i / 4))
    let pair = (i % 4) / 2
    let u1 = unitClosed(word(b, 2 * pair))
    let u2 = unitOpen(word(b, 2 * pair + 1))
    let r = sqrt(-2 * log(u1))
    let (s, c) = sinCos2Pi(u2)
    let z = i % 2 == 0 ? r * c : r * s
    return mean + std * z
  }

  /// The kept value of an inverted-dropout mask, 1/(1 − p) in Float (0 when p = 1).
  public static func dropoutScale(p: Float) -> Float { p < 1 ? 1 / (1 - p) : 0 }

  /// Value `i` of a dropout mask: the uniform draw u of `uniform(low: 0, high: 1)` at i,
  /// kept (1/(1 − p)) when u ≥ p, else 0.
  public static func dropoutMask(stream: RandomStream, index i: Int, p: Float) -> Float {
    uniform(stream: stream, index: i, low: 0, high: 1) >= p ? dropoutScale(p: p) : 0
  }

  /// Dropout probabilities must lie in [0, 1].
  public static func checkDropout(_ op: String, p: Float) throws {
    guard p >= 0 && p <= 1 else {
      throw KallimaError.invalidArgument(op: op, message: "dropout probability must be in [0, 1], got \(p)")
    }
  }
}

extension Philox {
  /// `seed` mixed with a name (XOR with the name's 64-bit FNV-1a hash over its UTF-8 bytes):
  /// the stream of one draw of a network, so two layers (or two steps) with one seed draw
  /// different values.
  public static func seed(_ seed: UInt64, mixing name: String) -> UInt64 {
    seed ^ name.utf8.reduce(fnvOffset) { fnv($0, UInt64($1)) }
  }

  /// `seed` mixed with values (FNV-1a steps over their 32-bit patterns): a stream keyed by
  /// data, e.g. by a sampled image's latent vector.
  public static func seed(_ seed: UInt64, mixing values: ArraySlice<Float>) -> UInt64 {
    values.reduce(seed) { fnv($0, UInt64($1.bitPattern)) }
  }

  private static let fnvOffset: UInt64 = 0xCBF2_9CE4_8422_2325
  private static func fnv(_ h: UInt64, _ word: UInt64) -> UInt64 { (h ^ word) &* 0x100_0000_01B3 }
}
