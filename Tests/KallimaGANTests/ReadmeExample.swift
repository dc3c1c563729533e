// The README's "Layers and recipes" example, as a user's package would write it: this file
// imports only what the README does, so it proves that is enough (RecipeTests trains it).
import KallimaGAN
import KallimaOpenCL

struct Block: Layer {  // a layer of your own, in your own package
  var channels: Int
  func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let h = try Sequential {
      Conv2d(channels, channels, kernelSize: 3, padding: 1)
      LeakyReLU(0.2)
      Conv2d(channels, channels, kernelSize: 3, padding: 1)
    }(x, in: scope, named: "body")  // parameters "….body.0.weight"
    return try scope.add(x, h)
  }
}

/// The README's G and D (8x8 gray images) with `objective`, and its optimisers, EMA and
/// spectral norm.
func userRecipe(_ objective: Objective) -> GANRecipe {
  let g = Sequential {
    ConvTranspose2d(16, 8, kernelSize: 4)  // z [N, 16, 1, 1] -> [N, 8, 4, 4]
    GroupNorm(groups: 2, channels: 8); ReLU()
    UpsampleNearest(scale: 2)
    Block(channels: 8)
    ReflectionPad2d(1); Conv2d(8, 1, kernelSize: 3); Tanh()
  }.named("net")  // "net.0.weight", "net.1.weight", …
  let d = Sequential {
    Conv2d(1, 8, kernelSize: 4, stride: 2, padding: 1); LeakyReLU(0.2)
    Block(channels: 8); Flatten(); Linear(8 * 4 * 4, 1)
  }.named("net")
  return GANRecipe(
    generator: g, discriminator: d, latentShape: [16, 1, 1], imageShape: [1, 8, 8],
    objective: objective, optimizerD: .adam(AdamParams(lr: 4e-4, beta1: 0, beta2: 0.9)),
    optimizerG: .adam(AdamParams(lr: 1e-4, beta1: 0, beta2: 0.9)),
    ema: EMAConfig(beta: 0.999), spectralNorm: true)
}

/// The README's last line.
func userTrainer(_ objective: Objective, batch: Int) throws -> GANTrainer {
  try GANTrainer(backend: try OpenCLBackend(), recipe: userRecipe(objective), batch: batch)
}
