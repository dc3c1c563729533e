import KallimaCPU
import KallimaCore
import KallimaOpSuite
import KallimaOpenCL
import Testing

/// Every op, forward and backward, on the CPU reference and on OpenCL, over the sweep in
/// `OpCatalog.parityCases` (work-group edges, batch 1, odd channels, DCGAN geometries).
@Suite("CPU vs OpenCL parity")
struct ParityTests {
  static let cases = OpCatalog.parityCases()

  @Test("op parity", arguments: 0..<cases.count)
  func parity(index: Int) throws {
    let c = Self.cases[index]
    let cl = try sharedOpenCL.get()
    let cpu = CPUBackend()
    let initial = c.initialValues()
    let onCPU = try c.materialize(on: cpu, values: initial)
    let onCL = try c.materialize(on: cl, values: initial)
    try c.run(cpu, onCPU)
    try c.run(cl, onCL)
    // Tolerance grows with the longest reduction behind one value.
    let atol = 1e-5 * (1 + Float(c.reductionLength).squareRoot())
    for spec in c.tensors {
      let expected = try cpu.read(onCPU[spec.role]!)
      let actual = try cl.read(onCL[spec.role]!)
      if c.exact {
        expectBitIdentical(actual, expected, "\(c.name): \(spec.role)")
      } else {
        expectClose(actual, expected, atol: atol, rtol: 1e-4, "\(c.name): \(spec.role)")
      }
    }
  }

  @Test("the sweep covers every op of the op set")
  func coverage() {
    let ops = Set(Self.cases.map(\.op))
    let required = [
      "conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weight", "conv_transpose2d_fwd", "conv_transpose2d_bwd_data",
      "conv_transpose2d_bwd_weight", "batchnorm_fwd_train", "batchnorm_fwd_eval", "batchnorm_bwd",
      "batchnorm_bwd_eval", "instancenorm_fwd", "instancenorm_bwd", "activation_fwd", "activation_bwd", "add", "mul",
      "scale", "add_channel", "mul_channel", "concat_channels", "slice_channels", "slice_channels_bwd", "matmul",
      "linear_fwd", "linear_bwd_data", "linear_bwd_weight", "reduce_sum", "channel_sum", "bce_logits_fwd",
      "bce_logits_bwd", "mse_fwd", "mse_bwd", "l1_fwd", "l1_bwd", "adam_step", "sgd_step", "random_uniform",
      "random_normal", "gather_images", "gather_images_u8", "max_pool2d_fwd", "max_pool2d_bwd", "avg_pool2d_fwd", "avg_pool2d_bwd",
      "upsample_bilinear2d_fwd", "upsample_bilinear2d_bwd", "softmax_cross_entropy_fwd", "softmax_cross_entropy_bwd",
      "softmax_fwd", "mul_scalar", "div_scalar", "clamp_fwd", "clamp_bwd", "rmsprop_step", "ema_update", "dropout_mask", "transpose01",
      "reflection_pad2d_fwd", "reflection_pad2d_bwd", "upsample_nearest2d_fwd", "upsample_nearest2d_bwd",
      "max_pool2d_gather",
    ]
    #expect(Set(required).subtracting(ops).isEmpty, "ops without a parity case: \(Set(required).subtracting(ops))")
  }
}
