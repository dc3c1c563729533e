// Row-wise softmax and softmax cross-entropy over logits [N, C] (classes on the last axis).
// One work-item per row (C is small: 10 classes, Inception's 1008), each row read eight
// classes at a time (vload8, vector exp) with a scalar tail; the host launches small
// work-groups so a few rows still spread over the compute units. Every row is shifted by
// its maximum before exp, so any finite logits are safe.

// The largest lane of a.
inline float lane_max8(const float8 a) {
  return fmax(fmax(fmax(a.s0, a.s1), fmax(a.s2, a.s3)), fmax(fmax(a.s4, a.s5), fmax(a.s6, a.s7)));
}

// The eight lanes of a added pairwise.
inline float lane_add8(const float8 a) {
  return ((a.s0 + a.s1) + (a.s2 + a.s3)) + ((a.s4 + a.s5) + (a.s6 + a.s7));
}

// log Σ_c exp(x[c]) of one row.
inline float row_log_sum_exp(__global const float* x, const int c) {
  float top = x[0];
  int j = 0;
  if (c >= 8) {
    float8 m = vload8(0, x);
    for (j = 8; j + 8 <= c; j += 8) m = fmax(m, vload8(0, x + j));
    top = lane_max8(m);
  }
  for (; j < c; ++j) top = fmax(top, x[j]);
  float8 s8 = 0.0f;
  for (j = 0; j + 8 <= c; j += 8) s8 += exp(vload8(0, x + j) - top);
  float s = lane_add8(s8);
  for (; j < c; ++j) s += exp(x[j] - top);
  return top + log(s);
}

// Σ_c t[c] of one row.
inline float row_sum(__global const float* t, const int c) {
  float8 s8 = 0.0f;
  int j = 0;
  for (; j + 8 <= c; j += 8) s8 += vload8(0, t + j);
  float s = lane_add8(s8);
  for (; j < c; ++j) s += t[j];
  return s;
}

// row_loss[r] = -sum_c t[r,c] * (x[r,c] - lse(x[r])); one work-item per row. The host
// reduces row_loss to the mean (reduce.cl), so the loss spreads over work-groups.
__kernel void softmax_cross_entropy_rows(__global const float* x, __global const float* t,
                                         __global float* row_loss, const int n, const int c) {
  const int r = get_global_id(0);
  if (r >= n) return;
  __global const float* row = x + r * c;
  __global const float* tr = t + r * c;
  const float lse = row_log_sum_exp(row, c);
  float8 a8 = 0.0f;
  int j = 0;
  for (; j + 8 <= c; j += 8) a8 += vload8(0, tr + j) * (vload8(0, row + j) - lse);
  float acc = lane_add8(a8);
  for (; j < c; ++j) acc += tr[j] * (row[j] - lse);
  row_loss[r] = -acc;
}

// dx[r,c] = dloss[0] / n * (softmax(x[r])[c] * sum_c' t[r,c'] - t[r,c]).
__kernel void softmax_cross_entropy_bwd(__global const float* x, __global const float* t,
                                        __global const float* dloss, __global float* dx,
                                        const int n, const int c) {
  const int r = get_global_id(0);
  if (r >= n) return;
  __global const float* row = x + r * c;
  __global const float* tr = t + r * c;
  __global float* out = dx + r * c;
  const float lse = row_log_sum_exp(row, c);
  const float mass = row_sum(tr, c);
  const float g = dloss[0] / n;
  int j = 0;
  for (; j + 8 <= c; j += 8) {
    vstore8(g * (exp(vload8(0, row + j) - lse) * mass - vload8(0, tr + j)), 0, out + j);
  }
  for (; j < c; ++j) out[j] = g * (exp(row[j] - lse) * mass - tr[j]);
}

// y[r] = softmax(x[r]).
__kernel void softmax_fwd(__global const float* x, __global float* y, const int n, const int c) {
  const int r = get_global_id(0);
  if (r >= n) return;
  __global const float* row = x + r * c;
  __global float* out = y + r * c;
  const float lse = row_log_sum_exp(row, c);
  int j = 0;
  for (; j + 8 <= c; j += 8) vstore8(exp(vload8(0, row + j) - lse), 0, out + j);
  for (; j < c; ++j) out[j] = exp(row[j] - lse);
}
