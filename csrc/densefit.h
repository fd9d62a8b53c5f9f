/* densefit's compiled core: plain C99 on raw, row-major, contiguous buffers.
 *
 * Nothing here knows about Python.  Every kernel exists for float (_f32) and
 * double (_f64); both are generated from kernels_impl.h.  The codes below are
 * the single definition of each activation, loss, metric and optimizer rule,
 * and common.c holds their names (df_*_name): the Cython layer builds its
 * name -> code tables from those, and the Python layer looks codes up by name.
 *
 * Callers (the Cython layer) guarantee valid sizes, in-range labels and
 * non-aliasing buffers; the kernels do not check.
 */
#ifndef DENSEFIT_H
#define DENSEFIT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DF_LINEAR = 0,
    DF_RELU = 1,
    DF_SIGMOID = 2,
    DF_TANH = 3,
    DF_LEAKY_RELU = 4, /* max(z, slope*z); slope >= 0 so the sign of the output is the sign of z */
    DF_SOFTMAX = 5,    /* row-wise, max-subtracted */
    /* Keras 3's formulas and constants (keras/src/backend/tensorflow/nn.py) */
    DF_ELU = 6,        /* z > 0 ? z : alpha*(exp(z) - 1); alpha (the slope parameter) >= 0 */
    DF_SELU = 7,       /* scale * elu(z, alpha), Klambauer et al.'s constants */
    DF_GELU = 8,       /* z * Phi(z), the exact erf form (Keras' approximate=False) */
    DF_GELU_APPROXIMATE = 9, /* the tanh form (approximate=True) */
    DF_SILU = 10,      /* z * sigmoid(z), Keras' swish */
    DF_SOFTPLUS = 11,  /* log(1 + exp(z)) */
    DF_SOFTSIGN = 12,  /* z / (1 + |z|) */
    DF_HARD_SIGMOID = 13, /* relu6(z + 3) / 6 */
    DF_HARD_SILU = 14, /* z * hard_sigmoid(z), Keras' hard_swish */
    DF_RELU6 = 15,     /* min(max(z, 0), 6) */
    DF_EXPONENTIAL = 16, /* exp(z) */
    DF_MISH = 17,      /* z * tanh(softplus(z)) */
    DF_N_ACTIVATIONS
} df_activation;

/* Losses.  *_LOGITS take pre-activation outputs; *_PROBS take probabilities and
 * clip them to [1e-7, 1 - 1e-7] as Keras does.  Every loss returns the SUM over
 * rows of the per-row loss (a row's loss is the mean over its outputs for BCE
 * and MSE) and, when asked, the gradient of the MEAN over rows.  (With sparse
 * CE's ignore_class the mean is over the rows not ignored, as Keras' mask
 * makes it: the sum returned is that mean times the rows.)  With sample
 * weights (df_loss's weight, NULL for none) each row's loss and gradient are
 * scaled by its weight, and the mean stays over the rows: Keras'
 * sum_over_batch_size, sum(w l) / rows, not divided by the weights' sum. */
typedef enum {
    DF_LOSS_SPARSE_CE_LOGITS = 0, /* integer labels, softmax of logits */
    DF_LOSS_CE_LOGITS = 1,        /* dense (one-hot) targets, softmax of logits */
    DF_LOSS_BCE_LOGITS = 2,       /* sigmoid of logits, per output */
    DF_LOSS_SPARSE_CE_PROBS = 3,
    DF_LOSS_CE_PROBS = 4,
    DF_LOSS_BCE_PROBS = 5,
    DF_LOSS_MSE = 6,
    /* Keras 3's regression, probabilistic and hinge losses (losses/losses.py);
     * a row's loss is the mean over its outputs except KLD and categorical hinge,
     * which reduce a row by their own formula (sum, max). */
    DF_LOSS_MAE = 7,
    DF_LOSS_MAPE = 8,              /* 100 |t - p| / max(|t|, 1e-7) */
    DF_LOSS_MSLE = 9,              /* (log(max(p, 1e-7) + 1) - log(max(t, 1e-7) + 1))^2 */
    DF_LOSS_HUBER = 10,            /* with df_objective's delta */
    DF_LOSS_LOG_COSH = 11,
    DF_LOSS_KLD = 12,              /* sum over the row of t log(t / p), both clipped to [1e-7, 1] */
    DF_LOSS_POISSON = 13,          /* p - t log(p + 1e-7) */
    DF_LOSS_HINGE = 14,            /* max(1 - t p, 0); 0/1 targets become -1/1 when a batch holds only those */
    DF_LOSS_SQUARED_HINGE = 15,
    DF_LOSS_CATEGORICAL_HINGE = 16, /* max(max((1 - t) p) - sum(t p) + 1, 0) per row */
    DF_N_LOSSES
} df_loss;

