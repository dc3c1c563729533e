// Pointwise ops: activations forward/backward, arithmetic, per-channel broadcasts and
// channel-block copies (concat/slice). One work-item per output element; `n` bounds the
// launch, which the host rounds up to whole work-groups.

#include "rows.h"

// Activation kinds. Each kind gets its own entry point (activation_fwd_relu, ...), so the
// kind is a compile-time constant and the switch folds away: one kernel with a run-time
// switch over six kinds stopped PoCL vectorising it (relu ran 5x slower).
#define ACT_RELU 0
#define ACT_LEAKY_RELU 1
#define ACT_TANH 2
#define ACT_SIGMOID 3
#define ACT_SQRT 4
#define ACT_SQUARE 5
#define ACT_RSQRT 6
#define ACT_EXP 7

inline float activation_value(const int kind, const float v, const float slope) {
  switch (kind) {
    case ACT_RELU: return v > 0.0f ? v : 0.0f;
    case ACT_LEAKY_RELU: return v > 0.0f ? v : slope * v;
    case ACT_TANH: return tanh(v);
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-v));
    case ACT_SQRT: return sqrt(v);
    case ACT_RSQRT: return 1.0f / sqrt(v);
    case ACT_EXP: return exp(v);
    default: return v * v;
  }
}

// dx from dy: relu/leaky/square read x; tanh/sigmoid/sqrt/rsqrt/exp read the forward output y.
inline float activation_grad(const int kind, const float x, const float y, const float g,
                             const float slope) {
  switch (kind) {
    case ACT_RELU: return x > 0.0f ? g : 0.0f;
    case ACT_LEAKY_RELU: return x > 0.0f ? g : slope * g;
    case ACT_TANH: return g * (1.0f - y * y);
    case ACT_SIGMOID: return g * y * (1.0f - y);
    case ACT_SQRT: return g * 0.5f / y;
    case ACT_RSQRT: return -0.5f * y * y * y * g;
    case ACT_EXP: return y * g;
    default: return 2.0f * x * g;
  }
}

#define ACTIVATION_KERNELS(NAME, KIND)                                                      \
  __kernel void activation_fwd_##NAME(const float slope, __global const float* x,          \
                                      __global float* y, const int n) {                     \
    const int i = get_global_id(0);                                                         \
    if (i < n) y[i] = activation_value(KIND, x[i], slope);                                  \
  }                                                                                         \
  __kernel void activation_bwd_##NAME(const float slope, __global const float* x,          \
                                      __global const float* y, __global const float* dy,    \
                                      __global float* dx, const int n) {                    \
    const int i = get_global_id(0);                                                         \
    if (i < n) dx[i] = activation_grad(KIND, x[i], y[i], dy[i], slope);                     \
  }

// Entry points (listed for the host's kernel table, which reads `KERNELS:` lines):
// KERNELS: activation_fwd_relu activation_bwd_relu activation_fwd_leaky_relu
// KERNELS: activation_bwd_leaky_relu activation_fwd_tanh activation_bwd_tanh
// KERNELS: activation_fwd_sigmoid activation_bwd_sigmoid activation_fwd_sqrt
// KERNELS: activation_bwd_sqrt activation_fwd_square activation_bwd_square
// KERNELS: activation_fwd_rsqrt activation_bwd_rsqrt activation_fwd_exp activation_bwd_exp
ACTIVATION_KERNELS(relu, ACT_RELU)
ACTIVATION_KERNELS(leaky_relu, ACT_LEAKY_RELU)
ACTIVATION_KERNELS(tanh, ACT_TANH)
ACTIVATION_KERNELS(sigmoid, ACT_SIGMOID)
ACTIVATION_KERNELS(sqrt, ACT_SQRT)
ACTIVATION_KERNELS(square, ACT_SQUARE)
ACTIVATION_KERNELS(rsqrt, ACT_RSQRT)
ACTIVATION_KERNELS(exp, ACT_EXP)

__kernel void add(__global const float* a, __global const float* b, __global float* y, const int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = a[i] + b[i];
}

