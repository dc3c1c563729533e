import KallimaNN

/// pix2pix/CycleGAN's `init_weights(net, 'normal', gain=0.02)`: every conv and
/// conv-transpose weight N(0, 0.02), every bias 0.
enum Pix2PixInit {
  static let weight = ParameterInit.normal(mean: 0, std: 0.02)
  static let bias = ParameterInit.constant(0)

  static func conv(_ i: Int, _ o: Int, _ k: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) -> Conv2d {
    Conv2d(i, o, kernelSize: k, stride: stride, padding: padding, bias: bias, weightInit: weight, biasInit: Pix2PixInit.bias)
  }

  static func convTranspose(
    _ i: Int, _ o: Int, _ k: Int, stride: Int, padding: Int, outputPadding: Int = 0, bias: Bool = true
  ) -> ConvTranspose2d {
    ConvTranspose2d(
      i, o, kernelSize: k, stride: stride, padding: padding, outputPadding: outputPadding, bias: bias, weightInit: weight,
      biasInit: Pix2PixInit.bias)
  }
}
