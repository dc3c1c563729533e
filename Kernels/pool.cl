// Max and average pooling, PyTorch semantics (dilation 1; ceil_mode shows only in OH, OW). Tensors are
// NC planes of IH x IW (x, dx) and OH x OW (y, dy); window (oy, ox) covers rows
// oy*SH - PH ..< oy*SH - PH + KH and the matching columns, clipped to the image.
//
// Forward: one work-item per output. Backward gathers, one work-item per input pixel over
// the windows that cover it (at most ceil(KH/SH) x ceil(KW/SW)): no atomics, and the sum
// order is fixed, so results are deterministic. Max pooling's backward first writes each
// window's route (the index of its first maximal element) to a scratch buffer.
//
// The geometry is compiled in (-D options, one program per layer shape), as in conv.cl:
// every division and modulo is by a constant. The defaults only let the file compile alone.
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
#ifndef KH
#define KH 1  // window height
#endif
#ifndef KW
#define KW 1  // window width
#endif
#ifndef SH
#define SH 1  // vertical stride
#endif
#ifndef SW
#define SW 1  // horizontal stride
#endif
#ifndef PH
#define PH 0  // vertical padding (at most KH/2)
#endif
#ifndef PW
#define PW 0  // horizontal padding (at most KW/2)
#endif
#ifndef COUNT_INCLUDE_PAD
#define COUNT_INCLUDE_PAD 1  // average pooling divides by the window area through the padding (1) or inside the image (0)
#endif

// First and last+1 covered row of window oy, clipped to the image (always non-empty:
// padding is at most half the window).
inline int row_start(const int oy) { return max(oy * SH - PH, 0); }
inline int row_end(const int oy) { return min(oy * SH - PH + KH, IH); }
inline int col_start(const int ox) { return max(ox * SW - PW, 0); }
inline int col_end(const int ox) { return min(ox * SW - PW + KW, IW); }

// The windows covering input row iy: oy in [first, last].
inline int first_window(const int i, const int k, const int s, const int p) {
  const int t = i + p - k + 1;
  return t <= 0 ? 0 : (t + s - 1) / s;
}

// Index within the plane of window (oy, ox)'s first maximal element in row-major order; a
// later element takes over only when strictly greater or NaN (PyTorch's rule).
inline int max_route(__global const float* plane, const int oy, const int ox) {
  const int y0 = row_start(oy), y1 = row_end(oy), x0 = col_start(ox), x1 = col_end(ox);
  int route = y0 * IW + x0;
  float best = -INFINITY;
  for (int iy = y0; iy < y1; ++iy) {
    for (int ix = x0; ix < x1; ++ix) {
      const float v = plane[iy * IW + ix];
      if (v > best || isnan(v)) {
        best = v;
        route = iy * IW + ix;
      }
    }
  }
  return route;
}

__kernel void max_pool2d_fwd(__global const float* x, __global float* y) {
  const int t = get_global_id(0);
  if (t >= NC * OH * OW) return;
  const int ox = t % OW;
  const int oy = (t / OW) % OH;
  __global const float* plane = x + (t / (OH * OW)) * (IH * IW);
  y[t] = plane[max_route(plane, oy, ox)];
}

// route[n, c, oy, ox] = max_route of that window (an index within the plane).
__kernel void max_pool2d_route(__global const float* x, __global int* route) {
  const int t = get_global_id(0);
  if (t >= NC * OH * OW) return;
  const int ox = t % OW;
  const int oy = (t / OW) % OH;
  route[t] = max_route(x + (t / (OH * OW)) * (IH * IW), oy, ox);
}

// y[n, c, oy, ox] = g at window (oy, ox)'s route in x: max_pool2d_bwd's derivative with
// respect to dy (double backprop). g is shaped like x, y like the pooled output.
__kernel void max_pool2d_gather(__global const float* x, __global const float* g, __global float* y) {
  const int t = get_global_id(0);
  if (t >= NC * OH * OW) return;
  const int ox = t % OW;
  const int oy = (t / OW) % OH;
  const int plane = (t / (OH * OW)) * (IH * IW);
  y[t] = g[plane + max_route(x + plane, oy, ox)];
}

// dx[n, c, iy, ix] = sum of dy over the covering windows whose route is this pixel.
__kernel void max_pool2d_bwd(__global const int* route, __global const float* dy, __global float* dx) {
  const int t = get_global_id(0);
  if (t >= NC * IH * IW) return;
  const int ix = t % IW;
  const int iy = (t / IW) % IH;
  const int base = (t / (IH * IW)) * (OH * OW);
  const int here = iy * IW + ix;
  const int oy1 = min((iy + PH) / SH, OH - 1), ox1 = min((ix + PW) / SW, OW - 1);
  const int ox0 = first_window(ix, KW, SW, PW);
  float acc = 0.0f;
  for (int oy = first_window(iy, KH, SH, PH); oy <= oy1; ++oy) {
    for (int ox = ox0; ox <= ox1; ++ox) {
      const int o = base + oy * OW + ox;
      if (route[o] == here) acc += dy[o];
    }
  }
  dx[t] = acc;
}

// Divisor of window (oy, ox). PyTorch clips the padded window at IH + PH, which only
// bites in ceil mode (a last window hanging over the edge).
inline float avg_divisor(const int oy, const int ox) {
#if COUNT_INCLUDE_PAD
  const int hs = oy * SH - PH, ws = ox * SW - PW;
  return (float)((min(hs + KH, IH + PH) - hs) * (min(ws + KW, IW + PW) - ws));
#else
  return (float)((row_end(oy) - row_start(oy)) * (col_end(ox) - col_start(ox)));
#endif
}

__kernel void avg_pool2d_fwd(__global const float* x, __global float* y) {
  const int t = get_global_id(0);
  if (t >= NC * OH * OW) return;
  const int ox = t % OW;
  const int oy = (t / OW) % OH;
  __global const float* plane = x + (t / (OH * OW)) * (IH * IW);
  const int x0 = col_start(ox), x1 = col_end(ox);
  float acc = 0.0f;
  for (int iy = row_start(oy); iy < row_end(oy); ++iy) {
    for (int ix = x0; ix < x1; ++ix) acc += plane[iy * IW + ix];
  }
  y[t] = acc / avg_divisor(oy, ox);
}

// dx[n, c, iy, ix] = sum over covering windows of dy / divisor.
__kernel void avg_pool2d_bwd(__global const float* dy, __global float* dx) {
  const int t = get_global_id(0);
  if (t >= NC * IH * IW) return;
  const int ix = t % IW;
  const int iy = (t / IW) % IH;
  __global const float* grad = dy + (t / (IH * IW)) * (OH * OW);
  const int oy1 = min((iy + PH) / SH, OH - 1), ox1 = min((ix + PW) / SW, OW - 1);
  const int ox0 = first_window(ix, KW, SW, PW);
  float acc = 0.0f;
  for (int oy = first_window(iy, KH, SH, PH); oy <= oy1; ++oy) {
    for (int ox = ox0; ox <= ox1; ++ox) acc += grad[oy * OW + ox] / avg_divisor(oy, ox);
  }
  dx[t] = acc;
}
