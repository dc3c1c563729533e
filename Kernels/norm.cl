// Batch norm (Ioffe & Szegedy 2015) and instance norm (Ulyanov et al. 2016) share these
// kernels. A "group" is the set of values normalised together: for batch norm group c holds
// x[n, c, :] for every n (count = N*inner, outer_stride = C*inner); for instance norm group
// g = n*C + c holds x[n, c, :] (count = inner). Element e of group g sits at
// (e / inner) * outer_stride + g * inner + e % inner.
#include "reduce.h"
#include "rows.h"

// Σ x over a share (reduce.h), for the statistics' first pass.
inline float span_sum(__global const float* x, span_t sp, const int inner, const int outer_stride) {
  float acc = 0.0f;
  int at;
  for (int n; (n = span_next(&sp, inner, outer_stride, &at)) > 0;) acc += run_sum(x + at, n);
  return acc;
}

// Σ (x - mu)² over a share, the second pass (the values come back from cache).
inline float span_sq_dev(__global const float* x, span_t sp, const int inner, const int outer_stride,
                         const float mu) {
  float acc = 0.0f;
  int at;
  for (int n; (n = span_next(&sp, inner, outer_stride, &at)) > 0;) acc += run_sq_dev(x + at, n, mu);
  return acc;
}

// Statistics in the two passes of reduce.h. Pass 1, one work-group per (group, split): the
// split's mean and M2 = Σ (x - mean)², two passes over the split, so no sum of squares
// cancels.
__kernel void norm_stats_partials(__global const float* x, __global float* part_mean,
                                  __global float* part_m2, const int count, const int chunk,
                                  const int splits, const int inner, const int outer_stride) {
  __local float scratch[REDUCE_WG];
  const int gid = get_group_id(0);
  const int s = gid % splits;
  const span_t share = item_span(gid / splits, s, count, chunk, inner, outer_stride);
  const float mu = group_sum(span_sum(x, share, inner, outer_stride), scratch) / split_length(s, count, chunk);
  const float m2 = group_sum(span_sq_dev(x, share, inner, outer_stride, mu), scratch);
  if (get_local_id(0) == 0) {
    part_mean[gid] = mu;
    part_m2[gid] = m2;
  }
}

// Pass 1 for many short groups (instance norm's H*W values): one work-item per whole group,
// written as a single split, so norm_stats_finish completes it as usual.
__kernel void norm_stats_rows(__global const float* x, __global float* part_mean,
                              __global float* part_m2, const int groups, const int count,
                              const int inner, const int outer_stride) {
  const int g = get_global_id(0);
  if (g >= groups) return;
  const span_t row = row_span(g, count, inner);
  const float mu = span_sum(x, row, inner, outer_stride) / count;
  part_mean[g] = mu;
  part_m2[g] = span_sq_dev(x, row, inner, outer_stride, mu);
}

// Pass 2, one work-item per group: the splits' (mean, M2) combined in split order with the
// pairwise update of Chan, Golub & LeVeque (1979), then mean and 1/sqrt(biased var + eps).
// With update_running, also running = (1-momentum)*running + momentum*stat, the variance
// unbiased (count/(count-1)) as PyTorch does.
__kernel void norm_stats_finish(__global const float* part_mean, __global const float* part_m2,
                                __global float* mean, __global float* invstd,
                                __global float* running_mean, __global float* running_var,
                                const int groups, const int splits, const int chunk, const int count,
                                const float eps, const float momentum, const int update_running) {
  const int g = get_global_id(0);
  if (g >= groups) return;
  float n = 0.0f;
  float mu = 0.0f;
  float m2 = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float nb = split_length(s, count, chunk);
    const float total = n + nb;
    const float delta = part_mean[g * splits + s] - mu;
    mu += delta * (nb / total);
    m2 += part_m2[g * splits + s] + delta * delta * (n * nb / total);
    n = total;
  }
  const float var = m2 / count;
  mean[g] = mu;
  invstd[g] = 1.0f / sqrt(var + eps);
  if (update_running) {
    running_mean[g] = (1.0f - momentum) * running_mean[g] + momentum * mu;
    running_var[g] = (1.0f - momentum) * running_var[g] + momentum * var * count / (count - 1);
  }
}

// invstd[c] = 1/sqrt(var[c] + eps) (eval mode uses the running variance).
__kernel void norm_invstd(__global const float* var, __global float* invstd, const float eps,
                          const int n) {
  const int i = get_global_id(0);
  if (i < n) invstd[i] = 1.0f / sqrt(var[i] + eps);
}

// y = (x - mean[g]) * invstd[g] (* gamma[c] + beta[c] when gamma is not NULL), over planes
// x[p, :] of `inner` values, p = n*C + c, in row runs (rows.h): the plane's constants are
// read once per run. per_instance selects g = p (instance norm) or g = c (batch norm).
__kernel void norm_apply(__global const float* x, __global float* y, __global const float* mean,
                         __global const float* invstd, __global const float* gamma,
                         __global const float* beta, const int C, const int inner,
                         const int per_instance, const int planes) {
  const row_run r = item_run(inner);
  if (r.row >= planes) return;
  const int c = r.row % C;
  const int g = per_instance ? r.row : c;
  const float mu = mean[g];
  const float scale = gamma ? invstd[g] * gamma[c] : invstd[g];
  const float shift = gamma ? beta[c] : 0.0f;
  const int base = r.row * inner;
  int k = r.begin;
  for (; k + 8 <= r.end; k += 8) vstore8((vload8(0, x + base + k) - mu) * scale + shift, 0, y + base + k);
  for (; k < r.end; ++k) y[base + k] = (x[base + k] - mu) * scale + shift;
}

