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

int df_activation_needs_input(int act) {
    return act == DF_GELU || act == DF_GELU_APPROXIMATE || act == DF_SILU || act == DF_HARD_SILU ||
           act == DF_MISH;
}

/* One name per code, in the order of the enums in densefit.h. */
static const char *const activation_names[DF_N_ACTIVATIONS] = {
    [DF_LINEAR] = "linear",     [DF_RELU] = "relu",
    [DF_SIGMOID] = "sigmoid",   [DF_TANH] = "tanh",
    [DF_LEAKY_RELU] = "leaky_relu", [DF_SOFTMAX] = "softmax",
    [DF_ELU] = "elu",               [DF_SELU] = "selu",
    [DF_GELU] = "gelu",             [DF_GELU_APPROXIMATE] = "gelu_approximate",
    [DF_SILU] = "silu",             [DF_SOFTPLUS] = "softplus",
    [DF_SOFTSIGN] = "softsign",     [DF_HARD_SIGMOID] = "hard_sigmoid",
    [DF_HARD_SILU] = "hard_silu",   [DF_RELU6] = "relu6",
    [DF_EXPONENTIAL] = "exponential", [DF_MISH] = "mish",
};
static const char *const loss_names[DF_N_LOSSES] = {
    [DF_LOSS_SPARSE_CE_LOGITS] = "sparse_ce_logits", [DF_LOSS_CE_LOGITS] = "ce_logits",
    [DF_LOSS_BCE_LOGITS] = "bce_logits",             [DF_LOSS_SPARSE_CE_PROBS] = "sparse_ce_probs",
    [DF_LOSS_CE_PROBS] = "ce_probs",                 [DF_LOSS_BCE_PROBS] = "bce_probs",
    [DF_LOSS_MSE] = "mse",
    [DF_LOSS_MAE] = "mae",                           [DF_LOSS_MAPE] = "mape",
    [DF_LOSS_MSLE] = "msle",                         [DF_LOSS_HUBER] = "huber",
    [DF_LOSS_LOG_COSH] = "log_cosh",                 [DF_LOSS_KLD] = "kld",
    [DF_LOSS_POISSON] = "poisson",                   [DF_LOSS_HINGE] = "hinge",
    [DF_LOSS_SQUARED_HINGE] = "squared_hinge",       [DF_LOSS_CATEGORICAL_HINGE] = "categorical_hinge",
};
static const char *const metric_names[DF_N_METRICS] = {
    [DF_METRIC_NONE] = "none",
    [DF_METRIC_SPARSE_ACCURACY] = "sparse_accuracy",
    [DF_METRIC_CATEGORICAL_ACCURACY] = "categorical_accuracy",
    [DF_METRIC_BINARY_ACCURACY] = "binary_accuracy",
};
static const char *const optimizer_rule_names[DF_N_OPTIMIZERS] = {
    [DF_OPT_SGD] = "sgd", [DF_OPT_ADAM] = "adam", [DF_OPT_RMSPROP] = "rmsprop",
};

const char *df_activation_name(int code) {
    return code >= 0 && code < DF_N_ACTIVATIONS ? activation_names[code] : NULL;
}

const char *df_loss_name(int code) {
    return code >= 0 && code < DF_N_LOSSES ? loss_names[code] : NULL;
}

const char *df_metric_name(int code) {
    return code >= 0 && code < DF_N_METRICS ? metric_names[code] : NULL;
}

const char *df_optimizer_rule_name(int code) {
    return code >= 0 && code < DF_N_OPTIMIZERS ? optimizer_rule_names[code] : NULL;
}
