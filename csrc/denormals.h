/* Flushing subnormal floats to zero while training (internal to csrc/).
 *
 * A dead ReLU unit's gradient is exactly 0, so Adam's first moment decays by
 * (1 - beta_1) each step into the subnormal range and sticks there: m * 0.1
 * rounds to 0 below a few ulps, so m - m * 0.1 == m for ever.  Arithmetic on
 * subnormals takes a slow path (3x here for the Adam pass), every step, for
 * the rest of the fit.  TensorFlow's CPU threads flush them for the same reason
 * (tensorflow/core/platform/denormal.h).  The training loop sets FTZ and DAZ
 * in its own thread for the length of the call and restores them after; the
 * values flushed are below 1.2e-38 (float32) or 2.2e-308 (float64).  BLAS
 * worker threads keep their own mode: with several BLAS threads, products
 * computed there are not flushed. */
#ifndef DENSEFIT_DENORMALS_H
#define DENSEFIT_DENORMALS_H

#if defined(__SSE2__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define DF_MXCSR_FTZ_DAZ 0x8040u /* flush-to-zero (bit 15), denormals-are-zero (bit 6) */
static inline unsigned df_flush_denormals(void) {
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | DF_MXCSR_FTZ_DAZ);
    return saved;
}
/* Only the two mode bits go back: exception flags raised meanwhile stay raised. */
static inline void df_restore_denormals(unsigned saved) {
    _mm_setcsr((_mm_getcsr() & ~DF_MXCSR_FTZ_DAZ) | (saved & DF_MXCSR_FTZ_DAZ));
}
#else /* other CPUs keep IEEE subnormals (and their cost) */
static inline unsigned df_flush_denormals(void) { return 0; }
static inline void df_restore_denormals(unsigned saved) { (void)saved; }
#endif

#endif
