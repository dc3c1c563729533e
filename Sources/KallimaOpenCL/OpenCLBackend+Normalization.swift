import KallimaCore

/// Batch and instance norm on the shared kernels of Kernels/norm.cl.
extension OpenCLBackend {
  /// Workspace slots for per-group temporaries (sums, eval-mode invstd).
  static let normSlotA = 2
  static let normSlotB = 3

  public func batchnorm_fwd_train(
    x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, saveMean: Tensor, saveInvstd: Tensor,
    runningMean: Tensor, runningVar: Tensor, momentum: Float, eps: Float
  ) throws {
    let op = "batchnorm_fwd_train"
    let (n, c, inner) = try ShapeCheck.batchnorm_fwd_train(
      x: x, gamma: gamma, beta: beta, y: y, saveMean: saveMean, saveInvstd: saveInvstd, runningMean: runningMean, runningVar: runningVar)
    try locked {
      try normStatistics(
        x: mem(x, op), .batch(n: n, c: c, inner: inner), mean: mem(saveMean, op), invstd: mem(saveInvstd, op),
        running: momentum == 0 ? nil : (mem(runningMean, op), mem(runningVar, op)), eps: eps, momentum: momentum)
      try launchRowRuns(
        "norm_apply", rowLength: inner, rows: n * c,
        [
          .buffer(mem(x, op)), .buffer(mem(y, op)), .buffer(mem(saveMean, op)), .buffer(mem(saveInvstd, op)),
          .buffer(mem(gamma, op)), .buffer(mem(beta, op)), .int(c), .int(inner), .int(0), .int(n * c),
        ])
    }
  }

  /// 1/sqrt(runningVar + eps) into a workspace.
  func evalInvstd(_ runningVar: Tensor, eps: Float, _ op: String) throws -> CLBuffer {
    let invstd = try workspace(OpenCLBackend.normSlotA, count: runningVar.count)
    try launch(
      "norm_invstd", items: runningVar.count,
      [.buffer(mem(runningVar, op)), .buffer(invstd), .float(eps), .int(runningVar.count)])
    return invstd
  }

  public func batchnorm_fwd_eval(
    x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, y: Tensor, eps: Float
  ) throws {
    let op = "batchnorm_fwd_eval"
    let (n, c, inner) = try ShapeCheck.batchnorm_fwd_eval(
      x: x, gamma: gamma, beta: beta, runningMean: runningMean, runningVar: runningVar, y: y)
    try locked {
      let invstd = try evalInvstd(runningVar, eps: eps, op)
      try launchRowRuns(
        "norm_apply", rowLength: inner, rows: n * c,
        [
          .buffer(mem(x, op)), .buffer(mem(y, op)), .buffer(mem(runningMean, op)), .buffer(invstd),
          .buffer(mem(gamma, op)), .buffer(mem(beta, op)), .int(c), .int(inner), .int(0), .int(n * c),
        ])
    }
  }

  public func batchnorm_bwd(
    dy: Tensor, x: Tensor, gamma: Tensor, saveMean: Tensor, saveInvstd: Tensor, dx: Tensor,
    dgamma: Tensor, dbeta: Tensor
  ) throws {
    let op = "batchnorm_bwd"
    let (n, c, inner) = try ShapeCheck.batchnorm_bwd(
      dy: dy, x: x, gamma: gamma, saveMean: saveMean, saveInvstd: saveInvstd, dx: dx, dgamma: dgamma, dbeta: dbeta)
    try locked {
      // The per-channel sums are exactly dbeta (Σdy) and dgamma (Σdy·x̂).
      try normBackwardSums(
        dy: mem(dy, op), x: mem(x, op), mean: mem(saveMean, op), invstd: mem(saveInvstd, op),
        .batch(n: n, c: c, inner: inner), sumDy: mem(dbeta, op), sumDyXhat: mem(dgamma, op))
      try launchRowRuns(
        "norm_bwd_apply", rowLength: inner, rows: n * c,
        [
          .buffer(mem(dy, op)), .buffer(mem(x, op)), .buffer(mem(saveMean, op)), .buffer(mem(saveInvstd, op)),
          .buffer(mem(gamma, op)), .buffer(mem(dbeta, op)), .buffer(mem(dgamma, op)), .buffer(mem(dx, op)),
          .int(c), .int(inner), .int(0), .int(n * inner), .int(n * c),
        ])
    }
  }

