# Declarations of csrc/densefit.h for Cython (see there for what each one means).
# All of it runs without the GIL.
from libc.stdint cimport int32_t, int64_t, uint64_t

cdef extern from "densefit.h" nogil:
    enum:
        DF_LINEAR, DF_RELU, DF_SIGMOID, DF_TANH, DF_LEAKY_RELU, DF_SOFTMAX, DF_N_ACTIVATIONS
        DF_LOSS_SPARSE_CE_LOGITS, DF_LOSS_CE_LOGITS, DF_LOSS_BCE_LOGITS
        DF_LOSS_SPARSE_CE_PROBS, DF_LOSS_CE_PROBS, DF_LOSS_BCE_PROBS, DF_LOSS_MSE, DF_N_LOSSES
        DF_LOSS_HUBER
        DF_METRIC_NONE, DF_METRIC_SPARSE_ACCURACY, DF_METRIC_CATEGORICAL_ACCURACY
        DF_METRIC_BINARY_ACCURACY, DF_METRIC_SPARSE_TOP_K, DF_METRIC_LOSS, DF_METRIC_CONFUSION
        DF_METRIC_CLASS_COUNTS, DF_N_METRICS
        DF_OPT_SGD, DF_OPT_ADAM, DF_OPT_RMSPROP, DF_N_OPTIMIZERS
        DF_N_SLOTS, DF_SLOT_MOMENTUMS, DF_SLOT_VELOCITIES
        DF_SCHEDULE_CONSTANT, DF_SCHEDULE_PIECEWISE_CONSTANT, DF_N_SCHEDULES

    const char *df_activation_name(int code)
    const char *df_loss_name(int code)
    const char *df_metric_name(int code)
    const char *df_optimizer_rule_name(int code)
    const char *df_slot_name(int code)
    const char *df_schedule_name(int code)
    unsigned df_optimizer_slots(int rule, double momentum, int amsgrad)
    int df_loss_uses_labels(int loss)
    int df_activation_needs_input(int act)
    enum: DF_MAX_ROWS

    ctypedef void (*df_sgemm_fn)(char *, char *, int *, int *, int *, float *, float *, int *,
                                 float *, int *, float *, float *, int *)
    ctypedef void (*df_dgemm_fn)(char *, char *, int *, int *, int *, double *, double *, int *,
                                 double *, int *, double *, double *, int *)
    void df_set_blas(df_sgemm_fn sgemm, df_dgemm_fn dgemm)
    int df_set_narrow(int enabled)
    int df_forward_uses_blas(const df_net *net, int is_float32)

    enum: DF_LAYER_DENSE, DF_LAYER_DROPOUT, DF_LAYER_BATCH_NORM, DF_LAYER_NORMALIZATION
    enum: DF_LAYER_ACTIVATION, DF_LAYER_PRELU, DF_N_LAYER_KINDS, DF_MAX_WEIGHTS
    const char *df_layer_kind_name(int code)
    int64_t df_layer_weight_size(int kind, int index, int n_in, int n_out)
    int df_layer_weight_trainable(int kind, int index)
    int df_dropout_keeps(uint64_t seed, int64_t step, int64_t row, int64_t col, int64_t cols,
                         double rate)

    ctypedef struct df_layer:
        int kind
        int n_in, n_out
        int activation
        double slope
        int trainable
        int64_t weight[4]
        unsigned char in_params[4]
        double rate
        uint64_t seed
        double momentum, epsilon
        int invert
        double l1[4]
        double l2[4]
        double activity_l1, activity_l2

    ctypedef struct df_net:
        int n_layers
        const df_layer *layers
        void *params
        void *grads
        int64_t n_params
        void *state
        int64_t n_state

    enum:
        DF_HOOK_EXTRA

    ctypedef struct df_step_hook:
        int (*reduce)(void *context) noexcept
        void *context
        int64_t rank, size
        int shard

    ctypedef struct df_work:
        const df_step_hook *hook
        int64_t row_offset
        int64_t capacity
        void *x
        void *y
        void **act
        void *grad_a
        void *grad_b
        void **pre
        void *weight
        void **stats

    ctypedef struct df_objective:
        int loss
        int fused_output
        int metric
        double threshold
        double delta
        double label_smoothing
        int ignore_class_set
        int32_t ignore_class
        int n_metrics
        const df_metric_spec *metrics

    ctypedef struct df_metric_spec:
        int kind
        int reads_probabilities
        int weighted
        int k
        int class_id
        int per_output
        double threshold
        int n_thresholds
        const double *thresholds
        const df_objective *loss
        int64_t offset

    int64_t df_metric_state_size(const df_metric_spec *spec, int64_t cols)
    void df_metrics_update_f32(const df_objective *objective, const float *out, const float *probs,
                               const void *target, const float *weight, int64_t rows,
                               int64_t cols, double *state)
    void df_metrics_update_f64(const df_objective *objective, const double *out,
                               const double *probs, const void *target, const double *weight,
                               int64_t rows, int64_t cols, double *state)

    ctypedef struct df_schedule:
        int kind
        double initial_learning_rate, decay_steps, decay_rate, end_learning_rate, power
        double alpha, warmup_target, warmup_steps, t_mul, m_mul
        int staircase, cycle
        int n_boundaries
        const double *boundaries
        const double *values

    double df_learning_rate(const df_schedule *schedule, double constant, int64_t step)

    ctypedef struct df_optimizer_state:
        int rule
        double learning_rate, beta_1, beta_2, epsilon, momentum, rho
        int nesterov, amsgrad
        double weight_decay, clipnorm, global_clipnorm, clipvalue, u_product
        df_schedule schedule
        int64_t iterations
        void *slots[DF_N_SLOTS]

    void df_activation_forward_f32(int act, double slope, float *z, int64_t rows, int64_t cols)
    void df_activation_forward_f64(int act, double slope, double *z, int64_t rows, int64_t cols)
    void df_activation_backward_f32(int act, double slope, const float *z, const float *a,
                                    float *grad, int64_t rows, int64_t cols)
    void df_activation_backward_f64(int act, double slope, const double *z, const double *a,
                                    double *grad, int64_t rows, int64_t cols)
    void df_dense_forward_f32(const float *x, const float *w, const float *b, float *out,
                              float *z, int rows, int n_in, int n_out, int act, double slope)
    void df_dense_forward_f64(const double *x, const double *w, const double *b, double *out,
                              double *z, int rows, int n_in, int n_out, int act, double slope)
    void df_dense_backward_f32(const float *x, const float *w, const float *z, const float *a,
                               float *grad, float *dw, float *db, float *dx, int rows, int n_in,
                               int n_out, int act, double slope)
    void df_dense_backward_f64(const double *x, const double *w, const double *z,
                               const double *a, double *grad, double *dw, double *db, double *dx,
                               int rows, int n_in, int n_out, int act, double slope)
    double df_loss_f32(const df_objective *loss, const float *out, const void *target, float *grad,
                       int64_t rows, int64_t cols, const float *weight)
    double df_loss_f64(const df_objective *loss, const double *out, const void *target, double *grad,
                       int64_t rows, int64_t cols, const double *weight)
    double df_metric_f32(int metric, double threshold, const float *out, const void *target,
                         int64_t rows, int64_t cols)
    double df_metric_f64(int metric, double threshold, const double *out, const void *target,
                         int64_t rows, int64_t cols)
    int64_t df_first_nonfinite_f32(const float *x, int64_t rows, int64_t cols)
    int64_t df_first_nonfinite_f64(const double *x, int64_t rows, int64_t cols)
    void df_adam_f32(float *w, const float *g, float *m, float *v, int64_t n,
                     double learning_rate, double beta_1, double beta_2, double epsilon,
                     int64_t step)
    void df_adam_f64(double *w, const double *g, double *m, double *v, int64_t n,
                     double learning_rate, double beta_1, double beta_2, double epsilon,
                     int64_t step)
    void df_sgd_f32(float *w, const float *g, float *velocity, int64_t n, double learning_rate,
                    double momentum, int nesterov)
    void df_sgd_f64(double *w, const double *g, double *velocity, int64_t n,
                    double learning_rate, double momentum, int nesterov)
    void df_rmsprop_f32(float *w, const float *g, float *mean_square, int64_t n,
                        double learning_rate, double rho, double epsilon)
    void df_rmsprop_f64(double *w, const double *g, double *mean_square, int64_t n,
                        double learning_rate, double rho, double epsilon)
    void df_optimizer_step_f32(const df_net *net, df_optimizer_state *optimizer)
    void df_optimizer_step_f64(const df_net *net, df_optimizer_state *optimizer)
    int64_t df_train_batches_f32(const df_net *net, df_work *work, const df_objective *objective,
                                 df_optimizer_state *optimizer, const float *x, const void *y,
                                 const int64_t *order, int64_t n, int64_t batch_size,
                                 int64_t first_batch, int64_t end_batch, double *batch_loss,
                                 double *batch_metric, const float *sample_weight,
                                 double *metric_state)
    int64_t df_train_batches_f64(const df_net *net, df_work *work, const df_objective *objective,
                                 df_optimizer_state *optimizer, const double *x, const void *y,
                                 const int64_t *order, int64_t n, int64_t batch_size,
                                 int64_t first_batch, int64_t end_batch, double *batch_loss,
                                 double *batch_metric, const double *sample_weight,
                                 double *metric_state)
    int df_predict_f32(const df_net *net, const float *x, int64_t n, int64_t capacity,
                       float *out)
    int df_predict_f64(const df_net *net, const double *x, int64_t n, int64_t capacity,
                       double *out)
    void df_evaluate_f32(const df_net *net, df_work *work, const df_objective *objective,
                         const float *x, const void *y, int64_t n, double *loss_sum,
                         double *metric_sum, const float *sample_weight, double *metric_state)
    void df_evaluate_f64(const df_net *net, df_work *work, const df_objective *objective,
                         const double *x, const void *y, int64_t n, double *loss_sum,
                         double *metric_sum, const double *sample_weight, double *metric_state)
    void df_forward_f32(const df_net *net, df_work *work, const float *x, int rows,
                        int training, int64_t step)
    void df_forward_f64(const df_net *net, df_work *work, const double *x, int rows,
                        int training, int64_t step)
    void df_backward_f32(const df_net *net, df_work *work, const float *x, int rows,
                         int64_t step, float *dx)
    void df_backward_f64(const df_net *net, df_work *work, const double *x, int rows,
                         int64_t step, double *dx)
    void df_update_moving_statistics_f32(const df_net *net, const df_work *work)
    void df_update_moving_statistics_f64(const df_net *net, const df_work *work)
    double df_penalty_f32(const df_net *net, const df_work *work, int rows)
    double df_penalty_f64(const df_net *net, const df_work *work, int rows)