typedef enum {
    DF_METRIC_NONE = 0,
    DF_METRIC_SPARSE_ACCURACY = 1,      /* argmax(output) == label */
    DF_METRIC_CATEGORICAL_ACCURACY = 2, /* argmax(output) == argmax(target) */
    DF_METRIC_BINARY_ACCURACY = 3,      /* mean over outputs of (output > threshold) == target */
    /* (issue 11) more mean kinds: a row's value, summed with its count */
    DF_METRIC_SPARSE_TOP_K = 4,         /* fewer than k outputs above the label's output */
    DF_METRIC_TOP_K = 5,                /* the same for argmax(target) */
    DF_METRIC_ABS_ERROR = 6,            /* mean over outputs of |t - p| */
    DF_METRIC_SQUARED_ERROR = 7,        /* mean over outputs of (t - p)^2 (rmse: its root) */
    DF_METRIC_PERCENT_ERROR = 8,        /* 100 |t - p| / max(|t|, 1e-7), as the loss */
    DF_METRIC_SQUARED_LOG_ERROR = 9,    /* as the msle loss */
    DF_METRIC_LOSS = 10,                /* a loss (df_metric_spec.loss) as a metric */
    /* kinds whose state is counts, not a mean (df_metric_spec says their layout) */
    DF_METRIC_CONFUSION = 11,           /* TP, FP, TN, FN at each threshold */
    DF_METRIC_CLASS_COUNTS = 12,        /* TP, FP, FN and the targets' sum, per output */
    DF_N_METRICS
} df_metric;

typedef enum {
    DF_OPT_SGD = 0,     /* Keras' SGD, with optional (Nesterov) momentum */
    DF_OPT_ADAM = 1,    /* Keras 3's Adam */
    DF_OPT_RMSPROP = 2, /* Keras' RMSprop without momentum, not centered */
    DF_OPT_ADAGRAD = 3, /* Keras' Adagrad */
    DF_OPT_ADAMAX = 4,  /* Keras' Adamax */
    DF_OPT_NADAM = 5,   /* Keras' Nadam (its scalar u_product in the state) */
    DF_N_OPTIMIZERS
} df_optimizer_rule;

/* An optimizer's state arrays, by their Keras names: each rule keeps a few
 * (df_optimizer_slots says which).  SGD's velocity is `momentums`, RMSprop's
 * mean square `velocities`, Adamax's m `momentums` and u `norms`. */
typedef enum {
    DF_SLOT_MOMENTUMS = 0,     /* Adam, Nadam, Adamax, SGD with momentum */
    DF_SLOT_VELOCITIES = 1,    /* Adam, Nadam, RMSprop */
    DF_SLOT_VELOCITY_HATS = 2, /* Adam with amsgrad */
    DF_SLOT_ACCUMULATORS = 3,  /* Adagrad */
    DF_SLOT_NORMS = 4,         /* Adamax */
    DF_N_SLOTS
} df_slot;

/* Learning-rate schedules of keras.optimizers.schedules, evaluated per step
 * from the optimizer's iterations (df_learning_rate). */
typedef enum {
    DF_SCHEDULE_CONSTANT = 0,
    DF_SCHEDULE_EXPONENTIAL = 1,
    DF_SCHEDULE_INVERSE_TIME = 2,
    DF_SCHEDULE_PIECEWISE_CONSTANT = 3,
    DF_SCHEDULE_POLYNOMIAL = 4,
    DF_SCHEDULE_COSINE = 5,
    DF_SCHEDULE_COSINE_RESTARTS = 6,
    DF_N_SCHEDULES
} df_schedule_kind;

/* The name of each code (the Cython layer builds its name -> code tables from
 * these), or NULL for a code out of range. */
