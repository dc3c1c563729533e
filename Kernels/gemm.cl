// SGEMM for devices where one work-item with a large register tile beats CLBlast's
// work-group tiling: PoCL on CPUs, where a work-item is a loop iteration and a vector type
// is a SIMD register. Row-major, C = alpha·op(A)·B + beta·C, batched over dimension 2.
//
// Each work-item computes GEMM_MR rows × (GEMM_NV·GEMM_VW) columns of C over one k-slice
// (offsetA/offsetB: the host runs long reductions as slices of at most 1024, each adding
// into C with beta 1, so that B's strip below stays in cache): per k it loads GEMM_NV
// vectors of B's row k, broadcasts GEMM_MR scalars of A and issues GEMM_MR·GEMM_NV
// vector FMAs into accumulators that stay in registers (8 × 2 float16 = 16 of AVX-512's
// 32 registers). No local memory and no packing: B's strip of a work-item column is
// reused from cache by the work-items below it, which dimension 0 (rows) runs first.
// `kallima tune` picks the tile per device and shape.
//
// No transposes: A is [M, K], B is [K, N] (the convolutions lay their column matrices out
// so, and transpose the small weight matrix when they need Wᵀ). Rows past M repeat row
// M − 1 and are not stored; a column strip past N takes a scalar path.
#ifndef GEMM_MR
#define GEMM_MR 8  // rows of C per work-item
#endif
#ifndef GEMM_NV
#define GEMM_NV 2  // vectors of C per row per work-item
#endif
#ifndef GEMM_VW
#define GEMM_VW 16  // vector width: 16, 8 or 4
#endif
#ifndef GEMM_KU
#define GEMM_KU 4  // unroll of the reduction loop (steps per block)
#endif

#if GEMM_VW == 16
#define VFLOAT float16
#define VLOAD vload16
#define VSTORE vstore16
#elif GEMM_VW == 8
#define VFLOAT float8
#define VLOAD vload8
#define VSTORE vstore8
#elif GEMM_VW == 4
#define VFLOAT float4
#define VLOAD vload4
#define VSTORE vstore4
#else
#error "GEMM_VW must be 16, 8 or 4"
#endif

#define GEMM_NR (GEMM_NV * GEMM_VW)

#define A_AT(row, k) a[(row) * lda + (k)]

// One step of the reduction: B's row kk (GEMM_NV vectors) times GEMM_MR scalars of A's
// column kk, into the accumulators.
#define GEMM_STEP(kk)                                                        \
  do {                                                                       \
    VFLOAT bv[GEMM_NV];                                                      \
    _Pragma("unroll") for (int v = 0; v < GEMM_NV; ++v) bv[v] = VLOAD(v, b + (kk) * ldb); \
    _Pragma("unroll") for (int i = 0; i < GEMM_MR; ++i) {                    \
      const VFLOAT s = (VFLOAT)(A_AT(rows[i], (kk)));                        \
      _Pragma("unroll") for (int v = 0; v < GEMM_NV; ++v) acc[i][v] = fma(s, bv[v], acc[i][v]); \
    }                                                                        \
  } while (0)

__kernel void gemm(const int M, const int N, const int K, const float alpha,
                   __global const float* restrict A, const int offsetA, const int lda, const int strideA,
                   __global const float* restrict B, const int offsetB, const int ldb, const int strideB,
                   const float beta,
                   __global float* restrict C, const int ldc, const int strideC) {
  const int m0 = get_global_id(0) * GEMM_MR;
  const int n0 = get_global_id(1) * GEMM_NR;
  if (m0 >= M || n0 >= N) return;
  __global const float* a = A + offsetA + get_global_id(2) * strideA;
  __global const float* b = B + offsetB + get_global_id(2) * strideB + n0;
  __global float* c = C + get_global_id(2) * strideC + n0;
  int rows[GEMM_MR];
#pragma unroll
  for (int i = 0; i < GEMM_MR; ++i) rows[i] = min(m0 + i, M - 1);

  if (n0 + GEMM_NR <= N) {
    VFLOAT acc[GEMM_MR][GEMM_NV];
#pragma unroll
    for (int i = 0; i < GEMM_MR; ++i)
#pragma unroll
      for (int v = 0; v < GEMM_NV; ++v) acc[i][v] = (VFLOAT)(0.0f);
    // The reduction in blocks of GEMM_KU steps (a loop of constant trip count, which the
    // compiler unrolls; `#pragma unroll N` on the loop over K was refused by PoCL's LLVM),
    // then the K % GEMM_KU steps left.
    int k = 0;
    for (; k + GEMM_KU <= K; k += GEMM_KU) {
#pragma unroll
      for (int u = 0; u < GEMM_KU; ++u) GEMM_STEP(k + u);
    }
    for (; k < K; ++k) GEMM_STEP(k);
#pragma unroll
    for (int i = 0; i < GEMM_MR; ++i) {
      if (m0 + i >= M) break;
      __global float* row = c + (m0 + i) * ldc;
#pragma unroll
      for (int v = 0; v < GEMM_NV; ++v) {
        VFLOAT r = alpha * acc[i][v];
        if (beta != 0.0f) r += beta * VLOAD(v, row);
        VSTORE(r, v, row);
      }
    }
    return;
  }

  // The last, partial column strip: scalars, one column at a time.
  for (int j = 0; j < N - n0; ++j) {
    float acc[GEMM_MR];
#pragma unroll
    for (int i = 0; i < GEMM_MR; ++i) acc[i] = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float bk = b[k * ldb + j];
#pragma unroll
      for (int i = 0; i < GEMM_MR; ++i) acc[i] = fma(A_AT(rows[i], k), bk, acc[i]);
    }
#pragma unroll
    for (int i = 0; i < GEMM_MR; ++i) {
      if (m0 + i >= M) break;
      __global float* out = c + (m0 + i) * ldc + j;
      *out = alpha * acc[i] + (beta != 0.0f ? beta * *out : 0.0f);
    }
  }
}

// dst[c * ldd + r] = src[r * lds + c] for src [rows, columns]: one work-item per block of
// TRANSPOSE_BLOCK x TRANSPOSE_BLOCK (dimension 0 over column blocks, 1 over row blocks), so
// that both the reads and the writes run along rows. For the weight matrices of the data
// gradients (small next to their GEMM; one work-item per element was 2.9% of a DCGAN step).
#define TRANSPOSE_BLOCK 16
__kernel void transpose(__global const float* src, __global float* dst, const int rows, const int columns,
                        const int lds, const int ldd) {
  const int c0 = get_global_id(0) * TRANSPOSE_BLOCK;
  const int r0 = get_global_id(1) * TRANSPOSE_BLOCK;
  if (c0 >= columns || r0 >= rows) return;
  const int cn = min(TRANSPOSE_BLOCK, columns - c0);
  const int rn = min(TRANSPOSE_BLOCK, rows - r0);
  float block[TRANSPOSE_BLOCK][TRANSPOSE_BLOCK];
  for (int r = 0; r < rn; ++r)
    for (int c = 0; c < cn; ++c) block[c][r] = src[(r0 + r) * lds + c0 + c];
  for (int c = 0; c < cn; ++c)
    for (int r = 0; r < rn; ++r) dst[(c0 + c) * ldd + r0 + r] = block[c][r];
}
