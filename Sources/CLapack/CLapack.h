// The few Fortran BLAS/LAPACK routines of the host Fréchet distance, in Double, from
// OpenBLAS (Debian: libopenblas-dev, installed by Scripts/setup.sh). OpenBLAS carries both
// BLAS and LAPACK; at d = 2048 its dsyevd takes 1–2 s against 8 s for reference LAPACK, and
// dgemm 0.3 s against 4.8 s, on a 2-core machine.
//
// Fortran calling convention (gfortran, LP64): every argument by pointer, column-major
// matrices, 32-bit INTEGER, and one hidden trailing `size_t` length per CHARACTER argument.
// The lengths are declared and passed (always 1): omitting them works until the compiler
// turns a LAPACK call into a tail call that reads them (the R/LAPACK breakage of GCC 8).
// Only KallimaEval imports this module.
#ifndef CLAPACK_H
#define CLAPACK_H

#include <stddef.h>

/// C = alpha op(A) op(B) + beta C.
void dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
            const double *beta, double *c, const int *ldc, size_t transa_len, size_t transb_len);

/// C = alpha A Aᵀ + beta C (trans "N") or alpha Aᵀ A + beta C (trans "T"); only the
/// `uplo` triangle of C is referenced and written.
void dsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
            const double *a, const int *lda, const double *beta, double *c, const int *ldc,
            size_t uplo_len, size_t trans_len);

/// Eigenvalues (ascending, in w) and optionally eigenvectors (jobz "V": columns of a) of a
/// symmetric matrix, by divide and conquer. lwork = liwork = -1 queries the workspace sizes.
/// info > 0: the algorithm failed to converge.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);

#endif
