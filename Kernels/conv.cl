// Convolution building blocks. conv2d and its transpose both run as no-transpose GEMMs
// (Kernels/gemm.cl or CLBlast) between a weight matrix W [K, C*KH*KW] and column matrices
// built here:
//   conv2d forward:         cols = im2col(x); y' = W * cols;     y = cnhw_to_nchw(y') + bias
//   conv2d data gradient:   dy' = nchw_to_cnhw(dy); dcols = Wt * dy'; dx = col2im(dcols)
//                           (Wt = W^T, transposed by the host: small next to the GEMM)
//   conv2d weight gradient: colsT = im2col_t(x); dW = dy' * colsT   (colsT = cols^T)
// The transpose swaps the roles (its forward is conv2d's data gradient). Column and
// channel-major matrices have a leading dimension of their own (COLS_LD, PERM_LD), a little
// more than their width, so that rows are not a multiple of 4 KiB apart (cache sets).
// "Image" tensors are [N, C, H, W]; the patch grid has OH x OW positions with
// iy = oy*SH - PH + i, ix = ox*SW - PW + j.
//
// The geometry is compiled in (-D options, one program per layer shape, cached like any
// other): every division and modulo below is by a constant, which compilers turn into
// multiplies. With run-time sizes, integer division dominated these kernels on PoCL
// (im2col ran at 0.3 GB/s). The defaults only let the file compile on its own.
#ifndef IMG_C
#define IMG_C 1  // image channels
#endif
#ifndef IMG_H
#define IMG_H 1  // image height
#endif
#ifndef IMG_W
#define IMG_W 1  // image width
#endif
#ifndef KH
#define KH 1  // kernel height
#endif
#ifndef KW
#define KW 1  // kernel width
#endif
#ifndef SH
#define SH 1  // vertical stride
#endif
#ifndef SW
#define SW 1  // horizontal stride
#endif
#ifndef PH
#define PH 0  // vertical padding
#endif
#ifndef PW
#define PW 0  // horizontal padding
#endif
#ifndef OH
#define OH 1  // patch-grid height
#endif
#ifndef OW
#define OW 1  // patch-grid width
#endif
#ifndef NB
#define NB 1  // batch size
#endif
#ifndef PERM_C
#define PERM_C 1  // channels of a layout permutation
#endif
#ifndef PERM_P
#define PERM_P 1  // pixels per channel of a layout permutation
#endif

#define NP (NB * OH * OW)
#define PATCH (IMG_C * KH * KW)
#ifndef COLS_LD
#define COLS_LD NP  // row stride of cols (im2col, col2im), or of colsT (im2col_t): PATCH
#endif
#ifndef PERM_LD
#define PERM_LD (NB * PERM_P)  // row stride of a channel-major [PERM_C, NB*PERM_P] matrix
#endif

// The grid positions t (of `count`) whose input coordinate t*s - p + j lies in [0, size)
// run from firstInside to lastInside; none when first > last. Floor divisions: p - j and
// size - 1 + p - j may be negative (a kernel wider than the image plus its padding).
int firstInside(int s, int p, int j, int count) {
  const int a = p - j;
  return min(count, a <= 0 ? 0 : (a + s - 1) / s);
}
int lastInside(int size, int s, int p, int j, int count) {
  const int b = size - 1 + p - j;
  return b < 0 ? -1 : min(count - 1, b / s);
}

// cols[(c*KH + i)*KW + j][n*OH*OW + oy*OW + ox] = image[n, c, iy, ix] (0 outside); row stride COLS_LD.
// One work-item per (row, n): it writes the OH*OW consecutive columns of that image's patch
// grid, each grid row as its padding on the left, a strided copy of the image row, and its
// padding on the right (no bounds test per element). 1.6-1.9x the form with one work-item
// per grid row on PoCL at DCGAN's layers.
__kernel void im2col(__global const float* image, __global float* cols) {
  const int t = get_global_id(0);
  if (t >= PATCH * NB) return;
  const int n = t % NB;
  const int r = t / NB;  // (c*KH + i)*KW + j
  const int j = r % KW;
  const int i = (r / KW) % KH;
  const int c = r / (KW * KH);
  __global float* out = cols + r * COLS_LD + n * OH * OW;
  __global const float* plane = image + (n * IMG_C + c) * IMG_H * IMG_W;
  const int lo = firstInside(SW, PW, j, OW);
  const int hi = lastInside(IMG_W, SW, PW, j, OW);
  for (int oy = 0; oy < OH; ++oy) {
    const int iy = oy * SH - PH + i;
    __global float* o = out + oy * OW;
    if (iy < 0 || iy >= IMG_H) {
      for (int ox = 0; ox < OW; ++ox) o[ox] = 0.0f;
      continue;
    }
    __global const float* row = plane + iy * IMG_W - PW + j;
    for (int ox = 0; ox < lo; ++ox) o[ox] = 0.0f;
    for (int ox = lo; ox <= hi; ++ox) o[ox] = row[ox * SW];
    for (int ox = max(lo, hi + 1); ox < OW; ++ox) o[ox] = 0.0f;
  }
}

