/* Kernels for narrow float32 layers (at most DF_NARROW_MAX outputs), internal to csrc/.
 *
 * A BLAS call's fixed cost and its small-matrix kernels dominate layers like the
 * notes' 784 -> 25: these kernels keep a block of output rows in AVX-512
 * registers instead, and read the input rows through an index, so the training
 * loop need not copy each batch's rows first.  They are compiled for AVX-512
 * whatever the build flags (a target attribute) and used only where the CPU
 * has it (df_narrow_enabled), so the wheel stays portable. */
#ifndef DENSEFIT_NARROW_H
#define DENSEFIT_NARROW_H
#include <stdint.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(DENSEFIT_NO_NARROW)
#define DF_HAVE_NARROW 1
#define DF_NARROW_MAX 32

/* Whether the kernels are in use (the CPU has AVX-512 and df_set_narrow left
 * them on).  Each entry point into csrc/ asks once and keeps to the answer for
 * the whole call, so a concurrent df_set_narrow cannot split one batch between
 * the two paths. */
int df_narrow_enabled(void);

/* Whether a layer with n outputs fits them. */
#define DF_NARROW_FITS(n) ((n) >= 1 && (n) <= DF_NARROW_MAX)

/* Row r of the input is x + (idx ? idx[r] : r) * ldx.  out (rows x n_out) = x w + b
 * (no bias when b is NULL).  Inputs that are 0 in every row of a block are
 * skipped (w must be finite).  With live not NULL (ceil(n_in / 16) entries,
 * zeroed by the caller), bit k % 16 of live[k / 16] is set for each input k
 * that is not 0 in some row. */
void df_narrow_forward_f32(const float *x, const int64_t *idx, int64_t ldx, const float *w,
                           const float *b, float *out, int rows, int n_in, int n_out,
                           uint16_t *live);

/* dw (n_in x n_out) = x' dz, x read as above.  With live from the forward pass
 * over the same rows, the rows of dw for inputs 0 throughout are written as 0
 * without arithmetic (dz must be finite); NULL computes them all. */
void df_narrow_dw_f32(const float *x, const int64_t *idx, int64_t ldx, const float *dz, float *dw,
                      int rows, int n_in, int n_out, const uint16_t *live);
#endif

#endif
