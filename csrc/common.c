#include <math.h>

#include "blas.h"
#include "dropout.h"

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
    [DF_METRIC_SPARSE_TOP_K] = "sparse_top_k",
    [DF_METRIC_TOP_K] = "top_k",
    [DF_METRIC_ABS_ERROR] = "abs_error",
    [DF_METRIC_SQUARED_ERROR] = "squared_error",
    [DF_METRIC_PERCENT_ERROR] = "percent_error",
    [DF_METRIC_SQUARED_LOG_ERROR] = "squared_log_error",
    [DF_METRIC_LOSS] = "loss",
    [DF_METRIC_CONFUSION] = "confusion",
    [DF_METRIC_CLASS_COUNTS] = "class_counts",
};
static const char *const optimizer_rule_names[DF_N_OPTIMIZERS] = {
    [DF_OPT_SGD] = "sgd", [DF_OPT_ADAM] = "adam", [DF_OPT_RMSPROP] = "rmsprop",
    [DF_OPT_ADAGRAD] = "adagrad", [DF_OPT_ADAMAX] = "adamax", [DF_OPT_NADAM] = "nadam",
};
static const char *const slot_names[DF_N_SLOTS] = {
    [DF_SLOT_MOMENTUMS] = "momentums",         [DF_SLOT_VELOCITIES] = "velocities",
    [DF_SLOT_VELOCITY_HATS] = "velocity_hats", [DF_SLOT_ACCUMULATORS] = "accumulators",
    [DF_SLOT_NORMS] = "norms",
};
static const char *const schedule_names[DF_N_SCHEDULES] = {
    [DF_SCHEDULE_CONSTANT] = "constant",
    [DF_SCHEDULE_EXPONENTIAL] = "exponential",
    [DF_SCHEDULE_INVERSE_TIME] = "inverse_time",
    [DF_SCHEDULE_PIECEWISE_CONSTANT] = "piecewise_constant",
    [DF_SCHEDULE_POLYNOMIAL] = "polynomial",
    [DF_SCHEDULE_COSINE] = "cosine",
    [DF_SCHEDULE_COSINE_RESTARTS] = "cosine_restarts",
};

const char *df_activation_name(int code) {
    return code >= 0 && code < DF_N_ACTIVATIONS ? activation_names[code] : NULL;
}

const char *df_loss_name(int code) {
    return code >= 0 && code < DF_N_LOSSES ? loss_names[code] : NULL;
}

int64_t df_metric_state_size(const df_metric_spec *spec, int64_t cols) {
    switch (spec->kind) {
    case DF_METRIC_NONE: return 0;
    case DF_METRIC_CONFUSION: return 4 * (int64_t)spec->n_thresholds * (spec->per_output ? cols : 1);
    case DF_METRIC_CLASS_COUNTS: return 4 * cols;
    default: return 2;
    }
}

const char *df_metric_name(int code) {
    return code >= 0 && code < DF_N_METRICS ? metric_names[code] : NULL;
}

const char *df_optimizer_rule_name(int code) {
    return code >= 0 && code < DF_N_OPTIMIZERS ? optimizer_rule_names[code] : NULL;
}

const char *df_slot_name(int code) {
    return code >= 0 && code < DF_N_SLOTS ? slot_names[code] : NULL;
}

const char *df_schedule_name(int code) {
    return code >= 0 && code < DF_N_SCHEDULES ? schedule_names[code] : NULL;
}

static const char *const layer_kind_names[DF_N_LAYER_KINDS] = {
    [DF_LAYER_DENSE] = "dense",
    [DF_LAYER_DROPOUT] = "dropout",
    [DF_LAYER_BATCH_NORM] = "batch_normalization",
    [DF_LAYER_NORMALIZATION] = "normalization",
    [DF_LAYER_ACTIVATION] = "activation",
    [DF_LAYER_PRELU] = "prelu",
};

const char *df_layer_kind_name(int code) {
    return code >= 0 && code < DF_N_LAYER_KINDS ? layer_kind_names[code] : NULL;
}

int64_t df_layer_weight_size(int kind, int index, int n_in, int n_out) {
    switch (kind) {
    case DF_LAYER_DENSE: return index == 0 ? (int64_t)n_in * n_out : index == 1 ? n_out : 0;
    case DF_LAYER_BATCH_NORM: return index < 4 ? n_out : 0;
    case DF_LAYER_NORMALIZATION: return index < 2 ? n_out : index == 2; /* count: one */
    case DF_LAYER_PRELU: return index == 0 ? n_out : 0;
    default: return 0;
    }
}

