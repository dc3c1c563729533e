// Sums to a scalar and per channel, in the two passes of reduce.h: `sum_partials` then
// `sum_partials_finish` (which other programs' partial kernels share).
#include "reduce.h"

// partials[gid] = Σ of split gid % splits of row gid / splits (layout: see reduce.h).
// One work-group of REDUCE_WG items per (row, split).
__kernel void sum_partials(__global const float* x, __global float* partials, const int count,
                           const int chunk, const int splits, const int inner,
                           const int outer_stride) {
  __local float scratch[REDUCE_WG];
  const int gid = get_group_id(0);
  span_t sp = item_span(gid / splits, gid % splits, count, chunk, inner, outer_stride);
  float acc = 0.0f;
  int at;
  for (int n; (n = span_next(&sp, inner, outer_stride, &at)) > 0;) acc += run_sum(x + at, n);
  const float total = group_sum(acc, scratch);
  if (get_local_id(0) == 0) partials[gid] = total;
}

// y[r] = alpha * Σ_s partials[r * splits + s], s ascending; one work-item per row.
__kernel void sum_partials_finish(__global const float* partials, __global float* y,
                                  const int rows, const int splits, const float alpha) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  float acc = 0.0f;
  for (int s = 0; s < splits; ++s) acc += partials[r * splits + s];
  y[r] = alpha * acc;
}
