/* double instances of the kernels */
#define REAL double
#define SFX _f64
#define GEMM df_dgemm
#include "kernels_impl.h"
