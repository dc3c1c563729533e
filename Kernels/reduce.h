// Shared reduction helpers, pulled into a program by `#include "reduce.h"` (Kallima's host
// code inlines it; `-I Kernels` works for standalone compiles).
//
// Every reduction runs in two passes with no atomics, so a fixed launch shape gives a fixed
// summation order (deterministic results):
//  1. "partials": the values of each reduction row g (a channel, an instance, or the whole
//     tensor) are cut into `splits` chunks of `chunk` values; one work-group per (g, split)
//     reduces its chunk into partials[g * splits + split]. Inside a group each work-item
//     takes a contiguous share of the chunk (a multiple of 8 values), read with vload8 in
//     contiguous runs: no division per element, and loops PoCL compiles to vector code.
//  2. "finish": one work-item per row combines its row's partials in split order.
// The host (OpenCLBackend+Reduction.swift) chooses `splits` and `chunk` from the sizes and
// the device's compute units.
#ifndef KALLIMA_REDUCE_H
#define KALLIMA_REDUCE_H

// Work-items per reduction group. A power of two; the host compiles every program with
// -DREDUCE_WG (OpenCLBackend.reductionGroupSize: 16 on CPUs, 256 elsewhere) and launches
// exactly this many per group. The default only lets the file compile on its own.
#ifndef REDUCE_WG
#define REDUCE_WG 256
#endif

// Sum of `v` over the work-group; every item gets the result. `scratch` holds REDUCE_WG
// floats of local memory. Pairwise tree: deterministic for a given launch shape.
inline float group_sum(float v, __local float* scratch) {
  const int lid = get_local_id(0);
  scratch[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = REDUCE_WG / 2; s > 0; s >>= 1) {
    if (lid < s) scratch[lid] += scratch[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float result = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);  // scratch may be reused right after
  return result;
}

// The eight lanes of `a` added pairwise.
inline float lane_sum8(const float8 a) {
  return ((a.s0 + a.s1) + (a.s2 + a.s3)) + ((a.s4 + a.s5) + (a.s6 + a.s7));
}

// One work-item's share of split `s` of reduction row `g`. Row g holds `count` values;
// value e sits at (e / inner) * outer_stride + g * inner + e % inner (batch norm: inner =
// H*W, outer_stride = C*H*W; a whole tensor: inner = count). The share is walked as
// contiguous runs of at most `inner` values (`span_next`).
typedef struct {
  int e;     // next value of the row
  int end;   // one past the share's last value
  int i;     // e % inner
  int addr;  // where value e sits
} span_t;

// The number of values split `s` of a row holds.
inline int split_length(const int s, const int count, const int chunk) {
  return min(count - s * chunk, chunk);
}

inline span_t item_span(const int g, const int s, const int count, const int chunk, const int inner,
                        const int outer_stride) {
  const int begin = s * chunk;
  const int len = split_length(s, count, chunk);
  const int per = ((len + REDUCE_WG - 1) / REDUCE_WG + 7) & ~7;  // a multiple of 8
  const int lid = get_local_id(0);
  span_t sp;
  sp.e = begin + min(len, lid * per);
  sp.end = begin + min(len, (lid + 1) * per);
  sp.i = sp.e % inner;
  sp.addr = (sp.e / inner) * outer_stride + g * inner + sp.i;
  return sp;
}

// A whole row as one share (for kernels that give each work-item a row).
inline span_t row_span(const int g, const int count, const int inner) {
  span_t sp;
  sp.e = 0;
  sp.end = count;
  sp.i = 0;
  sp.addr = g * inner;
  return sp;
}

// The length of the share's next contiguous run (0 once it is walked) and, in *at, where
// the run starts.
inline int span_next(span_t* sp, const int inner, const int outer_stride, int* at) {
  const int n = min(inner - sp->i, sp->end - sp->e);
  *at = sp->addr;
  sp->e += n;
  sp->i += n;
  sp->addr += n;
  if (sp->i == inner) {
    sp->i = 0;
    sp->addr += outer_stride - inner;
  }
  return n;
}

// Σ p[0..len): eight lanes, then the scalar tail.
inline float run_sum(__global const float* p, const int len) {
  float8 a = 0.0f;
  int k = 0;
  for (; k + 8 <= len; k += 8) a += vload8(0, p + k);
  float s = 0.0f;
  for (; k < len; ++k) s += p[k];
  return lane_sum8(a) + s;
}

// Σ (p[k] - mu)² over [0, len).
inline float run_sq_dev(__global const float* p, const int len, const float mu) {
  float8 a = 0.0f;
  int k = 0;
  for (; k + 8 <= len; k += 8) {
    const float8 d = vload8(0, p + k) - mu;
    a += d * d;
  }
  float s = 0.0f;
  for (; k < len; ++k) s += (p[k] - mu) * (p[k] - mu);
  return lane_sum8(a) + s;
}

#endif
