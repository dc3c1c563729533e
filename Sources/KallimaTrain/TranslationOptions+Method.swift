import KallimaCore
import KallimaGAN
import KallimaGraph
import KallimaNN

extension TranslationOptions {
  /// The method these options describe, for images of `channelsA` (inputs) and `channelsB`
  /// (targets, or CycleGAN's other domain) channels, and StarGAN's `labels` per row.
  public func method(channelsA: Int, channelsB: Int, labels: Int? = nil, iterationsPerEpoch: Int = 1) throws
    -> any TranslationMethod
  {
    try validate()
    let norm = try resolvedNorm
    let objective = try resolvedObjective
    let adam = Optimizer.adam(AdamParams(lr: resolvedLR, beta1: beta1, beta2: beta2))
    let schedule = schedule(iterationsPerEpoch: iterationsPerEpoch)
    func generator(_ input: Int, _ output: Int) throws -> any Layer {
      try TranslationNetworks.generator(
        resolvedNetG, inputChannels: input, outputChannels: output, ngf: ngf, norm: norm, dropout: resolvedDropout,
        height: size, width: size)
    }
    func discriminator(_ input: Int) throws -> any Layer {
      try TranslationNetworks.discriminator(
        netD, inputChannels: input, ndf: ndf, layers: nLayersD, norm: norm, height: size, width: size)
    }
    let (a, b): (Shape, Shape) = ([channelsA, size, size], [channelsB, size, size])
    switch method {
    case .pix2pix:
      return Pix2Pix(
        generator: try generator(channelsA, channelsB), discriminator: try discriminator(channelsA + channelsB), imageA: a,
        imageB: b, objective: objective, lambdaL1: lambdaL1, adversarial: adversarial, optimizer: adam, schedule: schedule)
    case .cyclegan:
      return CycleGAN(
        generatorA: try generator(channelsA, channelsB), generatorB: try generator(channelsB, channelsA),
        discriminatorA: try discriminator(channelsB), discriminatorB: try discriminator(channelsA), imageA: a, imageB: b,
        objective: objective, lambdaA: lambdaA, lambdaB: lambdaB, lambdaIdentity: lambdaIdentity, poolSize: poolSize,
        optimizer: adam, schedule: schedule)
    case .stargan:
      guard let labels else {
        throw KallimaError.invalidArgument(op: "stargan", message: "StarGAN needs a label (attribute or domain) per image")
      }
      let g = try StarGANGenerator(convDim: ngf, domains: labels, repeatNum: 6, imageChannels: channelsA)
      try g.validate(height: size, width: size)
      let d = try StarGANDiscriminator(imageSize: size, convDim: ndf, domains: labels, imageChannels: channelsA)
      return StarGAN(
        generator: g, discriminator: { x, scope in
          let out = try d(x, in: scope)
          return (out.source, out.classes)
        }, image: a, labels: labels, multiLabel: multiLabel, lambdaClass: lambdaClass,
        lambdaReconstruction: lambdaReconstruction, lambdaGP: lambdaGP, nCritic: nCritic, optimizer: adam,
        schedule: schedule)
    }
  }
}
