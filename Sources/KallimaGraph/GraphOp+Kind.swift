/// GraphOp without its parameters, so the op set can be enumerated.
extension GraphOp {
  /// The op's name without its parameters, one per case of GraphOp: `Kind.allCases` is
  /// the op set, so a test can require a check for every op (and fail when one is added).
  public enum Kind: String, CaseIterable, Sendable {
    case input
    case parameter
    case constant
    case randomNormal = "random_normal"
    case randomUniform = "random_uniform"
    case dropoutMask = "dropout_mask"
    case detach
    case assign
    case clamp = "clamp_fwd"
    case clampBwd = "clamp_bwd"
    case mulScalar = "mul_scalar"
    case divScalar = "div_scalar"
    case reflectionPad2d = "reflection_pad2d"
    case reflectionPad2dBwd = "reflection_pad2d_bwd"
    case upsampleNearest = "upsample_nearest2d"
    case upsampleNearestBwd = "upsample_nearest2d_bwd"
    case sgdUpdate = "sgd_update"
    case rmspropUpdate = "rmsprop_update"
    case emaUpdate = "ema_update"
    case transpose01
    case allreduceMean = "allreduce_mean"
    case conv2d
    case conv2dBwdData = "conv2d_bwd_data"
    case conv2dBwdWeight = "conv2d_bwd_weight"
    case convTranspose2d = "conv_transpose2d"
    case convTranspose2dBwdData = "conv_transpose2d_bwd_data"
    case convTranspose2dBwdWeight = "conv_transpose2d_bwd_weight"
    case batchnormTrain = "batchnorm_train"
    case batchnormBwd = "batchnorm_bwd"
    case batchnormEval = "batchnorm_eval"
    case gatherImages = "gather_images"
    case mismatchRows = "mismatch_rows"
    case randomCrop = "random_crop"
    case imagePool = "image_pool"
    case maxPool2d = "max_pool2d"
    case maxPool2dBwd = "max_pool2d_bwd"
    case avgPool2d = "avg_pool2d"
    case avgPool2dBwd = "avg_pool2d_bwd"
    case upsampleBilinear = "upsample_bilinear2d"
    case upsampleBilinearBwd = "upsample_bilinear2d_bwd"
    case activation
    case activationBwd = "activation_bwd"
    case add
    case mul
    case scale
    case addChannel = "add_channel"
    case mulChannel = "mul_channel"
    case channelSum = "channel_sum"
    case channelBroadcast = "channel_broadcast"
    case matmul
    case reduceSum = "reduce_sum"
    case scalarBroadcast = "scalar_broadcast"
    case reshape
    case bceLogits = "bce_logits"
    case softmaxCrossEntropy = "softmax_cross_entropy"
    case softmaxCrossEntropyBwd = "softmax_cross_entropy_bwd"
    case softmax
    case bceLogitsBwd = "bce_logits_bwd"
    case mse
    case mseBwd = "mse_bwd"
    case l1
    case l1Bwd = "l1_bwd"
    case concat
    case slice
    case channelPad = "channel_pad"
    case adamUpdate = "adam_update"
    case accumulate
    case batchnormEvalBwd = "batchnorm_eval_bwd"
    case instanceNorm = "instance_norm"
    case instanceNormBwd = "instance_norm_bwd"
    case maxPool2dGather = "max_pool2d_gather"
  }

  /// The op's kind. The switch is exhaustive: a new GraphOp case does not compile until it
  /// has a Kind (and then AutodiffRuleTests fails until it has a gradient check).
  public var kind: Kind {
    switch self {
    case .input: return .input
    case .parameter: return .parameter
    case .constant: return .constant
    case .randomNormal: return .randomNormal
    case .randomUniform: return .randomUniform
    case .dropoutMask: return .dropoutMask
    case .detach: return .detach
    case .assign: return .assign
    case .clamp: return .clamp
    case .clampBwd: return .clampBwd
    case .mulScalar: return .mulScalar
    case .divScalar: return .divScalar
    case .reflectionPad2d: return .reflectionPad2d
    case .reflectionPad2dBwd: return .reflectionPad2dBwd
    case .upsampleNearest: return .upsampleNearest
    case .upsampleNearestBwd: return .upsampleNearestBwd
    case .sgdUpdate: return .sgdUpdate
    case .rmspropUpdate: return .rmspropUpdate
    case .emaUpdate: return .emaUpdate
    case .transpose01: return .transpose01
    case .allreduceMean: return .allreduceMean
    case .conv2d: return .conv2d
    case .conv2dBwdData: return .conv2dBwdData
    case .conv2dBwdWeight: return .conv2dBwdWeight
    case .convTranspose2d: return .convTranspose2d
    case .convTranspose2dBwdData: return .convTranspose2dBwdData
    case .convTranspose2dBwdWeight: return .convTranspose2dBwdWeight
    case .batchnormTrain: return .batchnormTrain
    case .batchnormBwd: return .batchnormBwd
    case .batchnormEval: return .batchnormEval
    case .gatherImages: return .gatherImages
    case .mismatchRows: return .mismatchRows
    case .randomCrop: return .randomCrop
    case .imagePool: return .imagePool
    case .maxPool2d: return .maxPool2d
    case .maxPool2dBwd: return .maxPool2dBwd
    case .avgPool2d: return .avgPool2d
    case .avgPool2dBwd: return .avgPool2dBwd
    case .upsampleBilinear: return .upsampleBilinear
    case .upsampleBilinearBwd: return .upsampleBilinearBwd
    case .activation: return .activation
    case .activationBwd: return .activationBwd
    case .add: return .add
    case .mul: return .mul
    case .scale: return .scale
    case .addChannel: return .addChannel
    case .mulChannel: return .mulChannel
    case .channelSum: return .channelSum
    case .channelBroadcast: return .channelBroadcast
    case .matmul: return .matmul
    case .reduceSum: return .reduceSum
    case .scalarBroadcast: return .scalarBroadcast
    case .reshape: return .reshape
    case .bceLogits: return .bceLogits
    case .softmaxCrossEntropy: return .softmaxCrossEntropy
    case .softmaxCrossEntropyBwd: return .softmaxCrossEntropyBwd
    case .softmax: return .softmax
    case .bceLogitsBwd: return .bceLogitsBwd
    case .mse: return .mse
    case .mseBwd: return .mseBwd
    case .l1: return .l1
    case .l1Bwd: return .l1Bwd
    case .concat: return .concat
    case .slice: return .slice
    case .channelPad: return .channelPad
    case .adamUpdate: return .adamUpdate
    case .accumulate: return .accumulate
    case .batchnormEvalBwd: return .batchnormEvalBwd
    case .instanceNorm: return .instanceNorm
    case .instanceNormBwd: return .instanceNormBwd
    case .maxPool2dGather: return .maxPool2dGather
    }
  }
}
