/// The name of every computing entry point of `Backend` — the protocol's own and the
/// composites built on them (Backend+Composite.swift) — without the memory and transfer
/// calls (makeBuffer, write, read, synchronize). The OpenCL-vs-CPU parity catalogue must
/// hold a case for each (a test fails otherwise), and a test reads Backend.swift and
/// Backend+Composite.swift to keep this list equal to their functions.
public enum BackendOp: String, CaseIterable, Sendable {
  case fill
  case conv2d_fwd, conv2d_bwd_data, conv2d_bwd_weight
  case conv_transpose2d_fwd, conv_transpose2d_bwd_data, conv_transpose2d_bwd_weight
  case batchnorm_fwd_train, batchnorm_fwd_eval, batchnorm_bwd, batchnorm_bwd_eval
  case instancenorm_fwd, instancenorm_bwd
  case max_pool2d_fwd, max_pool2d_bwd, avg_pool2d_fwd, avg_pool2d_bwd
  case upsample_bilinear2d_fwd, upsample_bilinear2d_bwd, upsample_nearest2d_fwd, upsample_nearest2d_bwd
  case reflection_pad2d_fwd, reflection_pad2d_bwd
  case activation_fwd, activation_bwd
  case add, mul, scale, mul_scalar, div_scalar, clamp_fwd, clamp_bwd, add_channel, mul_channel
  case copy_channels, transpose01
  case matmul
  case reduce_sum, channel_sum
  case bce_logits_fwd, bce_logits_bwd, softmax_cross_entropy_fwd, softmax_cross_entropy_bwd, softmax_fwd
  case mse_fwd, mse_bwd, l1_fwd, l1_bwd
  case adam_step, sgd_step, rmsprop_step, ema_update
  case gather_images, gather_images_u8, mismatch_rows, random_crop, image_pool
  case random_uniform, random_normal, dropout_mask
  case max_pool2d_gather
  // Composites (Backend+Composite.swift).
  case linear_fwd, linear_bwd_data, linear_bwd_weight
  case concat_channels, slice_channels, slice_channels_bwd
  case reduce_mean, reduce_sum_bwd, channel_sum_bwd
}