int df_layer_weight_trainable(int kind, int index) {
    switch (kind) {
    case DF_LAYER_DENSE: return index < 2;
    case DF_LAYER_BATCH_NORM: return index < 2; /* gamma, beta; not the moving statistics */
    case DF_LAYER_PRELU: return index == 0;
    default: return 0;
    }
}

int df_dropout_keeps(uint64_t seed, int64_t step, int64_t row, int64_t col, int64_t cols,
                     double rate) {
    return df_dropout_kept(df_dropout_key(seed, step), (uint64_t)(row * cols + col),
                           df_dropout_threshold(rate));
}

#define SLOT(s) (1u << (s))

unsigned df_optimizer_slots(int rule, double momentum, int amsgrad) {
    switch (rule) {
    case DF_OPT_SGD: return momentum != 0 ? SLOT(DF_SLOT_MOMENTUMS) : 0;
    case DF_OPT_ADAM:
        return SLOT(DF_SLOT_MOMENTUMS) | SLOT(DF_SLOT_VELOCITIES) |
               (amsgrad ? SLOT(DF_SLOT_VELOCITY_HATS) : 0);
    case DF_OPT_RMSPROP: return SLOT(DF_SLOT_VELOCITIES);
    case DF_OPT_ADAGRAD: return SLOT(DF_SLOT_ACCUMULATORS);
    case DF_OPT_ADAMAX: return SLOT(DF_SLOT_MOMENTUMS) | SLOT(DF_SLOT_NORMS);
    case DF_OPT_NADAM: return SLOT(DF_SLOT_MOMENTUMS) | SLOT(DF_SLOT_VELOCITIES);
    default: return 0;
    }
}

/* Keras' schedules (keras/src/optimizers/schedules/learning_rate_schedule.py). */
static const double PI = 3.14159265358979323846;

static double cosine_decay(double step, double decay_steps, double from, double alpha) {
    const double cosine = 0.5 * (1 + cos(PI * step / decay_steps));
    return from * ((1 - alpha) * cosine + alpha);
}

static double cosine_restarts(const df_schedule *s, double step) {
    double fraction = step / s->decay_steps, i_restart;
    if (s->t_mul == 1) {
        i_restart = floor(fraction);
        fraction -= i_restart;
    } else {
        i_restart = floor(log(1 - fraction * (1 - s->t_mul)) / log(s->t_mul));
        const double sum_r = (1 - pow(s->t_mul, i_restart)) / (1 - s->t_mul);
        fraction = (fraction - sum_r) / pow(s->t_mul, i_restart);
    }
    const double cosine = 0.5 * pow(s->m_mul, i_restart) * (1 + cos(PI * fraction));
    return s->initial_learning_rate * ((1 - s->alpha) * cosine + s->alpha);
}

static double polynomial(const df_schedule *s, double step) {
    double decay_steps = s->decay_steps;
    if (s->cycle)
        decay_steps *= step == 0 ? 1 : ceil(step / decay_steps);
    else
        step = step < decay_steps ? step : decay_steps;
    return (s->initial_learning_rate - s->end_learning_rate) * pow(1 - step / decay_steps, s->power)
           + s->end_learning_rate;
}

static double piecewise(const df_schedule *s, double step) {
    int i = 0;
    while (i < s->n_boundaries && step > s->boundaries[i]) i++;
    return s->values[i];
}

double df_learning_rate(const df_schedule *s, double constant, int64_t iterations) {
    const double step = (double)iterations;
    double p;
    switch (s->kind) {
    case DF_SCHEDULE_EXPONENTIAL:
        p = step / s->decay_steps;
        return s->initial_learning_rate * pow(s->decay_rate, s->staircase ? floor(p) : p);
    case DF_SCHEDULE_INVERSE_TIME:
        p = step / s->decay_steps;
        return s->initial_learning_rate / (1 + s->decay_rate * (s->staircase ? floor(p) : p));
    case DF_SCHEDULE_PIECEWISE_CONSTANT: return piecewise(s, step);
    case DF_SCHEDULE_POLYNOMIAL: return polynomial(s, step);
    case DF_SCHEDULE_COSINE:
        if (isnan(s->warmup_target)) /* warmup_target=None: no warmup */
            return cosine_decay(fmin(step, s->decay_steps), s->decay_steps,
                                s->initial_learning_rate, s->alpha);
        p = fmin(step, s->decay_steps + s->warmup_steps);
        if (p < s->warmup_steps)
            return (s->warmup_target - s->initial_learning_rate) * (p / s->warmup_steps)
                   + s->initial_learning_rate;
        return cosine_decay(p - s->warmup_steps, s->decay_steps, s->warmup_target, s->alpha);
    case DF_SCHEDULE_COSINE_RESTARTS: return cosine_restarts(s, step);
    default: return constant;
    }
}
