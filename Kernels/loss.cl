// Losses with mean reduction. Forward kernels write per-split partial sums of the
// per-element term (pass 1 of reduce.h, one work-group per split of `chunk` elements); the
// host finishes with reduce.cl's sum_partials_finish, alpha = 1/n. Backward kernels scale by
// the upstream gradient dloss[0] / n, read on the device (no host round trip).
#include "reduce.h"

// exp(-|x|) for the BCE terms, its argument kept >= -87 so the result stays a normal float
// (>= 1.6e-38): PoCL's exp takes a slow path for results in the subnormal range (|x| > 87,
// common among large logits), which made the BCE kernels ~5x slower. The change to a term
// is below 1.6e-38.
#define EXP_NEG_ABS(x) exp(fmax(-fabs(x), -87.0f))

// The per-element terms, as macros so one definition serves float and float8.
// Numerically stable BCE on logits: max(x,0) - x*t + log(1 + exp(-|x|)). log(1 + e), as
// PyTorch's BCEWithLogits computes it, not log1p: PoCL has no vector log1p (it runs one
// lane at a time, 13x slower), and the two differ by at most an ulp of 1 per term.
#define BCE_TERM(x, t) (fmax((x), 0.0f) - (x) * (t) + log(1.0f + EXP_NEG_ABS(x)))
#define MSE_TERM(x, t) (((x) - (t)) * ((x) - (t)))
#define L1_TERM(x, t) fabs((x) - (t))

// 1 / (1 + exp(-x)) without overflow: e = exp(-|x|) <= 1 serves both signs. Both sides
// are computed and one selected (no branch), so PoCL vectorises the backward kernels.
inline float sigmoid_stable(float x) {
  const float e = EXP_NEG_ABS(x);
  const float r = 1.0f / (1.0f + e);
  return x >= 0.0f ? r : e * r;
}
inline float sign0(float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }

inline float bce_grad(float x, float t) { return sigmoid_stable(x) - t; }
inline float mse_grad(float x, float t) { return 2.0f * (x - t); }
inline float l1_grad(float x, float t) { return sign0(x - t); }

#define LOSS_BCE 0
#define LOSS_MSE 1
#define LOSS_L1 2

// partials[split] = Σ TERM over the split's elements: each work-item adds a contiguous
// share (reduce.h), eight lanes at a time.
#define LOSS_PARTIALS(NAME, TERM)                                                            \
  __kernel void NAME(__global const float* x, __global const float* t,                      \
                     __global float* partials, const int n, const int chunk) {              \
    __local float scratch[REDUCE_WG];                                                       \
    const int s = get_group_id(0);                                                          \
    span_t sp = item_span(0, s, n, chunk, n, 0);                                            \
    const int at = sp.addr;                                                                 \
    const int len = sp.end - sp.e;                                                          \
    float8 a = 0.0f;                                                                        \
    int k = 0;                                                                              \
    for (; k + 8 <= len; k += 8) {                                                          \
      const float8 u = vload8(0, x + at + k);                                               \
      const float8 v = vload8(0, t + at + k);                                               \
      a += TERM(u, v);                                                                      \
    }                                                                                       \
    float tail = 0.0f;                                                                      \
    for (; k < len; ++k) tail += TERM(x[at + k], t[at + k]);                                \
    const float total = group_sum(lane_sum8(a) + tail, scratch);                            \
    if (get_local_id(0) == 0) partials[s] = total;                                          \
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

// KERNELS: bce_logits_fwd_partials mse_fwd_partials l1_fwd_partials
LOSS_PARTIALS(bce_logits_fwd_partials, BCE_TERM)
LOSS_PARTIALS(mse_fwd_partials, MSE_TERM)
LOSS_PARTIALS(l1_fwd_partials, L1_TERM)

__kernel void bce_logits_bwd(__global const float* x, __global const float* t,
                             __global const float* dloss, __global float* dx, const int n) {
  loss_bwd(LOSS_BCE, x, t, dloss, dx, n);
}
__kernel void mse_bwd(__global const float* x, __global const float* t,
                      __global const float* dloss, __global float* dx, const int n) {
  loss_bwd(LOSS_MSE, x, t, dloss, dx, n);
}
__kernel void l1_bwd(__global const float* x, __global const float* t,
                     __global const float* dloss, __global float* dx, const int n) {
  loss_bwd(LOSS_L1, x, t, dloss, dx, n);
}
