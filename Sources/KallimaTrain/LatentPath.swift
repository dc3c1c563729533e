import Foundation
/// Paths between latent vectors, for interpolation strips.
public enum LatentPath {
  /// (1 − t)·a + t·b.
  public static func lerp(_ a: [Float], _ b: [Float], _ t: Float) -> [Float] {
    zip(a, b).map { (1 - t) * $0 + t * $1 }
  }

  /// Spherical interpolation (Shoemake 1985; for GAN latents, White 2016, "Sampling Generative
  /// Networks"): follows the great circle between a and b, so every point keeps a norm
  /// typical of N(0, I) samples. Falls back to lerp for (anti)parallel vectors.
  public static func slerp(_ a: [Float], _ b: [Float], _ t: Float) -> [Float] {
    let na = a.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    let nb = b.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    guard na > 0, nb > 0 else { return lerp(a, b, t) }
    let cosine = max(-1, min(1, zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } / (na * nb)))
    let omega = cosine.magnitude > 0.9995 ? 0 : Foundation.acos(cosine)
    guard omega > 1e-6 else { return lerp(a, b, t) }
    let s = Foundation.sin(omega)
    let wa = Foundation.sin((1 - Double(t)) * omega) / s
    let wb = Foundation.sin(Double(t) * omega) / s
    return zip(a, b).map { Float(wa * Double($0) + wb * Double($1)) }
  }
}
