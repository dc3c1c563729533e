// Row-wise softmax and softmax cross-entropy over logits [N, C] (classes on the last axis).
// One work-item per row: C is small (10 classes, Inception's 1008) and rows are many.
// Every row is shifted by its maximum before exp, so any finite logits are safe.

// log Σ_c exp(x[c]) of one row.
inline float row_log_sum_exp(__global const float* x, const int c) {
  float top = x[0];
  for (int j = 1; j < c; ++j) top = fmax(top, x[j]);
  float s = 0.0f;
  for (int j = 0; j < c; ++j) s += exp(x[j] - top);
  return top + log(s);
}

// row_loss[r] = -sum_c t[r,c] * (x[r,c] - lse(x[r])); one work-item per row. The host
// reduces row_loss to the mean (reduce.cl), so the loss spreads over work-groups.
__kernel void softmax_cross_entropy_rows(__global const float* x, __global const float* t,
                                         __global float* row_loss, const int n, const int c) {
  const int r = get_global_id(0);
  if (r >= n) return;
  __global const float* row = x + r * c;
  const float lse = row_log_sum_exp(row, c);
  float acc = 0.0f;
  for (int j = 0; j < c; ++j) acc -= t[r * c + j] * (row[j] - lse);
  row_loss[r] = acc;
}

// dx[r,c] = dloss[0] / n * (softmax(x[r])[c] * sum_c' t[r,c'] - t[r,c]).
__kernel void softmax_cross_entropy_bwd(__global const float* x, __global const float* t,
                                        __global const float* dloss, __global float* dx,
                                        const int n, const int c) {
  const int r = get_global_id(0);
  if (r >= n) return;
  __global const float* row = x + r * c;
  const float lse = row_log_sum_exp(row, c);
  float mass = 0.0f;
  for (int j = 0; j < c; ++j) mass += t[r * c + j];
  const float g = dloss[0] / n;
  for (int j = 0; j < c; ++j) dx[r * c + j] = g * (exp(row[j] - lse) * mass - t[r * c + j]);
}

// y[r] = softmax(x[r]).
__kernel void softmax_fwd(__global const float* x, __global float* y, const int n, const int c) {
  const int r = get_global_id(0);
  if (r >= n) return;
  __global const float* row = x + r * c;
  const float lse = row_log_sum_exp(row, c);
  for (int j = 0; j < c; ++j) y[r * c + j] = exp(row[j] - lse);
}
