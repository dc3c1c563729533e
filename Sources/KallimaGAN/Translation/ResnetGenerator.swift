import KallimaCore
import KallimaGraph
import KallimaNN

/// CycleGAN's ResNet generator (Zhu et al. 2017, appendix 7.2, after Johnson et al. 2016):
/// `ResnetGenerator` of junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py), with its
/// state-dict names (`model.1.weight`, `model.10.conv_block.1.weight`, …).
///
/// Images [N, inputChannels, H, W] -> [N, outputChannels, H, W] in [−1, 1]. Sequential
/// `model` = [ReflectionPad2d(3), conv 7x7 (ngf), norm, ReLU; twice: conv 3x3 s2 p1
/// (×2 width), norm, ReLU; `blocks` ResnetBlocks at 4·ngf; twice: conv-transpose 3x3 s2 p1
/// output_padding 1 (÷2 width), norm, ReLU; ReflectionPad2d(3), conv 7x7 (with bias), tanh].
/// ResnetBlock: x + conv_block(x), conv_block = [ReflectionPad2d(1), conv 3x3, norm, ReLU,
/// (Dropout(0.5) with `dropout`), ReflectionPad2d(1), conv 3x3, norm].
/// resnet_9blocks (256x256 in the paper) and resnet_6blocks (128x128).
///
/// H and W must be multiples of 4 (two stride-2 levels; the transposed convolutions then
/// restore the size exactly) and at least 8 (the 1-pixel reflection at H/4). Convolutions
/// other than the last carry a bias only with instance norm; weights N(0, 0.02), biases 0,
/// batch-norm scales N(1, 0.02).
public struct ResnetGenerator: TranslationNetwork {
  public var inputChannels: Int
  public var outputChannels: Int
  public var ngf: Int
  public var norm: TranslationNorm
  public var dropout: Bool
  public var blocks: Int

  public init(
    inputChannels: Int = 3, outputChannels: Int = 3, ngf: Int = 64, norm: TranslationNorm = .batch,
    dropout: Bool = false, blocks: Int = 9
  ) throws {
    guard inputChannels > 0, outputChannels > 0, ngf > 0, blocks >= 0 else {
      throw KallimaError.invalidArgument(
        op: "resnet generator", message: "channels and ngf must be positive and blocks non-negative")
    }
    (self.inputChannels, self.outputChannels, self.ngf) = (inputChannels, outputChannels, ngf)
    (self.norm, self.dropout, self.blocks) = (norm, dropout, blocks)
  }

  public func validate(height: Int, width: Int) throws {
    try requireSide(height, width, multipleOf: 4, atLeast: 8, network: "resnet_\(blocks)blocks")
  }

  /// The Sequential under the attribute name `model`.
  public var network: Named<Sequential> {
    let bias = norm.convolutionBias
    return Sequential {
      ReflectionPad2d(3)
      Pix2PixInit.conv(inputChannels, ngf, 7, bias: bias)
      norm.layer(ngf)
      ReLU()
      for mult in [1, 2] {
        Pix2PixInit.conv(ngf * mult, ngf * mult * 2, 3, stride: 2, padding: 1, bias: bias)
        norm.layer(ngf * mult * 2)
        ReLU()
      }
      for _ in 0..<blocks { resnetBlock(ngf * 4) }
      for mult in [4, 2] {
        Pix2PixInit.convTranspose(ngf * mult, ngf * mult / 2, 3, stride: 2, padding: 1, outputPadding: 1, bias: bias)
        norm.layer(ngf * mult / 2)
        ReLU()
      }
      ReflectionPad2d(3)
      Pix2PixInit.conv(ngf, outputChannels, 7)
      Tanh()
    }.named("model")
  }

  /// networks.py's ResnetBlock with reflection padding.
  func resnetBlock(_ dim: Int) -> Residual {
    let bias = norm.convolutionBias
    return Residual(bodyName: "conv_block") {
      ReflectionPad2d(1)
      Pix2PixInit.conv(dim, dim, 3, bias: bias)
      norm.layer(dim)
      ReLU()
      if dropout { Dropout(0.5) }
      ReflectionPad2d(1)
      Pix2PixInit.conv(dim, dim, 3, bias: bias)
      norm.layer(dim)
    }
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    try checkInput(x, channels: inputChannels, in: scope, "resnet generator")
    return try network(x, in: scope)
  }
}