// colsT[n*OH*OW + oy*OW + ox][(c*KH + i)*KW + j] = image[n, c, iy, ix] (0 outside): im2col's
// transpose, the B operand of the weight gradient; row stride COLS_LD (>= PATCH). One
// work-item per (position, c): it writes that channel's KH*KW consecutive entries.
__kernel void im2col_t(__global const float* image, __global float* cols) {
  const int t = get_global_id(0);
  if (t >= NP * IMG_C) return;
  const int c = t % IMG_C;
  const int q = t / IMG_C;  // n*OH*OW + oy*OW + ox
  const int ox = q % OW;
  const int oy = (q / OW) % OH;
  const int n = q / (OW * OH);
  __global const float* plane = image + (n * IMG_C + c) * IMG_H * IMG_W;
  __global float* out = cols + q * COLS_LD + c * KH * KW;
  for (int i = 0; i < KH; ++i) {
    const int iy = oy * SH - PH + i;
    const bool rowInside = iy >= 0 && iy < IMG_H;
    for (int j = 0; j < KW; ++j) {
      const int ix = ox * SW - PW + j;
      out[i * KW + j] = (rowInside && ix >= 0 && ix < IMG_W) ? plane[iy * IMG_W + ix] : 0.0f;
    }
  }
}

// image[n, c, iy, ix] = sum of the column entries im2col would have read from it (+ bias[c]
// when bias is not NULL). Deterministic (no atomics). One work-item per image row, ordered
// (c, n, iy) so that neighbouring work-items read neighbouring stretches of each cols row.
// Only the rows i with iy + PH - i on the patch grid are visited (2 of 4 at k4 s2).
// COL2IM_GATHER 0 (CPUs): the row is built in private memory by adding each cols stretch
// in turn (contiguous reads; 2-3x the gather form on PoCL at DCGAN's shapes).
// COL2IM_GATHER 1 (GPUs, where a private array of IMG_W floats would spill): each output
// sums its own taps.
#ifndef COL2IM_GATHER
#define COL2IM_GATHER 0
#endif
__kernel void col2im(__global const float* cols, __global float* image, __global const float* bias) {
  const int t = get_global_id(0);
  if (t >= NB * IMG_C * IMG_H) return;
  const int iy = t % IMG_H;
  const int n = (t / IMG_H) % NB;
  const int c = t / (IMG_H * NB);
  const float b = bias ? bias[c] : 0.0f;
  __global float* out = image + ((n * IMG_C + c) * IMG_H + iy) * IMG_W;
#if COL2IM_GATHER
  int rowOffset[KH];  // cols offsets of the rows (c, i, 0) at grid row oy, for each i on the grid
  int taps = 0;
  for (int i = 0; i < KH; ++i) {
    const int ty = iy + PH - i;
    if (ty < 0 || ty % SH != 0 || ty / SH >= OH) continue;
    rowOffset[taps++] = (c * KH + i) * KW * COLS_LD + (n * OH + ty / SH) * OW;
  }
  for (int ix = 0; ix < IMG_W; ++ix) {
    const int tx0 = ix + PW;
    float acc = b;
    for (int j = tx0 % SW; j < KW && j <= tx0; j += SW) {
      const int tx = (tx0 - j) / SW;
      if (tx >= OW) continue;
      for (int r = 0; r < taps; ++r) acc += cols[rowOffset[r] + j * COLS_LD + tx];
    }
    out[ix] = acc;
  }
#else
  float row[IMG_W];
  for (int ix = 0; ix < IMG_W; ++ix) row[ix] = b;
  for (int i = 0; i < KH; ++i) {
    const int ty = iy + PH - i;
    if (ty < 0 || ty % SH != 0 || ty / SH >= OH) continue;
    __global const float* src = cols + (c * KH + i) * KW * COLS_LD + (n * OH + ty / SH) * OW;
    for (int j = 0; j < KW; ++j) {
      const int lo = firstInside(SW, PW, j, OW);
      const int hi = lastInside(IMG_W, SW, PW, j, OW);
      for (int tx = lo; tx <= hi; ++tx) row[tx * SW - PW + j] += src[j * COLS_LD + tx];
    }
  }
  for (int ix = 0; ix < IMG_W; ++ix) out[ix] = row[ix];
#endif
}

// dst[c, n*PERM_P + p] = src[n, c, p] for src [NB, PERM_C, PERM_P]; dst's row stride is PERM_LD.
__kernel void nchw_to_cnhw(__global const float* src, __global float* dst) {
  const int t = get_global_id(0);
  if (t >= NB * PERM_C * PERM_P) return;
  const int p = t % PERM_P;
  const int c = (t / PERM_P) % PERM_C;
  const int n = t / (PERM_P * PERM_C);
  dst[c * PERM_LD + n * PERM_P + p] = src[t];
}

// dst[n, c, p] = src[c, n*PERM_P + p] (+ bias[c] when bias is not NULL) for dst [NB, PERM_C, PERM_P];
// src's row stride is PERM_LD.
__kernel void cnhw_to_nchw(__global const float* src, __global float* dst, __global const float* bias) {
  const int t = get_global_id(0);
  if (t >= NB * PERM_C * PERM_P) return;
  const int p = t % PERM_P;
  const int c = (t / PERM_P) % PERM_C;
  const int n = t / (PERM_P * PERM_C);
  float v = src[c * PERM_LD + n * PERM_P + p];
  if (bias) v += bias[c];
  dst[t] = v;
}