// (Σ dy, Σ dy * (x - mu)) over a share, eight lanes at a time.
inline float2 span_bwd_sums(__global const float* dy, __global const float* x, span_t sp,
                            const int inner, const int outer_stride, const float mu) {
  float a = 0.0f;
  float b = 0.0f;
  int at;
  for (int n; (n = span_next(&sp, inner, outer_stride, &at)) > 0;) {
    float8 va = 0.0f;
    float8 vb = 0.0f;
    int k = 0;
    for (; k + 8 <= n; k += 8) {
      const float8 d = vload8(0, dy + at + k);
      va += d;
      vb += d * (vload8(0, x + at + k) - mu);
    }
    for (; k < n; ++k) {
      a += dy[at + k];
      b += dy[at + k] * (x[at + k] - mu);
    }
    a += lane_sum8(va);
    b += lane_sum8(vb);
  }
  return (float2)(a, b);
}

// Backward sums, pass 1 (one work-group per (group, split)): part_dy = Σ dy and
// part_dy_xhat = Σ dy * (x - mean) * invstd over the split. Pass 2 is reduce.cl's
// sum_partials_finish, once per array.
__kernel void norm_bwd_partials(__global const float* dy, __global const float* x,
                                __global const float* mean, __global const float* invstd,
                                __global float* part_dy, __global float* part_dy_xhat,
                                const int count, const int chunk, const int splits, const int inner,
                                const int outer_stride) {
  __local float scratch[REDUCE_WG];
  const int gid = get_group_id(0);
  const int g = gid / splits;
  const span_t share = item_span(g, gid % splits, count, chunk, inner, outer_stride);
  const float2 sums = span_bwd_sums(dy, x, share, inner, outer_stride, mean[g]);
  const float sa = group_sum(sums.x, scratch);
  const float sb = group_sum(sums.y, scratch);
  if (get_local_id(0) == 0) {
    part_dy[gid] = sa;
    part_dy_xhat[gid] = sb * invstd[g];
  }
}

// The same for many short groups: one work-item per whole group, as a single split.
__kernel void norm_bwd_rows(__global const float* dy, __global const float* x,
                            __global const float* mean, __global const float* invstd,
                            __global float* part_dy, __global float* part_dy_xhat, const int groups,
                            const int count, const int inner, const int outer_stride) {
  const int g = get_global_id(0);
  if (g >= groups) return;
  const float2 sums = span_bwd_sums(dy, x, row_span(g, count, inner), inner, outer_stride, mean[g]);
  part_dy[g] = sums.x;
  part_dy_xhat[g] = sums.y * invstd[g];
}

// dx = gamma * invstd / M * (M*dy - sum_dy - xhat * sum_dy_xhat) (gamma = 1 when NULL),
// in row runs as norm_apply.
__kernel void norm_bwd_apply(__global const float* dy, __global const float* x,
                             __global const float* mean, __global const float* invstd,
                             __global const float* gamma, __global const float* sum_dy,
                             __global const float* sum_dy_xhat, __global float* dx,
                             const int C, const int inner, const int per_instance,
                             const int count, const int planes) {
  const row_run r = item_run(inner);
  if (r.row >= planes) return;
  const int c = r.row % C;
  const int g = per_instance ? r.row : c;
  const float mu = mean[g];
  const float is = invstd[g];
  const float k_scale = (gamma ? gamma[c] : 1.0f) * is / count;
  const float m = (float)count;
  const float sdy = sum_dy[g];
  const float slope = is * sum_dy_xhat[g];  // xhat * sum_dy_xhat = (x - mu) * slope
  const int base = r.row * inner;
  int k = r.begin;
  for (; k + 8 <= r.end; k += 8) {
    const float8 d = m * vload8(0, dy + base + k) - sdy - (vload8(0, x + base + k) - mu) * slope;
    vstore8(k_scale * d, 0, dx + base + k);
  }
  for (; k < r.end; ++k) dx[base + k] = k_scale * (m * dy[base + k] - sdy - (x[base + k] - mu) * slope);
}

// Instance norm affine gradients: dgamma[c] = sum_n sum_dy_xhat[n*C + c], dbeta likewise.
__kernel void norm_affine_grad(__global const float* sum_dy, __global const float* sum_dy_xhat,
                               __global float* dgamma, __global float* dbeta, const int N,
                               const int C) {
  const int c = get_global_id(0);
  if (c >= C) return;
  float a = 0.0f;
  float b = 0.0f;
  for (int n = 0; n < N; ++n) {
    a += sum_dy_xhat[n * C + c];
    b += sum_dy[n * C + c];
  }
  dgamma[c] = a;
  dbeta[c] = b;
}
