// Batch norm (Ioffe & Szegedy 2015) and instance norm (Ulyanov et al. 2016) share these
// kernels. A "group" is the set of values normalised together: for batch norm group c holds
// x[n, c, :] for every n (count = N*inner, outer_stride = C*inner); for instance norm group
// g = n*C + c holds x[n, c, :] (count = inner). Element e of group g sits at
// (e / inner) * outer_stride + g * inner + e % inner.
#include "reduce.h"

inline int group_index(int g, int e, int inner, int outer_stride) {
  return (e / inner) * outer_stride + g * inner + e % inner;
}

// Per group: mean and 1/sqrt(biased var + eps), two passes for accuracy. With
// update_running, also running = (1-momentum)*running + momentum*stat, the variance
// unbiased (count/(count-1)) as PyTorch does. One work-group per group.
__kernel void norm_stats(__global const float* x, __global float* mean, __global float* invstd,
                         __global float* running_mean, __global float* running_var,
                         const int inner, const int outer_stride, const int count,
                         const float eps, const float momentum, const int update_running) {
  __local float scratch[REDUCE_WG];
  const int g = get_group_id(0);
  float acc = 0.0f;
  for (int e = get_local_id(0); e < count; e += REDUCE_WG) acc += x[group_index(g, e, inner, outer_stride)];
  const float mu = group_sum(acc, scratch) / count;
  acc = 0.0f;
  for (int e = get_local_id(0); e < count; e += REDUCE_WG) {
    const float d = x[group_index(g, e, inner, outer_stride)] - mu;
    acc += d * d;
  }
  const float var = group_sum(acc, scratch) / count;
  if (get_local_id(0) == 0) {
    mean[g] = mu;
    invstd[g] = 1.0f / sqrt(var + eps);
    if (update_running) {
      running_mean[g] = (1.0f - momentum) * running_mean[g] + momentum * mu;
      running_var[g] = (1.0f - momentum) * running_var[g] + momentum * var * count / (count - 1);
    }
  }
}

// invstd[c] = 1/sqrt(var[c] + eps) (eval mode uses the running variance).
__kernel void norm_invstd(__global const float* var, __global float* invstd, const float eps,
                          const int n) {
  const int i = get_global_id(0);
  if (i < n) invstd[i] = 1.0f / sqrt(var[i] + eps);
}

// y = (x - mean[g]) * invstd[g] (* gamma[c] + beta[c] when gamma is not NULL).
// per_instance selects g = n*C + c (instance norm) or g = c (batch norm).
__kernel void norm_apply(__global const float* x, __global float* y, __global const float* mean,
                         __global const float* invstd, __global const float* gamma,
                         __global const float* beta, const int C, const int inner,
                         const int per_instance, const int total) {
  const int t = get_global_id(0);
  if (t >= total) return;
  const int c = (t / inner) % C;
  const int g = per_instance ? t / inner : c;
  float v = (x[t] - mean[g]) * invstd[g];
  if (gamma) v = v * gamma[c] + beta[c];
  y[t] = v;
}

// Per group: sum_dy = sum(dy), sum_dy_xhat = sum(dy * (x - mean) * invstd).
__kernel void norm_bwd_sums(__global const float* dy, __global const float* x,
                            __global const float* mean, __global const float* invstd,
                            __global float* sum_dy, __global float* sum_dy_xhat,
                            const int inner, const int outer_stride, const int count) {
  __local float scratch[REDUCE_WG];
  const int g = get_group_id(0);
  const float mu = mean[g];
  const float is = invstd[g];
  float a = 0.0f;
  float b = 0.0f;
  for (int e = get_local_id(0); e < count; e += REDUCE_WG) {
    const int idx = group_index(g, e, inner, outer_stride);
    a += dy[idx];
    b += dy[idx] * (x[idx] - mu) * is;
  }
  const float sa = group_sum(a, scratch);
  const float sb = group_sum(b, scratch);
  if (get_local_id(0) == 0) {
    sum_dy[g] = sa;
    sum_dy_xhat[g] = sb;
  }
}

// dx = gamma * invstd / M * (M*dy - sum_dy - xhat * sum_dy_xhat) (gamma = 1 when NULL).
__kernel void norm_bwd_apply(__global const float* dy, __global const float* x,
                             __global const float* mean, __global const float* invstd,
                             __global const float* gamma, __global const float* sum_dy,
                             __global const float* sum_dy_xhat, __global float* dx,
                             const int C, const int inner, const int per_instance,
                             const int count, const int total) {
  const int t = get_global_id(0);
  if (t >= total) return;
  const int c = (t / inner) % C;
  const int g = per_instance ? t / inner : c;
  const float xhat = (x[t] - mean[g]) * invstd[g];
  const float k = (gamma ? gamma[c] : 1.0f) * invstd[g] / count;
  dx[t] = k * (count * dy[t] - sum_dy[g] - xhat * sum_dy_xhat[g]);
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
