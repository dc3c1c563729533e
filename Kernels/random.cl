// Philox4x32-10 (Salmon et al., SC 2011) and the uniform/normal transforms, written with
// float adds and multiplies only, in the same order as Sources/KallimaCore/Philox.swift, so
// every backend produces identical bits. Contraction into fma would change the rounding.
#pragma OPENCL FP_CONTRACT OFF

#include "philox.h"

// log(x) for x in (0, 1]: Cephes logf.
inline float kl_log(float x) {
  const uint bits = as_uint(x);
  int e = (int)((bits >> 23) & 0xffu) - 126;
  float m = as_float((bits & 0x007fffffu) | 0x3f000000u);
  if (m < 0.707106781186547524f) { e -= 1; m = m + m - 1.0f; } else { m = m - 1.0f; }
  const float z = m * m;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  float y = p * m * z;
  const float fe = (float)e;
  y = y + -2.12194440e-4f * fe;
  y = y + -0.5f * z;
  float r = m + y;
  r = r + 0.693359375f * fe;
  return r;
}

// sqrt(v), v >= 0: three Newton steps on 1/sqrt from the classic bit-level guess.
inline float kl_sqrt(float v) {
  float y = as_float(0x5f3759dfu - (as_uint(v) >> 1));
  for (int k = 0; k < 3; ++k) y = y * (1.5f - ((0.5f * v) * y) * y);
  return v * y;
}

// (sin, cos) of 2*pi*u for u in [0, 1).
inline float2 kl_sincos_2pi(float u) {
  const float t = u * 4.0f;
  const int q = (int)t;
  const float f = t - (float)q;
  const int flip = f > 0.5f;
  const float a = (flip ? 1.0f - f : f) * 1.57079632679489662f;
  const float z = a * a;
  float s = -1.9515295891e-4f;
  s = s * z + 8.3321608736e-3f;
  s = s * z - 1.6666654611e-1f;
  s = s * z * a + a;
  float c = 2.443315711809948e-5f;
  c = c * z - 1.388731625493765e-3f;
  c = c * z + 4.166664568298827e-2f;
  c = c * z * z - 0.5f * z + 1.0f;
  const float sa = flip ? c : s;
  const float ca = flip ? s : c;
  switch (q) {
    case 0: return (float2)(sa, ca);
    case 1: return (float2)(ca, -sa);
    case 2: return (float2)(-sa, -ca);
    default: return (float2)(-ca, sa);
  }
}

// One work-item per Philox block: values 4b .. 4b+3 of the fill come from block counter + b.
// y[i] = low + (high - low) * U[0,1) from word i%4 of block counter + i/4.
__kernel void random_uniform(__global float* y, const ulong seed, const ulong counter,
                             const float low, const float high, const int n) {
  const int b = get_global_id(0);
  if (4 * b >= n) return;
  const uint4 w = philox_block(seed, counter + (ulong)b);
  for (int k = 0; k < 4 && 4 * b + k < n; ++k) {
    y[4 * b + k] = low + (high - low) * unit_open(word_of(w, k));
  }
}

// Box-Muller on word pairs (0,1) and (2,3): even i takes r*cos, odd i r*sin.
__kernel void random_normal(__global float* y, const ulong seed, const ulong counter,
                            const float mean, const float std, const int n) {
  const int b = get_global_id(0);
  if (4 * b >= n) return;
  const uint4 w = philox_block(seed, counter + (ulong)b);
  for (int pair = 0; pair < 2 && 4 * b + 2 * pair < n; ++pair) {
    const float u1 = unit_closed(word_of(w, 2 * pair));
    const float u2 = unit_open(word_of(w, 2 * pair + 1));
    const float r = kl_sqrt(-2.0f * kl_log(u1));
    const float2 sc = kl_sincos_2pi(u2);
    const int i = 4 * b + 2 * pair;
    y[i] = mean + std * (r * sc.y);
    if (i + 1 < n) y[i + 1] = mean + std * (r * sc.x);
  }
}

// Inverted-dropout mask: y[i] = u >= p ? keep : 0, u the value random_uniform(low 0, high 1)
// draws at i (0 + 1*u is u exactly); keep = 1/(1 - p) formed on the host in float.
__kernel void dropout_mask(__global float* y, const ulong seed, const ulong counter, const float p,
                           const float keep, const int n) {
  const int b = get_global_id(0);
  if (4 * b >= n) return;
  const uint4 w = philox_block(seed, counter + (ulong)b);
  for (int k = 0; k < 4 && 4 * b + k < n; ++k) {
    y[4 * b + k] = unit_open(word_of(w, k)) >= p ? keep : 0.0f;
  }
}
