import KallimaCore
import KallimaNN

/// The network families a recipe can name (`kallima train --arch`), sized by a
/// `DCGANConfig` (nz, widths, channels, image side).
public enum Architecture: String, CaseIterable, Sendable {
  /// Radford et al. 2015 (SPEC §1): transposed-conv G, strided-conv D.
  case dcgan
  /// SNGAN's ResNet G and D (Miyato et al. 2018), 32x32 or 64x64.
  case resnet

  public static func named(_ name: String) throws -> Architecture {
    guard let a = Architecture(rawValue: name) else {
      throw KallimaError.invalidArgument(
        op: "recipe", message: "unknown architecture '\(name)'; choose one of \(allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return a
  }

  public func generator(_ c: DCGANConfig) throws -> any Layer {
    switch self {
    case .dcgan: return try DCGAN(c).generatorNetwork
    case .resnet: return try ResNetGAN(c).generatorNetwork
    }
  }

  /// D for `c`; an autoencoder (BEGAN) where `autoencoder` is set.
  public func discriminator(_ c: DCGANConfig, autoencoder: Bool) throws -> any Layer {
    switch (self, autoencoder) {
    case (.dcgan, false): return try DCGAN(c).discriminatorNetwork
    case (.dcgan, true): return try DCGAN(c).autoencoderDiscriminatorNetwork
    case (.resnet, false): return try ResNetGAN(c).discriminatorNetwork
    case (.resnet, true):
      throw KallimaError.invalidArgument(
        op: "recipe", message: "BEGAN needs an autoencoder D; the resnet architecture has none: use --arch dcgan with --loss began")
    }
  }

  /// One sample's latent shape.
  public func latentShape(_ c: DCGANConfig) -> Shape {
    switch self {
    case .dcgan: return [c.nz, 1, 1]
    case .resnet: return [c.nz]
    }
  }
}
