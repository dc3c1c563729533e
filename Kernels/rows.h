// Row runs: ops over rows of contiguous values (NC planes of `inner` values, channel blocks)
// give each work-item one contiguous run of a row, up to ROW_SEGMENT values, read and
// written eight at a time (vload8/vstore8). Whatever the op needs per row (a channel
// p % C, a destination row) is found once per run, not by divisions per element, and the
// loops compile to vector code on PoCL. The host launches rows * segments work-items
// (OpenCLBackend.launchRowRuns, whose rowSegment must equal ROW_SEGMENT).
#ifndef KALLIMA_ROWS_H
#define KALLIMA_ROWS_H

#ifndef ROW_SEGMENT
#define ROW_SEGMENT 2048  // the longest run one work-item takes (a multiple of 8)
#endif

typedef struct {
  int row;    // which row
  int begin;  // first value of the run within the row
  int end;    // one past its last
} row_run;

// The run of work-item get_global_id(0) over rows of `inner` values.
inline row_run item_run(const int inner) {
  const int segments = (inner + ROW_SEGMENT - 1) / ROW_SEGMENT;
  const int id = get_global_id(0);
  row_run r;
  r.row = id / segments;
  r.begin = (id - r.row * segments) * ROW_SEGMENT;
  r.end = min(inner, r.begin + ROW_SEGMENT);
  return r;
}

// dst[k] = src[k] for k in [begin, end).
inline void run_copy(__global const float* src, __global float* dst, const int begin, const int end) {
  int k = begin;
  for (; k + 8 <= end; k += 8) vstore8(vload8(0, src + k), 0, dst + k);
  for (; k < end; ++k) dst[k] = src[k];
}

#endif
