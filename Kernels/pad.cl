// Reflection padding (nn.ReflectionPad2d) of NC planes of H x W into OH x OW, where
// OH = H + top + bottom, OW = W + left + right and every padding is smaller than its axis.
// Output (oy, ox) reads input (r(oy - top, H), r(ox - left, W)), r(i, s) = -i for i < 0,
// 2(s - 1) - i for i >= s, else i.
//
// Both run in row runs (rows.h): forward over output rows, backward gathering per input
// pixel: along each axis at most three outputs read a given input (the direct one and one
// mirror image per side), so each input adds up to 3x3 gradients; deterministic, no atomics.
#include "rows.h"

inline int reflect_index(const int i, const int size) {
  return i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i);
}

// Forward, in row runs (rows.h) over the NC*OH output rows: each output row reads one input
// row; its middle is a straight copy, only the OW - W border values reflect.
__kernel void reflection_pad2d_fwd(__global const float* x, __global float* y, const int h, const int w,
                                   const int top, const int left, const int oh, const int ow, const int rows) {
  const row_run r = item_run(ow);
  if (r.row >= rows) return;
  __global const float* src = x + ((r.row / oh) * h + reflect_index(r.row % oh - top, h)) * w;
  __global float* dst = y + r.row * ow;
  const int copy_begin = clamp(left, r.begin, r.end);
  const int copy_end = clamp(left + w, r.begin, r.end);
  for (int ox = r.begin; ox < copy_begin; ++ox) dst[ox] = src[reflect_index(ox - left, w)];
  run_copy(src + (copy_begin - left), dst + copy_begin, 0, copy_end - copy_begin);
  for (int ox = copy_end; ox < r.end; ++ox) dst[ox] = src[reflect_index(ox - left, w)];
}

// The output indices along one axis that read input i (of `size`, padded by `pad` before
// and `pad_end` after): i + pad always; the near mirror pad - i when 1 <= i <= pad; the far
// mirror pad + 2(size - 1) - i when size - 1 - pad_end <= i <= size - 2. No two coincide.
typedef struct {
  int direct, near, far;
  int has_near, has_far;
} reflect_sources;

inline reflect_sources sources_of(const int i, const int size, const int pad, const int pad_end) {
  reflect_sources s;
  s.direct = i + pad;
  s.near = pad - i;
  s.far = pad + 2 * (size - 1) - i;
  s.has_near = i >= 1 && i <= pad;
  s.has_far = i >= size - 1 - pad_end && i <= size - 2;
  return s;
}

// acc plus the row's values at the columns that read input column c, in source order.
inline float add_columns(float acc, __global const float* row, const reflect_sources c) {
  acc += row[c.direct];
  if (c.has_near) acc += row[c.near];
  if (c.has_far) acc += row[c.far];
  return acc;
}

// dst[k] = the input-row gradient at columns [begin, end) of the rows in `sr`, where the
// columns have no mirror (only the direct output column reads them): a straight sum of up
// to three rows, eight columns at a time. `grad` is the plane's dy shifted by `left`.
inline void add_rows_interior(__global const float* grad, const reflect_sources sr, const int ow,
                              __global float* dst, const int begin, const int end) {
  __global const float* r0 = grad + sr.direct * ow;
  __global const float* r1 = grad + sr.near * ow;
  __global const float* r2 = grad + sr.far * ow;
  int k = begin;
  for (; k + 8 <= end; k += 8) {
    float8 v = vload8(0, r0 + k);
    if (sr.has_near) v += vload8(0, r1 + k);
    if (sr.has_far) v += vload8(0, r2 + k);
    vstore8(v, 0, dst + k);
  }
  for (; k < end; ++k) {
    float v = r0[k];
    if (sr.has_near) v += r1[k];
    if (sr.has_far) v += r2[k];
    dst[k] = v;
  }
}

// The gradient of input pixel (row sr, column ix): the up to 3 x 3 outputs that read it,
// rows then columns in source order.
inline float gather_pixel(__global const float* grad, const reflect_sources sr, const int ow, const int ix,
                          const int w, const int left, const int right) {
  const reflect_sources sc = sources_of(ix, w, left, right);
  float acc = add_columns(0.0f, grad + sr.direct * ow, sc);
  if (sr.has_near) acc = add_columns(acc, grad + sr.near * ow, sc);
  if (sr.has_far) acc = add_columns(acc, grad + sr.far * ow, sc);
  return acc;
}

// Backward, in row runs over the NC*H input rows: each input pixel gathers its gradients
// (deterministic, no atomics). Columns left + 1 ..< W - 1 - right have no mirror and take
// the vector path; the border columns gather one by one.
__kernel void reflection_pad2d_bwd(__global const float* dy, __global float* dx, const int h, const int w,
                                   const int top, const int left, const int oh, const int ow, const int rows) {
  const row_run r = item_run(w);
  if (r.row >= rows) return;
  const reflect_sources sr = sources_of(r.row % h, h, top, oh - h - top);
  __global const float* grad = dy + (r.row / h) * oh * ow;
  __global float* out = dx + r.row * w;
  const int right = ow - w - left;
  const int plain_begin = clamp(left + 1, r.begin, r.end);
  const int plain_end = max(plain_begin, clamp(w - 1 - right, r.begin, r.end));
  for (int ix = r.begin; ix < plain_begin; ++ix) out[ix] = gather_pixel(grad, sr, ow, ix, w, left, right);
  add_rows_interior(grad + left, sr, ow, out, plain_begin, plain_end);
  for (int ix = plain_end; ix < r.end; ++ix) out[ix] = gather_pixel(grad, sr, ow, ix, w, left, right);
}