const char *df_activation_name(int code);
const char *df_loss_name(int code);
const char *df_metric_name(int code);
const char *df_optimizer_rule_name(int code);
const char *df_slot_name(int code);
const char *df_schedule_name(int code);
const char *df_layer_kind_name(int code);

/* The slots (a bit mask of 1 << df_slot) a rule keeps with these settings. */
unsigned df_optimizer_slots(int rule, double momentum, int amsgrad);

/* Whether a loss takes integer labels (int32) rather than a dense target matrix.
 * In training the metric reads the same targets as the loss. */
int df_loss_uses_labels(int loss);

/* Whether an activation's derivative needs its input z (gelu, silu, hard_silu,
 * mish: their output does not determine z).  The others' derivatives are
 * written from the output alone, and their z is never kept. */
int df_activation_needs_input(int act);

/* The most rows a batch may have: kernels and BLAS take row counts as C ints. */
#define DF_MAX_ROWS INT_MAX

/* Fortran-interface GEMM as exported by scipy.linalg.cython_blas.  The Cython
 * layer registers scipy's pointers once at import: no link-time BLAS. */
typedef void (*df_sgemm_fn)(char *transa, char *transb, int *m, int *n, int *k, float *alpha,
                            float *a, int *lda, float *b, int *ldb, float *beta, float *c, int *ldc);
typedef void (*df_dgemm_fn)(char *transa, char *transb, int *m, int *n, int *k, double *alpha,
                            double *a, int *lda, double *b, int *ldb, double *beta, double *c,
                            int *ldc);
void df_set_blas(df_sgemm_fn sgemm, df_dgemm_fn dgemm);

/* float32 layers with at most 32 outputs use register-blocked AVX-512 kernels
 * instead of BLAS where the CPU has AVX-512.  df_set_narrow(0) turns them off
 * (tests compare both paths); returns whether they are now in use. */
int df_set_narrow(int enabled);


/* The kinds of layer a network runs.  Every layer maps n_in to n_out features
 * (n_out == n_in but for dense), then applies its activation (DF_LINEAR: none). */
typedef enum {
    DF_LAYER_DENSE = 0,         /* x kernel + bias; weights kernel (n_in x n_out), bias */
    DF_LAYER_DROPOUT = 1,       /* training only: each value kept with probability 1 - rate
                                   and scaled by 1 / (1 - rate) (df_dropout_keeps); no weights */
    DF_LAYER_BATCH_NORM = 2,    /* Keras' BatchNormalization: weights gamma, beta (trainable;
                                   either may be absent: scale / center off), moving_mean,
                                   moving_variance (never trainable) */
    DF_LAYER_NORMALIZATION = 3, /* (x - mean) / max(sqrt(variance), 1e-7), or with invert
                                   mean + x max(sqrt(variance), 1e-7); weights mean, variance
                                   (fixed) and count (one entry, Keras' weight for old
                                   files, never read) */
    DF_LAYER_ACTIVATION = 4,    /* the identity: its activation is all it does; no weights */
    DF_LAYER_PRELU = 5,         /* max(x, 0) - alpha relu(-x), alpha per feature (trainable) */
    DF_N_LAYER_KINDS
} df_layer_kind;

/* The most weights a layer kind keeps. */
#define DF_MAX_WEIGHTS 4

/* One layer of a network.  Its weights, in Keras' order for the kind, are
 * offsets into the network's params (where `in_params`: trainable ones of a
 * trainable layer; their gradients are at the same offset of grads) or into its
 * state (the others: moving statistics, a frozen layer's weights); -1 for one
 * the layer does not have. */
typedef struct {
    int kind; /* a df_layer_kind */
    int n_in, n_out;
    int activation;     /* a df_activation applied after the layer's own map */
    double slope;       /* leaky_relu's negative slope, elu's alpha */
    int trainable;      /* a frozen layer keeps its weights in state and runs in
                           inference mode (batch normalization, as Keras) */
    int64_t weight[DF_MAX_WEIGHTS];
    unsigned char in_params[DF_MAX_WEIGHTS];
    double rate;        /* dropout */
    uint64_t seed;      /* dropout: masks are a function of (seed, step, row, column) */
    double momentum;    /* batch normalization: moving = moving momentum + batch (1 - momentum) */
    double epsilon;     /* batch normalization: added to the variance */
    int invert;         /* normalization */
    /* Keras' regularizers, 0 for none: l1 sum |w| + l2 sum w^2 of each weight in
     * params (kernel_regularizer is weight 0, bias_regularizer weight 1, ...),
     * and of the layer's output per row (activity_regularizer), added to the loss. */
    double l1[DF_MAX_WEIGHTS], l2[DF_MAX_WEIGHTS];
    double activity_l1, activity_l2;
} df_layer;

