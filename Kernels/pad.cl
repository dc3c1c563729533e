// Reflection padding (nn.ReflectionPad2d) of NC planes of H x W into OH x OW, where
// OH = H + top + bottom, OW = W + left + right and every padding is smaller than its axis.
// Output (oy, ox) reads input (r(oy - top, H), r(ox - left, W)), r(i, s) = -i for i < 0,
// 2(s - 1) - i for i >= s, else i.
//
// Both are row launches (launchRows): forward over output rows, one work-item per output;
// backward gathers, one work-item per input pixel: along
// each axis at most three outputs read a given input (the direct one and one mirror image
// per side), so each input adds up to 3x3 gradients; deterministic, no atomics.

inline int reflect_index(const int i, const int size) {
  return i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i);
}

__kernel void reflection_pad2d_fwd(__global const float* x, __global float* y, const int h, const int w,
                                   const int top, const int left, const int oh, const int ow, const int rows) {
  const int ox = get_global_id(0);
  const int r = get_global_id(1);  // output row: plane r / oh, row r % oh
  if (ox >= ow || r >= rows) return;
  const int plane = r / oh;
  const int oy = r % oh;
  y[r * ow + ox] = x[(plane * h + reflect_index(oy - top, h)) * w + reflect_index(ox - left, w)];
}

// The output indices along one axis that read input i: i + pad, pad - i (left/top mirror)
// and pad + 2(size - 1) - i (right/bottom mirror), each kept when it lies in [0, out) and
// maps back to i, duplicates removed. Returns how many.
inline int reflect_sources(const int i, const int size, const int pad, const int out, int* src) {
  const int cand[3] = {i + pad, pad - i, pad + 2 * (size - 1) - i};
  int count = 0;
  for (int c = 0; c < 3; ++c) {
    const int o = cand[c];
    if (o < 0 || o >= out || reflect_index(o - pad, size) != i) continue;
    int seen = 0;
    for (int d = 0; d < count; ++d) seen |= src[d] == o;
    if (!seen) src[count++] = o;
  }
  return count;
}

__kernel void reflection_pad2d_bwd(__global const float* dy, __global float* dx, const int h, const int w,
                                   const int top, const int left, const int oh, const int ow, const int rows) {
  const int ix = get_global_id(0);
  const int r = get_global_id(1);  // input row: plane r / h, row r % h
  if (ix >= w || r >= rows) return;
  const int plane = r / h;
  const int iy = r % h;
  int src_rows[3], cols[3];
  const int nr = reflect_sources(iy, h, top, oh, src_rows);
  const int nc = reflect_sources(ix, w, left, ow, cols);
  float acc = 0.0f;
  for (int a = 0; a < nr; ++a) {
    for (int b = 0; b < nc; ++b) acc += dy[(plane * oh + src_rows[a]) * ow + cols[b]];
  }
  dx[r * w + ix] = acc;
}
