/// Whole-signature checks for the normalisation ops, so every backend validates with one call
/// and throws the same messages. Each returns (N, C, inner = product of the axes after C).
extension ShapeCheck {
  public static func batchnorm_fwd_train(
    x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, saveMean: Tensor, saveInvstd: Tensor,
    runningMean: Tensor, runningVar: Tensor
  ) throws -> (n: Int, c: Int, inner: Int) {
    try batchnorm(
      "batchnorm_fwd_train", x: x, y: y,
      channelTensors: [
        ("gamma", gamma), ("beta", beta), ("saveMean", saveMean), ("saveInvstd", saveInvstd),
        ("runningMean", runningMean), ("runningVar", runningVar),
      ])
  }

  public static func batchnorm_fwd_eval(
    x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, y: Tensor
  ) throws -> (n: Int, c: Int, inner: Int) {
    try batchnorm(
      "batchnorm_fwd_eval", x: x, y: y,
      channelTensors: [("gamma", gamma), ("beta", beta), ("runningMean", runningMean), ("runningVar", runningVar)],
      batchStatistics: false)
  }

  public static func batchnorm_bwd(
    dy: Tensor, x: Tensor, gamma: Tensor, saveMean: Tensor, saveInvstd: Tensor, dx: Tensor,
    dgamma: Tensor, dbeta: Tensor
  ) throws -> (n: Int, c: Int, inner: Int) {
    try allSame("batchnorm_bwd", [("x", x), ("dx", dx)])
    return try batchnorm(
      "batchnorm_bwd", x: x, y: dy,
      channelTensors: [
        ("gamma", gamma), ("saveMean", saveMean), ("saveInvstd", saveInvstd), ("dgamma", dgamma), ("dbeta", dbeta),
      ])
  }

  public static func batchnorm_bwd_eval(
    dy: Tensor, x: Tensor, gamma: Tensor, runningMean: Tensor, runningVar: Tensor, dx: Tensor,
    dgamma: Tensor, dbeta: Tensor
  ) throws -> (n: Int, c: Int, inner: Int) {
    try allSame("batchnorm_bwd_eval", [("x", x), ("dx", dx)])
    return try batchnorm(
      "batchnorm_bwd_eval", x: x, y: dy,
      channelTensors: [
        ("gamma", gamma), ("runningMean", runningMean), ("runningVar", runningVar), ("dgamma", dgamma),
        ("dbeta", dbeta),
      ], batchStatistics: false)
  }

  public static func instancenorm_fwd(
    x: Tensor, gamma: Tensor?, beta: Tensor?, y: Tensor, saveMean: Tensor, saveInvstd: Tensor
  ) throws -> (n: Int, c: Int, inner: Int) {
    let op = "instancenorm_fwd"
    try expect(op, (gamma == nil) == (beta == nil), "gamma and beta come together")
    return try instancenorm(
      op, x: x, y: y, stats: [("saveMean", saveMean), ("saveInvstd", saveInvstd)],
      affine: [("gamma", gamma), ("beta", beta)])
  }

  public static func instancenorm_bwd(
    dy: Tensor, x: Tensor, gamma: Tensor?, saveMean: Tensor, saveInvstd: Tensor, dx: Tensor,
    dgamma: Tensor?, dbeta: Tensor?
  ) throws -> (n: Int, c: Int, inner: Int) {
    let op = "instancenorm_bwd"
    try expect(
      op, (gamma == nil) == (dgamma == nil) && (dgamma == nil) == (dbeta == nil),
      "gamma, dgamma and dbeta come together")
    try allSame(op, [("x", x), ("dx", dx)])
    return try instancenorm(
      op, x: x, y: dy, stats: [("saveMean", saveMean), ("saveInvstd", saveInvstd)],
      affine: [("gamma", gamma), ("dgamma", dgamma), ("dbeta", dbeta)])
  }
}
