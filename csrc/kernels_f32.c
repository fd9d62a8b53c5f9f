/* float instances of the kernels */
#define REAL float
#define REAL_BITS int32_t /* an integer of REAL's size: its bits, for magnitudes */
#define SFX _f32
#define GEMM df_sgemm
#define NARROW_REAL /* the narrow AVX-512 kernels are float32 */
#include "kernels_impl.h"