/* The sizes of a kind's weights (0 for an index the kind does not have) and
 * whether each is trainable (takes gradients when its layer is trainable). */
int64_t df_layer_weight_size(int kind, int index, int n_in, int n_out);
int df_layer_weight_trainable(int kind, int index);

/* Whether dropout keeps value (row, col) of a batch of `cols` columns at
 * training step `step`: a counter-based hash, so a mask depends on nothing but
 * these numbers (bit-reproducible, and the same however an epoch is split). */
int df_dropout_keeps(uint64_t seed, int64_t step, int64_t row, int64_t col, int64_t cols,
                     double rate);

/* A Sequential network: its layers in order, one flat buffer of trainable
 * parameters (the optimizer's, with grads of the same layout) and one of the
 * other weights (state). */
typedef struct {
    int n_layers;
    const df_layer *layers;
    void *params;
    void *grads;
    int64_t n_params;
    void *state;
    int64_t n_state;
} df_net;

/* Whether a forward pass of the network uses BLAS at all (else it runs wholly
 * on the calling thread in csrc/). */
int df_forward_uses_blas(const df_net *net, int is_float32);

/* Work buffers for batches of up to `capacity` rows, allocated once by the caller. */
typedef struct {
    int64_t capacity;
    void *x;      /* capacity x n_in: the gathered batch (a narrow first layer
                     reads its rows in place instead) */
    void *y;      /* capacity x n_out targets, or capacity int32 labels */
    void **act;   /* n_layers buffers, capacity x layers[l].n_out: each layer's output */
    void *grad_a; /* capacity x the widest layer: two gradient buffers used in turn */
    void *grad_b; /* (the first layer's input gradient is never computed) */
    void **pre;   /* NULL, or n_layers buffers, capacity x n_out, NULL for a layer
                     whose activation does not need its input (df_activation_needs_input):
                     the forward pass keeps there the pre-activation the backward reads */
    void *weight; /* capacity entries: the gathered batch's sample weights (training) */
    void **stats; /* NULL, or n_layers buffers, 2 n_out entries for a batch normalization
                     layer (its batch's mean, then variance; training), NULL for others */
    const struct df_step_hook *hook; /* NULL (single process), or data-parallel training */
    int64_t row_offset; /* where the rows passed forward start in their global batch
                           (dropout's masks are those of the global row) */
} df_work;

/* Extra entries after the gradients in a data-parallel network's grads buffer
 * (one fused buffer, reduced by one call a step): a not-finite flag and the
 * rank's share of the batch's mean loss. */
#define DF_HOOK_EXTRA 2

/* Data-parallel training (densefit.distributed): df_train_batches gives rank
 * `rank` of `size` a contiguous part of every global batch's rows (sizes
 * differing by at most one), scales its gradients by local rows / global rows
 * and calls reduce(context) once a batch, after the backward pass and before
 * clipping, to sum net->grads' n_params + DF_HOOK_EXTRA entries over the ranks
 * in place.  A reduce that does not return 0 stops training before that
 * batch's update (its context says why).  With shard set, every rank trains on
 * its own rows instead: the order passed is this rank's rows of the pass, and
 * each global batch is every rank's next batch_size rows (ranks passing the
 * same number of rows), this rank's at row rank * part of it. */
typedef struct df_step_hook {
    int (*reduce)(void *context);
    void *context;
    int64_t rank, size;
    int shard;
} df_step_hook;

/* What training minimises and reports.  With fused_output the last layer's
 * activation is left out of the training forward pass and the loss (a *_LOGITS
 * code) takes its pre-activation: the stable path for softmax/sigmoid outputs.
 * The metric reads the same targets as the loss (labels or dense). */
