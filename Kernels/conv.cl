// Convolution building blocks. conv2d and its transpose both run as GEMMs (CLBlast)
// between a weight matrix [K, C*KH*KW] and a column matrix [C*KH*KW, N*OH*OW] built here:
//   conv2d forward:         cols = im2col(x); y' = W * cols;    y = cnhw_to_nchw(y') + bias
//   conv2d data gradient:   dy' = nchw_to_cnhw(dy); dcols = W^T * dy'; dx = col2im(dcols)
//   conv2d weight gradient: dW = dy' * cols^T
// The transpose swaps the roles (its forward is conv2d's data gradient).
// "Image" tensors are [N, C, H, W]; the patch grid has OH x OW positions with
// iy = oy*SH - PH + i, ix = ox*SW - PW + j.

// cols[(c*KH + i)*KW + j][n*OH*OW + oy*OW + ox] = image[n, c, iy, ix] (0 outside).
// total = C*KH*KW * N*OH*OW.
__kernel void im2col(__global const float* image, __global float* cols,
                     const int C, const int H, const int W, const int KH, const int KW,
                     const int SH, const int SW, const int PH, const int PW,
                     const int OH, const int OW, const int N, const int total) {
  const int t = get_global_id(0);
  if (t >= total) return;
  const int np = N * OH * OW;
  const int p = t % np;
  const int r = t / np;
  const int ox = p % OW;
  const int oy = (p / OW) % OH;
  const int n = p / (OW * OH);
  const int j = r % KW;
  const int i = (r / KW) % KH;
  const int c = r / (KW * KH);
  const int iy = oy * SH - PH + i;
  const int ix = ox * SW - PW + j;
  float v = 0.0f;
  if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = image[((n * C + c) * H + iy) * W + ix];
  cols[t] = v;
}

// image[n, c, iy, ix] = sum of the column entries that im2col would have read from it,
// plus bias[c] when bias is not NULL. Gathers (no atomics): deterministic.
// total = N*C*H*W.
__kernel void col2im(__global const float* cols, __global float* image, __global const float* bias,
                     const int C, const int H, const int W, const int KH, const int KW,
                     const int SH, const int SW, const int PH, const int PW,
                     const int OH, const int OW, const int N, const int total) {
  const int t = get_global_id(0);
  if (t >= total) return;
  const int ix = t % W;
  const int iy = (t / W) % H;
  const int c = (t / (W * H)) % C;
  const int n = t / (W * H * C);
  const int np = N * OH * OW;
  float acc = 0.0f;
  for (int i = 0; i < KH; ++i) {
    const int ty = iy + PH - i;
    if (ty < 0 || ty % SH != 0) continue;
    const int oy = ty / SH;
    if (oy >= OH) continue;
    for (int j = 0; j < KW; ++j) {
      const int tx = ix + PW - j;
      if (tx < 0 || tx % SW != 0) continue;
      const int ox = tx / SW;
      if (ox >= OW) continue;
      acc += cols[((c * KH + i) * KW + j) * np + (n * OH + oy) * OW + ox];
    }
  }
  if (bias) acc += bias[c];
  image[t] = acc;
}

// dst[c, n, p] = src[n, c, p]; total = N*C*P.
__kernel void nchw_to_cnhw(__global const float* src, __global float* dst, const int N,
                           const int C, const int P, const int total) {
  const int t = get_global_id(0);
  if (t >= total) return;
  const int p = t % P;
  const int c = (t / P) % C;
  const int n = t / (P * C);
  dst[(c * N + n) * P + p] = src[t];
}

// dst[n, c, p] = src[c, n, p] (+ bias[c] when bias is not NULL); total = N*C*P.
__kernel void cnhw_to_nchw(__global const float* src, __global float* dst,
                           __global const float* bias, const int N, const int C, const int P,
                           const int total) {
  const int t = get_global_id(0);
  if (t >= total) return;
  const int p = t % P;
  const int c = (t / P) % C;
  const int n = t / (P * C);
  float v = src[(c * N + n) * P + p];
  if (bias) v += bias[c];
  dst[t] = v;
}
