/* double instances of the kernels */
#define REAL double
#define REAL_BITS int64_t
#define SFX _f64
#define GEMM df_dgemm
#include "kernels_impl.h"