struct df_metric_spec;
typedef struct {
    int loss;         /* a df_loss */
    int fused_output;
    int metric;       /* a df_metric */
    double threshold; /* binary accuracy: 0 for logits, 0.5 for probabilities */
    /* The loss' hyper-parameters; a loss reads only its own (zero: unused). */
    double delta;           /* Huber: where the square becomes linear */
    double label_smoothing; /* BCE, CE (dense targets): t (1 - s) + s / 2 (BCE) or s / cols (CE) */
    int ignore_class_set;   /* sparse CE: rows labelled ignore_class have no loss and no */
    int32_t ignore_class;   /* gradient, and the batch's mean is over the other rows */
    int n_metrics;                  /* the metrics training and evaluate accumulate */
    const struct df_metric_spec *metrics;
} df_objective;

/* A metric the training loop and df_evaluate accumulate into a caller's float64
 * state buffer, from `offset` on.  Mean kinds keep (sum of the rows' values,
 * number of rows), both weighted when `weighted` and sample weights are given;
 * DF_METRIC_CONFUSION keeps TP, FP, TN, FN at each threshold (4 doubles per
 * threshold, in that order), an output counting as positive above the
 * threshold and a target as positive when not 0; DF_METRIC_CLASS_COUNTS
 * keeps per output TP, FP, FN and the targets' sum (4 blocks of `cols`), an
 * output predicted when above `threshold`, or when NaN, when it is its row's
 * maximum and not 0 (Keras' F1Score).  reads_probabilities: with a fused
 * output the metric reads the output activation of the logits (which the
 * other kinds read, their answer being the same). */
/* What a top-k filter makes of the outputs it drops (Keras' NEG_INF). */
#define DF_NEG_INF (-1e10)

typedef struct df_metric_spec {
    int kind;                /* a df_metric */
    int reads_probabilities;
    int weighted;
    int k;                   /* top-k; confusion: 0, or keep the row's k largest outputs
                              * and read the others as DF_NEG_INF (Keras' top_k) */
    int class_id;            /* confusion: -1 for every output, else that column only */
    int per_output;          /* confusion: counts per output (`cols` blocks, Keras' multi_label) */
    double threshold;        /* binary accuracy; class counts */
    int n_thresholds;        /* confusion */
    const double *thresholds;
    const df_objective *loss; /* DF_METRIC_LOSS: it reads the loss' targets */
    int64_t offset;
} df_metric_spec;

/* The number of doubles of state a metric keeps for `cols` outputs. */
int64_t df_metric_state_size(const df_metric_spec *spec, int64_t cols);

/* A learning-rate schedule: its kind and Keras' arguments.  A kind reads only
 * its own (decay_steps is CosineDecayRestarts' first_decay_steps;
 * PiecewiseConstantDecay's boundaries and values have n_boundaries and
 * n_boundaries + 1 entries; warmup_steps 0 means no warmup). */
typedef struct {
    int kind;                      /* a df_schedule_kind */
    double initial_learning_rate, decay_steps, decay_rate, end_learning_rate, power;
    double alpha, warmup_target, warmup_steps, t_mul, m_mul;
    int staircase, cycle;
    int n_boundaries;
    const double *boundaries, *values;
} df_schedule;

/* A schedule's learning rate at a step (Keras' schedule(step)); a constant
 * schedule's is `constant`. */
double df_learning_rate(const df_schedule *schedule, double constant, int64_t step);

/* An optimizer's rule, hyper-parameters and state.  slots[s] holds n_params
 * entries for each slot s the rule keeps (df_optimizer_slots), NULL for the
 * others.  A hyper-parameter the rule does not use is not read.  Every rule
 * takes Keras' base-optimizer options: gradients clipped first (clipnorm per
 * variable, each kernel and each bias its own norm; else global_clipnorm over
 * all; else clipvalue; 0 means off), then weight decay w -= w * wd * lr on
 * every parameter, then the update. */
typedef struct {
    int rule;                      /* a df_optimizer_rule */
    double learning_rate;          /* the constant one, when schedule.kind is CONSTANT */
    double beta_1, beta_2;         /* Adam, Adamax, Nadam */
    double epsilon;                /* Adam, RMSprop, Adagrad, Adamax, Nadam */
    double momentum;               /* SGD */
    double rho;                    /* RMSprop */
    int nesterov;                  /* SGD */
    int amsgrad;                   /* Adam */
    double weight_decay, clipnorm, global_clipnorm, clipvalue;
    double u_product;              /* Nadam: product of its momentum schedule, 1 at first */
    df_schedule schedule;
    int64_t iterations;            /* steps taken so far; advanced by df_train_batches */
    void *slots[DF_N_SLOTS];
} df_optimizer_state;

