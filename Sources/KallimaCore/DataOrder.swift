/// The order in which training images are visited: a different random permutation of the
/// dataset in every epoch, computed on the fly (no index buffer, nothing uploaded per step)
/// by a keyed Feistel network over the smallest power-of-four domain that holds the dataset,
/// walking the cycle until the value falls inside it (Black & Rogaway 2002). Integer
/// arithmetic only, so every backend visits the same images.
public struct DataOrder: Hashable, Sendable {
  public let seed: UInt32
  public let count: Int

  public init(seed: UInt64, count: Int) {
    self.seed = UInt32(truncatingIfNeeded: seed ^ (seed >> 32))
    self.count = count
  }

  /// Bits of each Feistel half: the domain is 4^halfBits >= count.
  public var halfBits: UInt32 {
    var b: UInt32 = 1
    while (UInt64(1) << (2 * UInt64(b))) < UInt64(count) { b += 1 }
    return b
  }

  /// 32-bit integer mix (the "lowbias32" hash).
  @inline(__always)
  public static func mix(_ x: UInt32) -> UInt32 {
    var v = x
    v ^= v >> 16
    v &*= 0x7feb_352d
    v ^= v >> 15
    v &*= 0x846c_a68b
    v ^= v >> 16
    return v
  }

  /// The permutation of epoch `epoch` applied to position `p` (< count).
  public func permute(_ p: UInt32, epoch: UInt32) -> UInt32 {
    let bits = halfBits
    let mask = (UInt32(1) << bits) &- 1
    let key = DataOrder.mix(seed ^ DataOrder.mix(epoch &+ 0x9e37_79b9))
    var x = p
    repeat {
      var left = x >> bits
      var right = x & mask
      for round in 0..<4 as Range<UInt32> {
        let f = DataOrder.mix(right ^ key ^ (round &* 0x85eb_ca6b)) & mask
        (left, right) = (right, left ^ f)
      }
      x = (left << bits) | right
    } while x >= UInt32(count)
    return x
  }

  /// Dataset index of stream item g.
  public func index(_ g: UInt64) -> Int {
    Int(permute(UInt32(g % UInt64(count)), epoch: UInt32(truncatingIfNeeded: g / UInt64(count))))
  }

  /// Whether stream item g is mirrored when flipping is on.
  public func flips(_ g: UInt64) -> Bool {
    DataOrder.mix(UInt32(truncatingIfNeeded: g) ^ DataOrder.mix(seed ^ 0x0f11_f00d ^ UInt32(truncatingIfNeeded: g >> 32))) & 1 == 1
  }
}
