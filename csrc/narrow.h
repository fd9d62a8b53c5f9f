/* Kernels for narrow float32 layers (at most DF_NARROW_MAX outputs), internal to csrc/.
 *
 * A BLAS call's fixed cost and its small-matrix kernels dominate layers like the
 * notes' 784 -> 25: these kernels keep a block of output rows in AVX-512
 * registers instead, and read the input rows through an index, so the training
 * loop need not copy each batch's rows first.  They are compiled for AVX-512
 * whatever the build flags (a target attribute) and used only where the CPU
 * has it (df_narrow_usable), so the wheel stays portable. */
#ifndef DENSEFIT_NARROW_H
#define DENSEFIT_NARROW_H
#include <stdint.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(DENSEFIT_NO_NARROW)
#define DF_HAVE_NARROW 1
#define DF_NARROW_MAX 32

/* Whether a layer with n_out outputs goes through these kernels. */
int df_narrow_usable(int n_out);

/* Row r of the input is x + (idx ? idx[r] : r) * ldx.  out (rows x n_out) = x w + b
 * (no bias when b is NULL). */
void df_narrow_forward_f32(const float *x, const int64_t *idx, int64_t ldx, const float *w,
                           const float *b, float *out, int rows, int n_in, int n_out);

/* dw (n_in x n_out) = x' dz, x read as above. */
void df_narrow_dw_f32(const float *x, const int64_t *idx, int64_t ldx, const float *dz, float *dw,
                      int rows, int n_in, int n_out);
#endif

#endif
