/* float instances of the kernels */
#define REAL float
#define SFX _f32
#define GEMM df_sgemm
#include "kernels_impl.h"
