// Reductions to a scalar and per channel. One work-group per output, REDUCE_WG items each.
#include "reduce.h"

// y[0] = alpha * sum(x[0..n)). Launched as a single work-group.
__kernel void reduce_sum(__global const float* x, __global float* y, const int n,
                         const float alpha) {
  __local float scratch[REDUCE_WG];
  float acc = 0.0f;
  for (int i = get_local_id(0); i < n; i += REDUCE_WG) acc += x[i];
  const float total = group_sum(acc, scratch);
  if (get_local_id(0) == 0) y[0] = alpha * total;
}

// y[c] = sum over (o, i) of x[o, c, i]; one work-group per channel.
__kernel void channel_sum(__global const float* x, __global float* y, const int outer,
                          const int channels, const int inner) {
  __local float scratch[REDUCE_WG];
  const int c = get_group_id(0);
  const int m = outer * inner;
  float acc = 0.0f;
  for (int e = get_local_id(0); e < m; e += REDUCE_WG) {
    acc += x[((e / inner) * channels + c) * inner + e % inner];
  }
  const float total = group_sum(acc, scratch);
  if (get_local_id(0) == 0) y[c] = total;
}
