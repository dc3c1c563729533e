// Training-data access on the device: batches gathered from a dataset that lives in device
// memory, in the order of DataOrder (Sources/KallimaCore/DataOrder.swift): a keyed Feistel
// permutation per epoch with cycle walking, integer arithmetic only, identical on every
// backend.

// The byte conversion below relies on exact float rounding of each operation.
#pragma OPENCL FP_CONTRACT OFF

#include "philox.h"

inline uint order_mix(uint v) {
  v ^= v >> 16;
  v *= 0x7feb352du;
  v ^= v >> 15;
  v *= 0x846ca68bu;
  v ^= v >> 16;
  return v;
}

inline uint order_permute(uint p, uint epoch, uint seed, uint count, uint bits) {
  const uint mask = (1u << bits) - 1u;
  const uint key = order_mix(seed ^ order_mix(epoch + 0x9e3779b9u));
  uint x = p;
  do {
    uint left = x >> bits;
    uint right = x & mask;
    for (uint round = 0; round < 4u; ++round) {
      const uint f = order_mix(right ^ key ^ (round * 0x85ebca6bu)) & mask;
      const uint next = left ^ f;
      left = right;
      right = next;
    }
    x = (left << bits) | right;
  } while (x >= count);
  return x;
}

// The dataset image of batch sample i (stream item g = position + i), or i itself when the
// source is a streamed window holding the batch in stream order.
inline uint gather_index(ulong g, int i, uint seed, int count, int half_bits, int streamed) {
  if (streamed) return (uint)i;
  return order_permute((uint)(g % (ulong)count), (uint)(g / (ulong)count), seed, (uint)count, (uint)half_bits);
}

// Whether stream item g is mirrored (DataOrder.flips).
inline int gather_mirror(ulong g, uint seed, int flip) {
  return flip && (order_mix((uint)g ^ order_mix(seed ^ 0x0f11f00du ^ (uint)(g >> 32))) & 1u);
}

// v / 127.5f - 1 rounded exactly as IEEE float division would (OpenCL's `/` may be off by
// 2.5 ulp): the product by the float nearest 1/127.5, corrected once by an exact fma
// residual. Checked against Float(v) / 127.5 - 1 for all 256 bytes on the host
// (GatherBytesTests) and on the device (the gather_images_u8 parity cases).
inline float unit_from_byte(uchar b) {
  const float v = (float)b;
  const float r = 0x1.010102p-7f;
  const float q = v * r;
  return fma(fma(-q, 127.5f, v), r, q) - 1.0f;
}

// One work-item per (sample, channel, row) of y [N, C, H, W]: copies row `row` of channel `ch`
// of image index(g) of source [count, C, H, W], mirrored when flip is on and the sample's
// flip bit is set. rows_per_image = C * H.
__kernel void gather_images(__global const float* source, __global float* y, const uint seed,
                            const int count, const int half_bits, const ulong position,
                            const int flip, const int rows_per_image, const int width,
                            const int total_rows) {
  const int t = get_global_id(0);
  if (t >= total_rows) return;
  const int i = t / rows_per_image;
  const ulong g = position + (ulong)i;
  const uint k = gather_index(g, i, seed, count, half_bits, 0);
  const int mirror = gather_mirror(g, seed, flip);
  __global const float* src = source + ((long)k * rows_per_image + t % rows_per_image) * width;
  __global float* dst = y + (long)t * width;
  for (int x = 0; x < width; ++x) dst[x] = src[mirror ? width - 1 - x : x];
}

// gather_images from 8-bit images, converted to [-1, 1] by unit_from_byte. With `streamed`,
// source [N, C, H, W] is the batch's window, already in stream order.
__kernel void gather_images_u8(__global const uchar* source, __global float* y, const uint seed,
                               const int count, const int half_bits, const ulong position,
                               const int flip, const int streamed, const int rows_per_image,
                               const int width, const int total_rows) {
  const int t = get_global_id(0);
  if (t >= total_rows) return;
  const int i = t / rows_per_image;
  const ulong g = position + (ulong)i;
  const uint k = gather_index(g, i, seed, count, half_bits, streamed);
  const int mirror = gather_mirror(g, seed, flip);
  __global const uchar* src = source + ((long)k * rows_per_image + t % rows_per_image) * width;
  __global float* dst = y + (long)t * width;
  for (int x = 0; x < width; ++x) dst[x] = unit_from_byte(src[mirror ? width - 1 - x : x]);
}