  public func batchnorm_bwd_eval(
    dy: Tensor, x: Tensor, gamma: Tensor, runningMean: Tensor, runningVar: Tensor, dx: Tensor,
    dgamma: Tensor, dbeta: Tensor, eps: Float
  ) throws {
    let op = "batchnorm_bwd_eval"
    let (n, c, inner) = try ShapeCheck.batchnorm_bwd_eval(
      dy: dy, x: x, gamma: gamma, runningMean: runningMean, runningVar: runningVar, dx: dx, dgamma: dgamma, dbeta: dbeta)
    try locked {
      let invstd = try evalInvstd(runningVar, eps: eps, op)
      try normBackwardSums(
        dy: mem(dy, op), x: mem(x, op), mean: mem(runningMean, op), invstd: invstd, .batch(n: n, c: c, inner: inner),
        sumDy: mem(dbeta, op), sumDyXhat: mem(dgamma, op))
      // dx = dy · (gamma · invstd) per channel.
      let channelScale = try workspace(OpenCLBackend.normSlotB, count: c)
      try launch("mul", items: c, [.buffer(mem(gamma, op)), .buffer(invstd), .buffer(channelScale), .int(c)])
      try launchRowRuns(
        "mul_channel_planes", rowLength: inner, rows: n * c,
        [.buffer(mem(dy, op)), .buffer(channelScale), .buffer(mem(dx, op)), .int(c), .int(inner), .int(n * c)])
    }
  }

  public func instancenorm_fwd(
    x: Tensor, gamma: Tensor?, beta: Tensor?, y: Tensor, saveMean: Tensor, saveInvstd: Tensor, eps: Float
  ) throws {
    let op = "instancenorm_fwd"
    let (n, c, inner) = try ShapeCheck.instancenorm_fwd(
      x: x, gamma: gamma, beta: beta, y: y, saveMean: saveMean, saveInvstd: saveInvstd)
    try locked {
      try normStatistics(
        x: mem(x, op), .instance(n: n, c: c, inner: inner), mean: mem(saveMean, op), invstd: mem(saveInvstd, op),
        running: nil, eps: eps, momentum: 0)
      try launchRowRuns(
        "norm_apply", rowLength: inner, rows: n * c,
        [
          .buffer(mem(x, op)), .buffer(mem(y, op)), .buffer(mem(saveMean, op)), .buffer(mem(saveInvstd, op)),
          .optional(gamma.map { try mem($0, op) }), .optional(beta.map { try mem($0, op) }), .int(c), .int(inner),
          .int(1), .int(n * c),
        ])
    }
  }

  public func instancenorm_bwd(
    dy: Tensor, x: Tensor, gamma: Tensor?, saveMean: Tensor, saveInvstd: Tensor, dx: Tensor,
    dgamma: Tensor?, dbeta: Tensor?
  ) throws {
    let op = "instancenorm_bwd"
    let (n, c, inner) = try ShapeCheck.instancenorm_bwd(
      dy: dy, x: x, gamma: gamma, saveMean: saveMean, saveInvstd: saveInvstd, dx: dx, dgamma: dgamma, dbeta: dbeta)
    try locked {
      let sumDy = try workspace(OpenCLBackend.normSlotA, count: n * c)
      let sumDyXhat = try workspace(OpenCLBackend.normSlotB, count: n * c)
      try normBackwardSums(
        dy: mem(dy, op), x: mem(x, op), mean: mem(saveMean, op), invstd: mem(saveInvstd, op),
        .instance(n: n, c: c, inner: inner), sumDy: sumDy, sumDyXhat: sumDyXhat)
      try launchRowRuns(
        "norm_bwd_apply", rowLength: inner, rows: n * c,
        [
          .buffer(mem(dy, op)), .buffer(mem(x, op)), .buffer(mem(saveMean, op)), .buffer(mem(saveInvstd, op)),
          .optional(gamma.map { try mem($0, op) }), .buffer(sumDy), .buffer(sumDyXhat), .buffer(mem(dx, op)),
          .int(c), .int(inner), .int(1), .int(inner), .int(n * c),
        ])
      if let dgamma, let dbeta {
        try launch(
          "norm_affine_grad", items: c,
          [.buffer(sumDy), .buffer(sumDyXhat), .buffer(mem(dgamma, op)), .buffer(mem(dbeta, op)), .int(n), .int(c)])
      }
    }
  }
}
