import KallimaCore
import KallimaGraph
import KallimaNN

/// A GAN objective (SPEC §2; Lucic et al. 2018's table): how the D loss and the G loss are
/// built from D's outputs, with the device-side state and post-update effects it needs.
/// A value, not a subclass of the trainer: the trainer builds whichever it is given.
///
/// Conventions (all means over the batch; D(·) is the raw score, a logit for the logistic
/// losses; σ the sigmoid):
/// - `.nonSaturating` (NS, Goodfellow et al. 2014): D: BCE(D(x), 1) + BCE(D(G(z)), 0); G: BCE(D(G(z)), 1).
/// - `.minimax` (MM): D as NS; G: −BCE(D(G(z)), 0) = E[log(1 − σ(D(G(z))))].
/// - `.wgan(clip:)` (Arjovsky et al. 2017): D: −E[D(x)] + E[D(G(z))]; G: −E[D(G(z))]; after
///   each D update every trainable D parameter is clamped to [−clip, clip] (as the reference
///   code's `p.data.clamp_(-c, c)`, batch-norm scale and shift included).
/// - `.wganGP(lambda:)` (Gulrajani et al. 2017): WGAN's losses + λ·E[(‖∇D(x̂)‖₂ − 1)²],
///   x̂ = α·x + (1 − α)·G(z) with α ~ U[0, 1) per sample; no clipping.
/// - `.lsgan` (Mao et al. 2017): D: E[(D(x) − 1)²] + E[D(G(z))²]; G: E[(D(G(z)) − 1)²].
/// - `.hinge` (Lim & Ye 2017; Miyato et al. 2018): D: E[relu(1 − D(x))] + E[relu(1 + D(G(z)))];
///   G: −E[D(G(z))].
/// - `.dragan(lambda:)` (Kodali et al. 2017): NS + λ·E[(‖∇D(x̃)‖₂ − 1)²]. The scheme, as in
///   the authors' reference code: x_p = x + 0.5·std(x)·u with std over the whole real batch
///   (unbiased) and u ~ U[0, 1) per element; x̃ = x + α·(x_p − x) with α ~ U[0, 1) per sample.
/// - `.began(gamma:lambdaK:initialK:)` (Berthelot et al. 2017): D is an autoencoder,
///   L(v) = E|v − D(v)|; D: L(x) − k_t·L(G(z)); G: L(G(z)); after each D update
///   k_{t+1} = clamp(k_t + λ_k·(γ·L(x) − L(G(z))), 0, 1), with the L values of that update.
///   The convergence measure M = L(x) + |γ·L(x) − L(G(z))| is logged; k_t lives on the device.
public enum Objective: Sendable, Equatable {
  case nonSaturating
  case minimax
  case wgan(clip: Float)
  case wganGP(lambda: Float)
  case lsgan
  case hinge
  case dragan(lambda: Float)
  case began(gamma: Float, lambdaK: Float, initialK: Float)

  /// The command-line names: ns, mm, wgan, wgan-gp, lsgan, hinge, dragan, began.
  public var name: String {
    switch self {
    case .nonSaturating: return "ns"
    case .minimax: return "mm"
    case .wgan: return "wgan"
    case .wganGP: return "wgan-gp"
    case .lsgan: return "lsgan"
    case .hinge: return "hinge"
    case .dragan: return "dragan"
    case .began: return "began"
    }
  }

  public static let names = ["ns", "mm", "wgan", "wgan-gp", "lsgan", "hinge", "dragan", "began"]

  /// The objective `name` with the reference defaults (SPEC §7): WGAN clip 0.01, WGAN-GP
  /// and DRAGAN λ 10, BEGAN γ 0.5, λ_k 0.001, k₀ 0. `penaltyWeight` overrides λ.
  public static func named(_ name: String, penaltyWeight: Float? = nil) throws -> Objective {
    switch name {
    case "ns": return .nonSaturating
    case "mm": return .minimax
    case "wgan": return .wgan(clip: 0.01)
    case "wgan-gp": return .wganGP(lambda: penaltyWeight ?? 10)
    case "lsgan": return .lsgan
    case "hinge": return .hinge
    case "dragan": return .dragan(lambda: penaltyWeight ?? 10)
    case "began": return .began(gamma: 0.5, lambdaK: 0.001, initialK: 0)
    default:
      throw KallimaError.invalidArgument(
        op: "objective", message: "unknown loss '\(name)'; choose one of \(names.joined(separator: ", "))")
    }
  }

  /// Whether D's output is an image to reconstruct (BEGAN) rather than a score per sample.
  public var discriminatorIsAutoencoder: Bool { if case .began = self { return true } else { return false } }

  /// Whether D(x) and D(G(z)) are reported as mean σ(D(·)) (logistic losses) rather than the
  /// mean raw score (or, for BEGAN, the reconstruction losses L(x), L(G(z))).
  public var reportsProbabilities: Bool {
    switch self {
    case .nonSaturating, .minimax, .dragan: return true
    default: return false
    }
  }

  /// Extra statistics logged beside loss_D, loss_G, D(x), D(G(z)).
  public var extraStatistics: [String] {
    switch self {
    case .wganGP, .dragan: return ["grad_norm"]
    case .began: return ["k", "M"]
    default: return []
    }
  }
}

/// A regulariser added to D's loss whatever the objective.
public enum Regularizer: Sendable, Equatable {
  /// R1 (Mescheder et al. 2018): γ/2·E[‖∇ₓD(x)‖²] on real data, through the same D(x)
  /// forward as the loss. Lazy when `every` > 1 (Karras et al. 2020): added to every
  /// `every`-th D update only, weighted by `every`.
  case r1(gamma: Float, every: Int = 1)
  /// Progressive GAN's drift term (Karras et al. 2018, §A.1): ε·E[D(x)²] on real data,
  /// which keeps a WGAN critic's scores from drifting far from zero (ε = 0.001 there).
  case drift(epsilon: Float)

  /// D updates between two that carry the penalty.
  public var every: Int {
    switch self {
    case .r1(_, let every): return every
    case .drift: return 1
    }
  }

  /// The statistic the regulariser logs beside the losses, if any.
  public var statistic: String? {
    switch self {
    case .r1: return "r1_grad_norm"
    case .drift: return nil
    }
  }
}