/* Besides the kernels and the whole-epoch entry points (df_train_batches,
 * df_predict, df_evaluate), a network's passes are callable on their own for
 * tests and the Python layer: df_forward over `rows` rows of x into work->act
 * (training: dropout active, batch normalization on the batch's statistics,
 * kept in work->stats; `step` seeds dropout); df_backward from dL/d(output) in
 * work->grad_a into grads (dx: the input's gradient, or NULL; the
 * regularizers' gradients included); df_update_moving_statistics, training's
 * last act on each accepted batch; and df_penalty, what the regularizers add
 * to the mean loss of the rows just passed forward (df_evaluate's loss_sum
 * includes it per row, df_train_batches' batch_loss per batch). */
#define DF_DECLARE(REAL, SFX)                                                                       \
    void df_activation_forward##SFX(int act, double slope, REAL *z, int64_t rows, int64_t cols);   \
    void df_activation_backward##SFX(int act, double slope, const REAL *z, const REAL *a,          \
                                     REAL *grad, int64_t rows, int64_t cols);                      \
    void df_dense_forward##SFX(const REAL *x, const REAL *w, const REAL *b, REAL *out, REAL *z,    \
                               int rows, int n_in, int n_out, int act, double slope);              \
    void df_dense_backward##SFX(const REAL *x, const REAL *w, const REAL *z, const REAL *a,        \
                                REAL *grad, REAL *dw, REAL *db, REAL *dx, int rows, int n_in,      \
                                int n_out, int act, double slope);                                 \
    double df_loss##SFX(const df_objective *loss, const REAL *out, const void *target, REAL *grad, \
                        int64_t rows, int64_t cols, const REAL *weight);                          \
    double df_metric##SFX(int metric, double threshold, const REAL *out, const void *target,       \
                          int64_t rows, int64_t cols);                                             \
    void df_metrics_update##SFX(const df_objective *objective, const REAL *out, const REAL *probs, \
                                const void *target, const REAL *weight, int64_t rows,          \
                                int64_t cols, double *state);                                  \
    int64_t df_first_nonfinite##SFX(const REAL *x, int64_t rows, int64_t cols);                   \
    void df_adam##SFX(REAL *w, const REAL *g, REAL *m, REAL *v, int64_t n, double learning_rate,   \
                      double beta_1, double beta_2, double epsilon, int64_t step);                 \
    void df_sgd##SFX(REAL *w, const REAL *g, REAL *velocity, int64_t n, double learning_rate,      \
                     double momentum, int nesterov);                                               \
    void df_rmsprop##SFX(REAL *w, const REAL *g, REAL *mean_square, int64_t n,                     \
                         double learning_rate, double rho, double epsilon);                        \
    void df_optimizer_step##SFX(const df_net *net, df_optimizer_state *optimizer);              \
    int64_t df_train_batches##SFX(const df_net *net, df_work *work, const df_objective *objective, \
                                  df_optimizer_state *optimizer, const REAL *x, const void *y,     \
                                  const int64_t *order, int64_t n, int64_t batch_size,             \
                                  int64_t first_batch, int64_t end_batch, double *batch_loss,      \
                                  double *batch_metric, const REAL *sample_weight,                 \
                                  double *metric_state);                                           \
    int df_predict##SFX(const df_net *net, const REAL *x, int64_t n, int64_t capacity, REAL *out); \
    void df_forward##SFX(const df_net *net, df_work *work, const REAL *x, int rows, int training, \
                         int64_t step);                                                            \
    void df_backward##SFX(const df_net *net, df_work *work, const REAL *x, int rows,              \
                          int64_t step, REAL *dx);                                                 \
    void df_update_moving_statistics##SFX(const df_net *net, const df_work *work);                \
    void df_evaluate##SFX(const df_net *net, df_work *work, const df_objective *objective,       \
                          const REAL *x, const void *y, int64_t n, double *loss_sum,               \
                          double *metric_sum, const REAL *sample_weight, double *metric_state); \
    double df_penalty##SFX(const df_net *net, const df_work *work, int rows);

DF_DECLARE(float, _f32)
DF_DECLARE(double, _f64)
#undef DF_DECLARE

#endif
