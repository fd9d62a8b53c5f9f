#include "blas.h"

df_sgemm_fn df_sgemm = 0;
df_dgemm_fn df_dgemm = 0;

void df_set_blas(df_sgemm_fn sgemm, df_dgemm_fn dgemm) {
    df_sgemm = sgemm;
    df_dgemm = dgemm;
}

int df_loss_uses_labels(int loss) {
    return loss == DF_LOSS_SPARSE_CE_LOGITS || loss == DF_LOSS_SPARSE_CE_PROBS;
}
