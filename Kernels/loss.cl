// Losses with mean reduction. Forward kernels run as one work-group and write loss[0];
// backward kernels scale by the upstream gradient dloss[0] / n, read on the device (no
// host round trip).
#include "reduce.h"

// Numerically stable BCE on logits: max(x,0) - x*t + log(1 + exp(-|x|)).
inline float bce_term(float x, float t) { return fmax(x, 0.0f) - x * t + log1p(exp(-fabs(x))); }
inline float sigmoid_stable(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + exp(-x));
  const float e = exp(x);
  return e / (1.0f + e);
}
inline float sign0(float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }

#define LOSS_FWD(NAME, TERM)                                                              \
  __kernel void NAME(__global const float* x, __global const float* t, __global float* loss, \
                     const int n) {                                                       \
    __local float scratch[REDUCE_WG];                                                     \
    float acc = 0.0f;                                                                     \
    for (int i = get_local_id(0); i < n; i += REDUCE_WG) acc += TERM(x[i], t[i]);          \
    const float total = group_sum(acc, scratch);                                          \
    if (get_local_id(0) == 0) loss[0] = total / n;                                        \
  }

#define LOSS_BWD(NAME, GRAD)                                                              \
  __kernel void NAME(__global const float* x, __global const float* t,                    \
                     __global const float* dloss, __global float* dx, const int n) {      \
    const int i = get_global_id(0);                                                       \
    if (i >= n) return;                                                                   \
    dx[i] = (dloss[0] / n) * GRAD(x[i], t[i]);                                            \
  }

inline float mse_term(float x, float t) { return (x - t) * (x - t); }
inline float l1_term(float x, float t) { return fabs(x - t); }
inline float bce_grad(float x, float t) { return sigmoid_stable(x) - t; }
inline float mse_grad(float x, float t) { return 2.0f * (x - t); }
inline float l1_grad(float x, float t) { return sign0(x - t); }

LOSS_FWD(bce_logits_fwd, bce_term)
LOSS_BWD(bce_logits_bwd, bce_grad)
LOSS_FWD(mse_fwd, mse_term)
LOSS_BWD(mse_bwd, mse_grad)
LOSS_FWD(l1_fwd, l1_term)
LOSS_BWD(l1_bwd, l1_grad)
