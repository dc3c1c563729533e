// Pointwise ops: activations forward/backward, arithmetic, per-channel broadcasts and
// channel-block copies (concat/slice). One work-item per output element; `n` bounds the
// launch, which the host rounds up to whole work-groups.

// Activation kinds; must match OpenCLBackend.activationCode.
#define ACT_RELU 0
#define ACT_LEAKY_RELU 1
#define ACT_TANH 2
#define ACT_SIGMOID 3
#define ACT_SQRT 4
#define ACT_SQUARE 5

__kernel void activation_fwd(const int kind, const float slope, __global const float* x,
                             __global float* y, const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float v = x[i];
  float r;
  switch (kind) {
    case ACT_RELU: r = v > 0.0f ? v : 0.0f; break;
    case ACT_LEAKY_RELU: r = v > 0.0f ? v : slope * v; break;
    case ACT_TANH: r = tanh(v); break;
    case ACT_SIGMOID: r = 1.0f / (1.0f + exp(-v)); break;
    case ACT_SQRT: r = sqrt(v); break;
    default: r = v * v; break;
  }
  y[i] = r;
}

// relu/leaky/square read x; tanh/sigmoid/sqrt read the forward output y.
__kernel void activation_bwd(const int kind, const float slope, __global const float* x,
                             __global const float* y, __global const float* dy,
                             __global float* dx, const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float g = dy[i];
  float r;
  switch (kind) {
    case ACT_RELU: r = x[i] > 0.0f ? g : 0.0f; break;
    case ACT_LEAKY_RELU: r = x[i] > 0.0f ? g : slope * g; break;
    case ACT_TANH: r = g * (1.0f - y[i] * y[i]); break;
    case ACT_SIGMOID: r = g * y[i] * (1.0f - y[i]); break;
    case ACT_SQRT: r = g * 0.5f / y[i]; break;
    default: r = 2.0f * x[i] * g; break;
  }
  dx[i] = r;
}

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

// y[n, c, i] = x[n, c, i] + bias[c]; x viewed as [outer, channels, inner].
__kernel void add_channel(__global const float* x, __global const float* bias, __global float* y,
                          const int channels, const int inner, const int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = x[i] + bias[(i / inner) % channels];
}

__kernel void mul_channel(__global const float* x, __global const float* s, __global float* y,
                          const int channels, const int inner, const int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = x[i] * s[(i / inner) % channels];
}

// Copies channels [x_start, x_start + count) of x [outer, xc, inner] into channels
// [y_start, y_start + count) of y [outer, yc, inner]. n = outer * count * inner.
__kernel void copy_channels(__global const float* x, const int x_start, const int xc,
                            __global float* y, const int y_start, const int yc,
                            const int count, const int inner, const int n) {
  const int t = get_global_id(0);
  if (t >= n) return;
  const int i = t % inner;
  const int c = (t / inner) % count;
  const int o = t / (inner * count);
  y[(o * yc + y_start + c) * inner + i] = x[(o * xc + x_start + c) * inner + i];
}
