// Losses with mean reduction. Forward kernels run as one work-group and write loss[0];
// backward kernels scale by the upstream gradient dloss[0] / n, read on the device (no
// host round trip). Entry points are written out (not macro-made) so the host can find
// each `__kernel void NAME` in the source.
#include "reduce.h"

// Numerically stable BCE on logits: max(x,0) - x*t + log(1 + exp(-|x|)).
inline float bce_term(float x, float t) { return fmax(x, 0.0f) - x * t + log1p(exp(-fabs(x))); }
inline float sigmoid_stable(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + exp(-x));
  const float e = exp(x);
  return e / (1.0f + e);
}
inline float sign0(float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }

inline float mse_term(float x, float t) { return (x - t) * (x - t); }
inline float l1_term(float x, float t) { return fabs(x - t); }
inline float bce_grad(float x, float t) { return sigmoid_stable(x) - t; }
inline float mse_grad(float x, float t) { return 2.0f * (x - t); }
inline float l1_grad(float x, float t) { return sign0(x - t); }

#define LOSS_BCE 0
#define LOSS_MSE 1
#define LOSS_L1 2

// loss[0] = mean of the per-element term; one work-group. `kind` is a literal at every
// call site, so the switch folds away.
inline void loss_fwd(const int kind, __global const float* x, __global const float* t,
                     __global float* loss, const int n, __local float* scratch) {
  float acc = 0.0f;
  for (int i = get_local_id(0); i < n; i += REDUCE_WG) {
    acc += kind == LOSS_BCE ? bce_term(x[i], t[i])
         : kind == LOSS_MSE ? mse_term(x[i], t[i]) : l1_term(x[i], t[i]);
  }
  const float total = group_sum(acc, scratch);
  if (get_local_id(0) == 0) loss[0] = total / n;
}

// dx[i] = dloss[0] / n * d(term)/dx.
inline void loss_bwd(const int kind, __global const float* x, __global const float* t,
                     __global const float* dloss, __global float* dx, const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float g = kind == LOSS_BCE ? bce_grad(x[i], t[i])
                : kind == LOSS_MSE ? mse_grad(x[i], t[i]) : l1_grad(x[i], t[i]);
  dx[i] = (dloss[0] / n) * g;
}

__kernel void bce_logits_fwd(__global const float* x, __global const float* t,
                             __global float* loss, const int n) {
  __local float scratch[REDUCE_WG];
  loss_fwd(LOSS_BCE, x, t, loss, n, scratch);
}
__kernel void bce_logits_bwd(__global const float* x, __global const float* t,
                             __global const float* dloss, __global float* dx, const int n) {
  loss_bwd(LOSS_BCE, x, t, dloss, dx, n);
}
__kernel void mse_fwd(__global const float* x, __global const float* t, __global float* loss,
                      const int n) {
  __local float scratch[REDUCE_WG];
  loss_fwd(LOSS_MSE, x, t, loss, n, scratch);
}
__kernel void mse_bwd(__global const float* x, __global const float* t,
                      __global const float* dloss, __global float* dx, const int n) {
  loss_bwd(LOSS_MSE, x, t, dloss, dx, n);
}
__kernel void l1_fwd(__global const float* x, __global const float* t, __global float* loss,
                     const int n) {
  __local float scratch[REDUCE_WG];
  loss_fwd(LOSS_L1, x, t, loss, n, scratch);
}
__kernel void l1_bwd(__global const float* x, __global const float* t,
                     __global const float* dloss, __global float* dx, const int n) {
  loss_bwd(LOSS_L1, x, t, dloss, dx, n);
}
