import Foundation
import KallimaCore

/// Batch norm (statistics per channel over N,H,W) and instance norm (per (n, c) over H,W).
extension CPUBackend {
  /// Element `e` of channel `c` for batch norm's grouping over (n, inner).
  @inline(__always)
  func bnIndex(_ c: Int, _ e: Int, channels: Int, inner: Int) -> Int {
    ((e / inner) * channels + c) * inner + e % inner
  }

  /// (mean, biased variance) of group `c`.
  func bnStats(_ xs: [Double], c: Int, n: Int, channels: Int, inner: Int) -> (Double, Double) {
    let m = n * inner
    var mean = 0.0
    for e in 0..<m { mean += xs[bnIndex(c, e, channels: channels, inner: inner)] }
    mean /= Double(m)
    var v = 0.0
    for e in 0..<m {
      let d = xs[bnIndex(c, e, channels: channels, inner: inner)] - mean
      v += d * d
    }
    return (mean, v / Double(m))
  }

  public func batchnorm_fwd_train(
    x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, saveMean: Tensor, saveInvstd: Tensor,
    runningMean: Tensor, runningVar: Tensor, momentum: Float, eps: Float
  ) throws {
    let op = "batchnorm_fwd_train"
    let (n, ch, inner) = try ShapeCheck.batchnorm_fwd_train(
      x: x, gamma: gamma, beta: beta, y: y, saveMean: saveMean, saveInvstd: saveInvstd, runningMean: runningMean, runningVar: runningVar)
    let xs = try buf(x, op).values
    let (gs, bs) = (try buf(gamma, op).values, try buf(beta, op).values)
    let (out, sm, si) = (try buf(y, op), try buf(saveMean, op), try buf(saveInvstd, op))
    let (rm, rv) = (try buf(runningMean, op), try buf(runningVar, op))
    let m = n * inner
    let mom = Double(momentum)
    for c in 0..<ch {
      let (mean, variance) = bnStats(xs, c: c, n: n, channels: ch, inner: inner)
      let invstd = 1 / (variance + Double(eps)).squareRoot()
      for e in 0..<m {
        let i = bnIndex(c, e, channels: ch, inner: inner)
        out.values[i] = (xs[i] - mean) * invstd * gs[c] + bs[c]
      }
      sm.values[c] = mean
      si.values[c] = invstd
      guard momentum != 0 else { continue }
      rm.values[c] = (1 - mom) * rm.values[c] + mom * mean
      rv.values[c] = (1 - mom) * rv.values[c] + mom * variance * Double(m) / Double(m - 1)
    }
  }

  public func batchnorm_fwd_eval(
    x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, y: Tensor,
    eps: Float
  ) throws {
    let op = "batchnorm_fwd_eval"
    let (n, ch, inner) = try ShapeCheck.batchnorm_fwd_eval(
      x: x, gamma: gamma, beta: beta, runningMean: runningMean, runningVar: runningVar, y: y)
    let xs = try buf(x, op).values
    let (gs, bs) = (try buf(gamma, op).values, try buf(beta, op).values)
    let (rm, rv) = (try buf(runningMean, op).values, try buf(runningVar, op).values)
    let out = try buf(y, op)
    for c in 0..<ch {
      let invstd = 1 / (rv[c] + Double(eps)).squareRoot()
      for e in 0..<(n * inner) {
        let i = bnIndex(c, e, channels: ch, inner: inner)
        out.values[i] = (xs[i] - rm[c]) * invstd * gs[c] + bs[c]
      }
    }
  }

  public func batchnorm_bwd(
    dy: Tensor, x: Tensor, gamma: Tensor, saveMean: Tensor, saveInvstd: Tensor, dx: Tensor,
    dgamma: Tensor, dbeta: Tensor
  ) throws {
    let op = "batchnorm_bwd"
    let (n, ch, inner) = try ShapeCheck.batchnorm_bwd(
      dy: dy, x: x, gamma: gamma, saveMean: saveMean, saveInvstd: saveInvstd, dx: dx, dgamma: dgamma, dbeta: dbeta)
    let (xs, gs) = (try buf(x, op).values, try buf(dy, op).values)
    let gamma = try buf(gamma, op).values
    let (means, invstds) = (try buf(saveMean, op).values, try buf(saveInvstd, op).values)
    let (out, dg, db) = (try buf(dx, op), try buf(dgamma, op), try buf(dbeta, op))
    let m = n * inner
    for c in 0..<ch {
      var sumDy = 0.0
      var sumDyXhat = 0.0
      for e in 0..<m {
        let i = bnIndex(c, e, channels: ch, inner: inner)
        sumDy += gs[i]
        sumDyXhat += gs[i] * (xs[i] - means[c]) * invstds[c]
      }
      dg.values[c] = sumDyXhat
      db.values[c] = sumDy
      let k = gamma[c] * invstds[c] / Double(m)
      for e in 0..<m {
        let i = bnIndex(c, e, channels: ch, inner: inner)
        let xhat = (xs[i] - means[c]) * invstds[c]
        out.values[i] = k * (Double(m) * gs[i] - sumDy - xhat * sumDyXhat)
      }
    }
  }

