import KallimaCore
import KallimaNN

/// The networks of pix2pix and CycleGAN by the names their options use
/// (junyanz/pytorch-CycleGAN-and-pix2pix: `--netG`, `--netD`, `--n_layers_D`, `--ngf`,
/// `--ndf`, `--norm`, `--no_dropout`), checked against the image size they will see:
///
///     let g = try TranslationNetworks.generator("unet_256", height: 256, width: 256)
///     let d = try TranslationNetworks.discriminator("basic", inputChannels: 6, height: 256, width: 256)
///
/// Defaults are those of networks.py's `define_G` / `define_D` (ngf = ndf = 64, batch norm,
/// no dropout, 3 layers for "n_layers"); pix2pix trains with `dropout: true`, CycleGAN with
/// `norm: .instance`.
public enum TranslationNetworks {
  /// unet_N: a U-Net with log2(N) down-samplings (N x N has a 1x1 bottleneck).
  public static let unetDowns = ["unet_256": 8, "unet_128": 7, "unet_64": 6, "unet_32": 5]
  /// resnet_Nblocks: N residual blocks.
  public static let resnetBlocks = ["resnet_9blocks": 9, "resnet_6blocks": 6]
  public static let generatorNames = ["unet_256", "unet_128", "unet_64", "unet_32", "resnet_9blocks", "resnet_6blocks"]
  public static let discriminatorNames = ["basic", "n_layers", "pixel"]

  /// The generator `name` (one of `generatorNames`) for images of `height` x `width`.
  public static func generator(
    _ name: String, inputChannels: Int = 3, outputChannels: Int = 3, ngf: Int = 64, norm: TranslationNorm = .batch,
    dropout: Bool = false, height: Int, width: Int
  ) throws -> any TranslationNetwork {
    let network: any TranslationNetwork
    if let downs = unetDowns[name] {
      network = try UNetGenerator(
        inputChannels: inputChannels, outputChannels: outputChannels, downs: downs, ngf: ngf, norm: norm, dropout: dropout)
    } else if let blocks = resnetBlocks[name] {
      network = try ResnetGenerator(
        inputChannels: inputChannels, outputChannels: outputChannels, ngf: ngf, norm: norm, dropout: dropout,
        blocks: blocks)
    } else {
      throw KallimaError.invalidArgument(
        op: "generator", message: "unknown generator '\(name)'; choose one of \(generatorNames.joined(separator: ", "))")
    }
    try network.validate(height: height, width: width)
    return network
  }

  /// The discriminator `name` (one of `discriminatorNames`): "basic" is the 70x70 PatchGAN
  /// (3 layers), "n_layers" the PatchGAN with `layers` layers, "pixel" the 1x1 PixelGAN.
  public static func discriminator(
    _ name: String, inputChannels: Int, ndf: Int = 64, layers: Int = 3, norm: TranslationNorm = .batch, height: Int,
    width: Int
  ) throws -> any TranslationNetwork {
    let network: any TranslationNetwork
    switch name {
    case "basic": network = try NLayerDiscriminator(inputChannels: inputChannels, ndf: ndf, layers: 3, norm: norm)
    case "n_layers": network = try NLayerDiscriminator(inputChannels: inputChannels, ndf: ndf, layers: layers, norm: norm)
    case "pixel": network = try PixelDiscriminator(inputChannels: inputChannels, ndf: ndf, norm: norm)
    default:
      throw KallimaError.invalidArgument(
        op: "discriminator",
        message: "unknown discriminator '\(name)'; choose one of \(discriminatorNames.joined(separator: ", "))")
    }
    try network.validate(height: height, width: width)
    return network
  }
}