__kernel void mul(__global const float* a, __global const float* b, __global float* y, const int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = a[i] * b[i];
}

__kernel void scale(__global const float* x, const float alpha, __global float* y, const int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = alpha * x[i];
}

// y[n, c, i] = x[n, c, i] + bias[c] (add_channel_planes) or · scale[c] (mul_channel_planes),
// x viewed as planes [outer * channels, inner], in row runs (rows.h): the channel is
// p % channels once per run, not two divisions per element.
// KERNELS: add_channel_planes mul_channel_planes
#define CHANNEL_PLANES(NAME, OP)                                                             \
  __kernel void NAME(__global const float* x, __global const float* v, __global float* y,    \
                     const int channels, const int inner, const int planes) {               \
    const row_run r = item_run(inner);                                                       \
    if (r.row >= planes) return;                                                             \
    const float c = v[r.row % channels];                                                     \
    const int base = r.row * inner;                                                          \
    int k = r.begin;                                                                         \
    for (; k + 8 <= r.end; k += 8) vstore8(vload8(0, x + base + k) OP c, 0, y + base + k);   \
    for (; k < r.end; ++k) y[base + k] = x[base + k] OP c;                                   \
  }
CHANNEL_PLANES(add_channel_planes, +)
CHANNEL_PLANES(mul_channel_planes, *)

// Copies channels [x_start, x_start + count) of x [outer, xc, inner] into channels
// [y_start, y_start + count) of y [outer, yc, inner], in row runs over the outer * count
// copied planes: plane p is channel p % count of sample p / count.
__kernel void copy_channels(__global const float* x, const int x_start, const int xc,
                            __global float* y, const int y_start, const int yc,
                            const int count, const int inner, const int planes) {
  const row_run r = item_run(inner);
  if (r.row >= planes) return;
  const int o = r.row / count;
  const int c = r.row % count;
  run_copy(x + (o * xc + x_start + c) * inner, y + (o * yc + y_start + c) * inner, r.begin, r.end);
}

// y [b, a, inner] = x [a, b, inner] with the first two axes swapped, in row runs over the
// a * b rows of x: row p = i * b + j moves to row j * a + i of y.
__kernel void transpose01(__global const float* x, __global float* y, const int a, const int b, const int inner,
                          const int rows) {
  const row_run r = item_run(inner);
  if (r.row >= rows) return;
  run_copy(x + r.row * inner, y + ((r.row % b) * a + r.row / b) * inner, r.begin, r.end);
}

// y[i] = sum over s of x[s * n + i]: adds `slices` partial results (split-K weight gradients).
__kernel void sum_slices(__global const float* x, __global float* y, const int slices, const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  float acc = 0.0f;
  for (int s = 0; s < slices; ++s) acc += x[s * n + i];
  y[i] = acc;
}

// Device-side scalars: s holds one element (a norm, BEGAN's k_t), read by every work-item.
__kernel void mul_scalar(__global const float* x, __global const float* s, __global float* y, const int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = x[i] * s[0];
}

__kernel void div_scalar(__global const float* x, __global const float* s, __global float* y, const int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = x[i] / s[0];
}

// torch.clamp: NaN stays NaN (fmin/fmax would drop it); lo > hi gives hi. y may be x. (Not
// named `clamp`: that is an OpenCL C built-in, and the kernel would not be found by name.)
__kernel void clamp_fwd(__global const float* x, __global float* y, const float lo, const float hi, const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float v = x[i];
  const float raised = v < lo ? lo : v;
  y[i] = isnan(v) ? v : (raised > hi ? hi : raised);
}

// torch's clamp_backward: the gradient passes where lo <= x <= hi (bounds included).
__kernel void clamp_bwd(__global const float* x, __global const float* dy, __global float* dx,
                        const float lo, const float hi, const int n) {
  const int i = get_global_id(0);
  if (i < n) dx[i] = (x[i] >= lo && x[i] <= hi) ? dy[i] : 0.0f;
}