  public func batchnorm_bwd_eval(
    dy: Tensor, x: Tensor, gamma: Tensor, runningMean: Tensor, runningVar: Tensor, dx: Tensor,
    dgamma: Tensor, dbeta: Tensor, eps: Float
  ) throws {
    let op = "batchnorm_bwd_eval"
    let (n, ch, inner) = try ShapeCheck.batchnorm_bwd_eval(
      dy: dy, x: x, gamma: gamma, runningMean: runningMean, runningVar: runningVar, dx: dx, dgamma: dgamma, dbeta: dbeta)
    let (xs, gs) = (try buf(x, op).values, try buf(dy, op).values)
    let gamma = try buf(gamma, op).values
    let (rm, rv) = (try buf(runningMean, op).values, try buf(runningVar, op).values)
    let (out, dg, db) = (try buf(dx, op), try buf(dgamma, op), try buf(dbeta, op))
    for c in 0..<ch {
      let invstd = 1 / (rv[c] + Double(eps)).squareRoot()
      var sumDy = 0.0
      var sumDyXhat = 0.0
      for e in 0..<(n * inner) {
        let i = bnIndex(c, e, channels: ch, inner: inner)
        sumDy += gs[i]
        sumDyXhat += gs[i] * (xs[i] - rm[c]) * invstd
        out.values[i] = gs[i] * gamma[c] * invstd
      }
      dg.values[c] = sumDyXhat
      db.values[c] = sumDy
    }
  }

  public func instancenorm_fwd(
    x: Tensor, gamma: Tensor?, beta: Tensor?, y: Tensor, saveMean: Tensor, saveInvstd: Tensor, eps: Float
  ) throws {
    let op = "instancenorm_fwd"
    let (n, ch, inner) = try ShapeCheck.instancenorm_fwd(
      x: x, gamma: gamma, beta: beta, y: y, saveMean: saveMean, saveInvstd: saveInvstd)
    let xs = try buf(x, op).values
    let gs = try gamma.map { try buf($0, op).values }
    let bs = try beta.map { try buf($0, op).values }
    let (out, sm, si) = (try buf(y, op), try buf(saveMean, op), try buf(saveInvstd, op))
    for g in 0..<(n * ch) {
      let base = g * inner
      let mean = xs[base..<(base + inner)].reduce(0, +) / Double(inner)
      let variance = xs[base..<(base + inner)].reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(inner)
      let invstd = 1 / (variance + Double(eps)).squareRoot()
      let c = g % ch
      for i in base..<(base + inner) {
        let xhat = (xs[i] - mean) * invstd
        out.values[i] = gs.map { xhat * $0[c] + bs![c] } ?? xhat
      }
      sm.values[g] = mean
      si.values[g] = invstd
    }
  }

  public func instancenorm_bwd(
    dy: Tensor, x: Tensor, gamma: Tensor?, saveMean: Tensor, saveInvstd: Tensor, dx: Tensor,
    dgamma: Tensor?, dbeta: Tensor?
  ) throws {
    let op = "instancenorm_bwd"
    let (n, ch, inner) = try ShapeCheck.instancenorm_bwd(
      dy: dy, x: x, gamma: gamma, saveMean: saveMean, saveInvstd: saveInvstd, dx: dx, dgamma: dgamma, dbeta: dbeta)
    let (xs, gs) = (try buf(x, op).values, try buf(dy, op).values)
    let gamma = try gamma.map { try buf($0, op).values }
    let (means, invstds) = (try buf(saveMean, op).values, try buf(saveInvstd, op).values)
    let out = try buf(dx, op)
    var dg = [Double](repeating: 0, count: ch)
    var db = [Double](repeating: 0, count: ch)
    for g in 0..<(n * ch) {
      let (base, c) = (g * inner, g % ch)
      var sumDy = 0.0
      var sumDyXhat = 0.0
      for i in base..<(base + inner) {
        sumDy += gs[i]
        sumDyXhat += gs[i] * (xs[i] - means[g]) * invstds[g]
      }
      dg[c] += sumDyXhat
      db[c] += sumDy
      let k = (gamma?[c] ?? 1) * invstds[g] / Double(inner)
      for i in base..<(base + inner) {
        let xhat = (xs[i] - means[g]) * invstds[g]
        out.values[i] = k * (Double(inner) * gs[i] - sumDy - xhat * sumDyXhat)
      }
    }
    if let dgamma, let dbeta {
      try store(dg, dgamma, op)
      try store(db, dbeta, op)
    }
  }
}
