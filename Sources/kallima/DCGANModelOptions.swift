import ArgumentParser
import KallimaGAN

/// The DCGAN a command measures (`bench dcgan`, `tune`): batch, image side, width, latent
/// size and channels, with the network config they make.
struct DCGANModelOptions: ParsableArguments {
  @Option(help: "Batch size of the training step.")
  var batch = 64

  @Option(help: "Image side (32 or 64; 4·2^k in general).")
  var size = 64

  @Option(help: "Generator and discriminator width (ngf = ndf).")
  var width = 64

  @Option(help: "Latent size.")
  var nz = 100

  @Option(help: "Image channels (3: RGB; 1: the Fashion-MNIST recipe's gray).")
  var channels = 3

  func validate() throws {
    guard batch >= 2 else { throw ValidationError("--batch must be at least 2 (batch norm)") }
    guard channels >= 1 else { throw ValidationError("--channels must be at least 1") }
  }

  var config: DCGANConfig { DCGANConfig(nz: nz, ngf: width, ndf: width, channels: channels, imageSize: size) }
}
