// The layer library is part of every GAN recipe's vocabulary: importing KallimaGAN brings it.
@_exported import KallimaNN
