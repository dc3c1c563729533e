// Bilinear resizing with align_corners=False, as PyTorch's upsample_bilinear2d when sizes
// are given (F.interpolate(x, size=(OH, OW), mode="bilinear"); pytorch-fid resizes to
// 299x299 this way). NC planes of IH x IW (x, dx) and OH x OW (y, dy).
//
// Output row oy reads source row s = max(0, (oy + 0.5) * IH/OH - 0.5) (scale computed in
// float as PyTorch does), blending rows y0 = floor(s) and y1 = min(y0 + 1, IH - 1) with
// weights 1 - (s - y0) and s - y0; columns likewise.
//
// Forward: one work-item per output. Backward gathers, one work-item per input pixel over
// the outputs whose taps reach it, recomputing each output's taps exactly as the forward
// does: deterministic, no atomics, and the exact transpose of the forward.
//
// The geometry is compiled in (-D options, one program per size pair), as in conv.cl.
#include "rows.h"

#ifndef NC
#define NC 1  // planes: batch x channels
#endif
#ifndef IH
#define IH 1  // input height
#endif
#ifndef IW
#define IW 1  // input width
#endif
#ifndef OH
#define OH 1  // output height
#endif
#ifndef OW
#define OW 1  // output width
#endif

// Evaluate the index formula as PyTorch writes it (a multiply, then a subtract), not fused.
#pragma OPENCL FP_CONTRACT OFF

#define SCALE_H ((float)IH / (float)OH)
#define SCALE_W ((float)IW / (float)OW)

// The two taps and their weights of output index dst along an axis of `size` inputs.
typedef struct {
  int i0, i1;
  float w0, w1;
} taps;

inline taps bilinear_taps(const float scale, const int size, const int dst) {
  float s = scale * ((float)dst + 0.5f) - 0.5f;
  s = s < 0.0f ? 0.0f : s;
  taps t;
  t.i0 = min((int)s, size - 1);
  t.i1 = t.i0 < size - 1 ? t.i0 + 1 : t.i0;
  t.w1 = s - (float)t.i0;
  t.w0 = 1.0f - t.w1;
  return t;
}

// Weight of input i in output dst's taps (both taps count when they coincide at the edge).
inline float tap_weight(const taps t, const int i) {
  return (t.i0 == i ? t.w0 : 0.0f) + (t.i1 == i ? t.w1 : 0.0f);
}

// A lower bound on the first output whose taps can reach input i: its source index must be
// at least i - 1. One output early, to be safe against rounding; extra outputs weigh 0.
inline int first_output(const float scale, const int i) {
  return max((int)floor(((float)i - 0.5f) / scale - 0.5f) - 1, 0);
}

__kernel void upsample_bilinear2d_fwd(__global const float* x, __global float* y) {
  const int t = get_global_id(0);
  if (t >= NC * OH * OW) return;
  const int ox = t % OW;
  const int oy = (t / OW) % OH;
  __global const float* plane = x + (t / (OH * OW)) * (IH * IW);
  const taps r = bilinear_taps(SCALE_H, IH, oy);
  const taps c = bilinear_taps(SCALE_W, IW, ox);
  __global const float* row0 = plane + r.i0 * IW;
  __global const float* row1 = plane + r.i1 * IW;
  y[t] = r.w0 * (c.w0 * row0[c.i0] + c.w1 * row0[c.i1]) + r.w1 * (c.w0 * row1[c.i0] + c.w1 * row1[c.i1]);
}

__kernel void upsample_bilinear2d_bwd(__global const float* dy, __global float* dx) {
  const int t = get_global_id(0);
  if (t >= NC * IH * IW) return;
  const int ix = t % IW;
  const int iy = (t / IW) % IH;
  __global const float* grad = dy + (t / (IH * IW)) * (OH * OW);
  const int ox0 = first_output(SCALE_W, ix);
  float acc = 0.0f;
  for (int oy = first_output(SCALE_H, iy); oy < OH; ++oy) {
    const taps r = bilinear_taps(SCALE_H, IH, oy);
    if (r.i0 > iy) break;  // taps only move forward with oy
    const float wy = tap_weight(r, iy);
    if (wy == 0.0f) continue;
    float row = 0.0f;
    for (int ox = ox0; ox < OW; ++ox) {
      const taps c = bilinear_taps(SCALE_W, IW, ox);
      if (c.i0 > ix) break;
      row += tap_weight(c, ix) * grad[oy * OW + ox];
    }
    acc += wy * row;
  }
  dx[t] = acc;
}

// Nearest upsampling by an integer factor k (nn.Upsample(scale_factor=k, mode="nearest")):
// output (oy, ox) of an (h*k) x (w*k) plane reads input (oy / k, ox / k). The geometry is a
// run-time argument here; the -D constants above do not apply. Both directions run in row
// runs (rows.h); k = 2, the usual factor, takes a vector path.

// Forward over the NC*h*k output rows: output row r repeats input row r / k, each value k
// times.
__kernel void upsample_nearest2d_fwd(__global const float* x, __global float* y, const int w, const int k,
                                     const int rows) {
  const int ow = w * k;
  const row_run r = item_run(ow);
  if (r.row >= rows) return;
  __global const float* src = x + (r.row / k) * w;
  __global float* dst = y + r.row * ow;
  int ox = r.begin;  // runs start at multiples of ROW_SEGMENT, so ox is even
  if (k == 2) {
    for (; ox + 8 <= r.end; ox += 8) vstore8(shuffle(vload4(0, src + ox / 2), (uint8)(0, 0, 1, 1, 2, 2, 3, 3)), 0, dst + ox);
  }
  for (; ox < r.end; ++ox) dst[ox] = src[ox / k];
}

// Backward over the NC*h input rows: each input sums its k x k block of dy, rows then
// columns in order.
__kernel void upsample_nearest2d_bwd(__global const float* dy, __global float* dx, const int w, const int k,
                                     const int rows) {
  const row_run r = item_run(w);
  if (r.row >= rows) return;
  const int ow = w * k;
  __global const float* block = dy + r.row * k * ow;
  __global float* out = dx + r.row * w;
  int ix = r.begin;
  if (k == 2) {
    for (; ix + 4 <= r.end; ix += 4) {
      const float8 a = vload8(0, block + 2 * ix);
      const float8 b = vload8(0, block + ow + 2 * ix);
      vstore4(((a.even + a.odd) + b.even) + b.odd, 0, out + ix);
    }
  }
  for (; ix < r.end; ++ix) {
    float acc = 0.0f;
    for (int a = 0; a < k; ++a) {
      for (int b = 0; b < k; ++b) acc += block[a * ow + ix * k + b];
    }
    out[ix] = acc;
  }
}
