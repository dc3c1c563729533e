// Shared work-group reduction, pulled into a program by `#include "reduce.h"`
// (Kallima's host code inlines it; `-I Kernels` works for standalone compiles).
#ifndef KALLIMA_REDUCE_H
#define KALLIMA_REDUCE_H

// Work-items per reduction group. A power of two; the host launches exactly this many
// per group (OpenCLBackend.reduceGroupSize must agree).
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

#endif
