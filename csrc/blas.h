/* The BLAS routines registered by df_set_blas (internal to csrc/). */
#ifndef DENSEFIT_BLAS_H
#define DENSEFIT_BLAS_H
#include "densefit.h"
extern df_sgemm_fn df_sgemm;
extern df_dgemm_fn df_dgemm;
#endif