// Mismatched conditions (GAN-CLS, Reed et al. 2016): x, y [n, d], one condition per row. One
// work-item per row i: y[i] = x[j] for the first j = (i + s) mod n, s = 1 .. n-1, whose row
// differs from row i in some element (IEEE !=, so -0 equals +0 and NaN differs from all);
// zeros if none does. Worst case n * n * d reads per batch: conditions are short and batches
// small (64 x 10 one-hot rows: 40k compares).
__kernel void mismatch_rows(__global const float* x, __global float* y, const int n, const int d) {
  const int i = get_global_id(0);
  if (i >= n) return;
  __global const float* row = x + (long)i * d;
  int partner = -1;
  for (int s = 1; s < n && partner < 0; ++s) {
    const int j = i + s < n ? i + s : i + s - n;
    __global const float* other = x + (long)j * d;
    for (int k = 0; k < d; ++k) {
      if (other[k] != row[k]) {
        partner = j;
        break;
      }
    }
  }
  __global float* dst = y + (long)i * d;
  if (partner < 0) {
    for (int k = 0; k < d; ++k) dst[k] = 0.0f;
  } else {
    __global const float* src = x + (long)partner * d;
    for (int k = 0; k < d; ++k) dst[k] = src[k];
  }
}

// Random crops (pix2pix's resize_and_crop): y [N, C, h, w] from x [N, C, H, W]. One work-item
// per (sample, channel, row) of y; sample i (stream item position + i) starts at row
// w0 % rows and column w1 % columns of its Philox block (Philox.cropOrigin), rows = H - h + 1,
// columns = W - w + 1.
__kernel void random_crop(__global const float* x, __global float* y, const ulong seed, const ulong position,
                          const int channels, const int height, const int width, const int in_height,
                          const int in_width, const int total_rows) {
  const int t = get_global_id(0);
  if (t >= total_rows) return;
  const int r = t % height;
  const int plane = t / height;  // sample * channels + channel
  const int i = plane / channels;
  const uint4 b = philox_block(seed, position + (ulong)i);
  const int oy = (int)(b.x % (uint)(in_height - height + 1));
  const int ox = (int)(b.y % (uint)(in_width - width + 1));
  __global const float* src = x + ((long)plane * in_height + r + oy) * in_width + ox;
  __global float* dst = y + (long)t * width;
  for (int col = 0; col < width; ++col) dst[col] = src[col];
}

// CycleGAN's image pool (Backend.image_pool): pool [P, E], x and y [N, E] with E = C*H*W.
// One work-item per element e owns column e of the pool, x and y and walks the batch in
// order, so an image stored earlier in the batch is the one a later swap shows, with no
// barrier: every work-item makes the same choices (Philox.poolSwap).
__kernel void image_pool(__global float* pool, __global const float* x, __global float* y, const ulong seed,
                         const ulong position, const int slots, const int n, const int image) {
  const int e = get_global_id(0);
  if (e >= image) return;
  for (int i = 0; i < n; ++i) {
    const ulong t = position + (ulong)i;
    const float fresh = x[(long)i * image + e];
    float shown = fresh;
    if (t < (ulong)slots) {
      pool[(long)t * image + e] = fresh;
    } else {
      const uint4 b = philox_block(seed, t);
      if (unit_open(b.x) > 0.5f) {
        __global float* slot = pool + (long)(b.y % (uint)slots) * image + e;
        shown = *slot;
        *slot = fresh;
      }
    }
    y[(long)i * image + e] = shown;
  }
}
