/* The kernels, written once for a floating type.  Included by kernels_f32.c and
 * kernels_f64.c with REAL, REAL_BITS (a signed integer of REAL's size, for its
 * magnitudes), SFX (name suffix) and GEMM (the BLAS routine) defined, and
 * NARROW_REAL for float (the AVX-512 narrow kernels).
 * <tgmath.h> picks expf/exp etc. from the argument's type. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "densefit.h"
#include "blas.h"
#include "denormals.h"
#include "narrow.h"
#include "dropout.h"

/* Narrow layers (see narrow.h) exist for float only: kernels_f32.c sets NARROW_REAL.
 * Every entry point reads NARROW_ENABLED once and passes its answer (`narrow`)
 * down, so one call never mixes the two paths. */
#if defined(DF_HAVE_NARROW) && defined(NARROW_REAL)
#define NARROW_ENABLED() df_narrow_enabled()
#define NARROW_FITS(n) DF_NARROW_FITS(n)
#else
#define NARROW_ENABLED() 0
#define NARROW_FITS(n) 0
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define F(name) CAT(name, SFX)

/* Hot loops are compiled for AVX-512, AVX2 and baseline x86-64, and the loader
 * picks the best for the CPU at run time (GCC target_clones, an ifunc): a
 * portable wheel still runs wide vectors where the machine has them. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(DENSEFIT_NO_CLONES)
#define DF_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DF_HOT
#endif

/* Keras' backend epsilon: probabilities are clipped to [EPS, 1 - EPS]. */
#define EPS ((REAL)1e-7)

/* Row-major C[m x n] = op(A) op(B) (+ C if accumulate).  A row-major matrix is
 * its column-major transpose, so this is column-major C' = op(B)' op(A)'. */
static void F(gemm_rm)(int trans_a, int trans_b, int m, int n, int k, const REAL *a, int lda,
                       const REAL *b, int ldb, int accumulate, REAL *c, int ldc) {
    char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    REAL one = 1, beta = accumulate ? 1 : 0;
    if (m <= 0 || n <= 0) return;
    if (k <= 0) { /* BLAS would reject lda = 0; the product is zero */
        if (!accumulate)
            for (int i = 0; i < m; i++) memset(c + (int64_t)i * ldc, 0, sizeof(REAL) * n);
        return;
    }
    GEMM(&tb, &ta, &n, &m, &k, &one, (REAL *)b, &ldb, (REAL *)a, &lda, &beta, c, &ldc);
}

static inline REAL F(sigmoid)(REAL z) {
    /* exp of a non-positive number only: no overflow for any z */
    if (z >= 0) return 1 / (1 + exp(-z));
    REAL e = exp(z);
    return e / (1 + e);
}

/* log(1 + exp(-|z|)), the stable tail of the logistic loss */
static inline REAL F(log1p_exp_neg_abs)(REAL z) { return log1p(exp(-fabs(z))); }

static void F(softmax_row)(REAL *z, int64_t cols) {
    REAL max = z[0], sum = 0;
    for (int64_t j = 1; j < cols; j++) max = z[j] > max ? z[j] : max;
    for (int64_t j = 0; j < cols; j++) sum += (z[j] = exp(z[j] - max));
    REAL inv = 1 / sum;
    for (int64_t j = 0; j < cols; j++) z[j] *= inv;
}

/* log-sum-exp of a row, max-subtracted so it is finite for any finite logits;
 * with softmax not NULL, the row's softmax is left there too */
static REAL F(logsumexp_row)(const REAL *z, int64_t cols, REAL *softmax) {
    REAL max = z[0], sum = 0;
    for (int64_t j = 1; j < cols; j++) max = z[j] > max ? z[j] : max;
    if (softmax == NULL) {
        for (int64_t j = 0; j < cols; j++) sum += exp(z[j] - max);
        return max + log(sum);
    }
    /* the exponentials once, kept for the softmax the gradient needs */
    for (int64_t j = 0; j < cols; j++) sum += (softmax[j] = exp(z[j] - max));
    const REAL inv = 1 / sum;
    for (int64_t j = 0; j < cols; j++) softmax[j] *= inv;
    return max + log(sum);
}

/* Keras 3's constants (keras/src/backend/tensorflow/nn.py and TensorFlow's kernels) */
#define SELU_SCALE ((REAL)1.0507009873554804934193349852946)
#define SELU_ALPHA ((REAL)1.6732632423543772848170429916717)
#define GELU_TANH_C ((REAL)0.7978845608028654) /* sqrt(2 / pi) */
#define GELU_TANH_K ((REAL)0.044715)
#define SQRT1_2 ((REAL)0.70710678118654752440)    /* 1 / sqrt(2) */
#define INV_SQRT_2PI ((REAL)0.39894228040143267794) /* 1 / sqrt(2 pi) */

/* log(1 + exp(z)) without overflow */
static inline REAL F(softplus)(REAL z) { return (z > 0 ? z : 0) + log1p(exp(-fabs(z))); }

static inline REAL F(relu6)(REAL z) { return z > 0 ? (z < 6 ? z : 6) : 0; }

/* Keras' 0.5 z (1 + tanh(u)), u = c (z + k z^3), written as z sigmoid(2u): the same
 * function, without 1 + tanh(u)'s cancellation for negative z */
static inline REAL F(gelu_tanh_gate)(REAL z) {
    return F(sigmoid)(2 * GELU_TANH_C * (z + GELU_TANH_K * z * z * z));
}

DF_HOT void F(df_activation_forward)(int act, double slope_d, REAL *z, int64_t rows, int64_t cols) {
    const int64_t size = rows * cols;
    const REAL slope = (REAL)slope_d;
    switch (act) {
    case DF_RELU:
        for (int64_t i = 0; i < size; i++) z[i] = z[i] > 0 ? z[i] : 0;
        break;
    case DF_SIGMOID:
        for (int64_t i = 0; i < size; i++) z[i] = F(sigmoid)(z[i]);
        break;
    case DF_TANH:
        for (int64_t i = 0; i < size; i++) z[i] = tanh(z[i]);
        break;
    case DF_LEAKY_RELU:
        for (int64_t i = 0; i < size; i++) z[i] = z[i] > 0 ? z[i] : slope * z[i];
        break;
    case DF_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) F(softmax_row)(z + r * cols, cols);
        break;
    case DF_ELU:
        for (int64_t i = 0; i < size; i++) z[i] = z[i] > 0 ? z[i] : slope * expm1(z[i]);
        break;
    case DF_SELU:
        for (int64_t i = 0; i < size; i++)
            z[i] = SELU_SCALE * (z[i] > 0 ? z[i] : SELU_ALPHA * expm1(z[i]));
        break;
    case DF_GELU:
        /* Phi(z) = erfc(-z / sqrt 2) / 2: no cancellation for negative z (TensorFlow's
         * 1 + erf(z / sqrt 2) loses float32's digits there; the two agree elsewhere) */
        for (int64_t i = 0; i < size; i++) z[i] = (REAL)0.5 * z[i] * erfc(-z[i] * SQRT1_2);
        break;
    case DF_GELU_APPROXIMATE:
        for (int64_t i = 0; i < size; i++) z[i] = z[i] * F(gelu_tanh_gate)(z[i]);
        break;
    case DF_SILU:
        for (int64_t i = 0; i < size; i++) z[i] = z[i] * F(sigmoid)(z[i]);
        break;
    case DF_SOFTPLUS:
        for (int64_t i = 0; i < size; i++) z[i] = F(softplus)(z[i]);
        break;
    case DF_SOFTSIGN:
        for (int64_t i = 0; i < size; i++) z[i] = z[i] / (1 + fabs(z[i]));
        break;
    case DF_HARD_SIGMOID:
        for (int64_t i = 0; i < size; i++) z[i] = F(relu6)(z[i] + 3) / 6;
        break;
    case DF_HARD_SILU:
        for (int64_t i = 0; i < size; i++) z[i] = z[i] * (F(relu6)(z[i] + 3) / 6);
        break;
    case DF_RELU6:
        for (int64_t i = 0; i < size; i++) z[i] = F(relu6)(z[i]);
        break;
    case DF_EXPONENTIAL:
        for (int64_t i = 0; i < size; i++) z[i] = exp(z[i]);
        break;
    case DF_MISH:
        for (int64_t i = 0; i < size; i++) z[i] = z[i] * tanh(F(softplus)(z[i]));
        break;
    default: /* DF_LINEAR */
        break;
    }
}

/* d activation / dz at z, for the activations whose output does not determine z */
static inline REAL F(derivative_from_input)(int act, REAL z) {
    switch (act) {
    case DF_GELU:
        return (REAL)0.5 * erfc(-z * SQRT1_2) + z * INV_SQRT_2PI * exp(-z * z / 2);
    case DF_GELU_APPROXIMATE: {
        const REAL s = F(gelu_tanh_gate)(z);
        return s + 2 * z * s * (1 - s) * GELU_TANH_C * (1 + 3 * GELU_TANH_K * z * z);
    }
    case DF_SILU: {
        const REAL s = F(sigmoid)(z);
        return s * (1 + z * (1 - s));
    }
    case DF_HARD_SILU: /* relu6's derivative is 0 at both ends, as TensorFlow's */
        return F(relu6)(z + 3) / 6 + (z + 3 > 0 && z + 3 < 6 ? z / 6 : 0);
    case DF_MISH: {
        const REAL t = tanh(F(softplus)(z));
        return t + z * (1 - t * t) * F(sigmoid)(z);
    }
    default:
        return 1;
    }
}

/* grad holds dL/da on entry and dL/dz on return.  Derivatives are written from
 * the activation's output a where it determines them; those that need the
 * input (df_activation_needs_input) read z, which may be NULL for the others. */
DF_HOT void F(df_activation_backward)(int act, double slope_d, const REAL *z, const REAL *a,
                                      REAL *grad, int64_t rows, int64_t cols) {
    const int64_t size = rows * cols;
    const REAL slope = (REAL)slope_d;
    switch (act) {
    case DF_RELU:
        for (int64_t i = 0; i < size; i++) grad[i] = a[i] > 0 ? grad[i] : 0;
        break;
    case DF_SIGMOID:
        for (int64_t i = 0; i < size; i++) grad[i] *= a[i] * (1 - a[i]);
        break;
    case DF_TANH:
        for (int64_t i = 0; i < size; i++) grad[i] *= 1 - a[i] * a[i];
        break;
    case DF_LEAKY_RELU:
        for (int64_t i = 0; i < size; i++) grad[i] = a[i] > 0 ? grad[i] : slope * grad[i];
        break;
    case DF_SOFTMAX: /* Jacobian-vector product: dz = a * (da - <da, a>) */
        for (int64_t r = 0; r < rows; r++) {
            const REAL *ar = a + r * cols;
            REAL *gr = grad + r * cols, dot = 0;
            for (int64_t j = 0; j < cols; j++) dot += gr[j] * ar[j];
            for (int64_t j = 0; j < cols; j++) gr[j] = ar[j] * (gr[j] - dot);
        }
        break;
    case DF_ELU: /* alpha exp(z) = a + alpha where z <= 0 */
        for (int64_t i = 0; i < size; i++) grad[i] *= a[i] > 0 ? 1 : a[i] + slope;
        break;
    case DF_SELU:
        for (int64_t i = 0; i < size; i++)
            grad[i] *= a[i] > 0 ? SELU_SCALE : a[i] + SELU_SCALE * SELU_ALPHA;
        break;
    case DF_SOFTPLUS: /* sigmoid(z) = 1 - exp(-a) */
        for (int64_t i = 0; i < size; i++) grad[i] *= -expm1(-a[i]);
        break;
    case DF_SOFTSIGN: /* 1 / (1 + |z|)^2 = (1 - |a|)^2 */
        for (int64_t i = 0; i < size; i++) grad[i] *= (1 - fabs(a[i])) * (1 - fabs(a[i]));
        break;
    case DF_HARD_SIGMOID:
        for (int64_t i = 0; i < size; i++) grad[i] = a[i] > 0 && a[i] < 1 ? grad[i] / 6 : 0;
        break;
    case DF_RELU6:
        for (int64_t i = 0; i < size; i++) grad[i] = a[i] > 0 && a[i] < 6 ? grad[i] : 0;
        break;
    case DF_EXPONENTIAL:
        for (int64_t i = 0; i < size; i++) grad[i] *= a[i];
        break;
    case DF_GELU: case DF_GELU_APPROXIMATE: case DF_SILU: case DF_HARD_SILU: case DF_MISH:
        for (int64_t i = 0; i < size; i++) grad[i] *= F(derivative_from_input)(act, z[i]);
        break;
    default:
        break;
    }
}

/* out = act(x w + b), the bias added in the same pass as the activation.  Row r
 * of x is x + (idx ? idx[r] : r) * n_in: the training loop's first layer reads
 * its batch through the epoch's order when it takes the narrow path (narrow and
 * n_out fits); only then may idx be given, BLAS needs the rows gathered. */
DF_HOT static void F(dense_forward_rows)(const REAL *x, const int64_t *idx, const REAL *w,
                                         const REAL *b, REAL *out, REAL *pre, int rows, int n_in,
                                         int n_out, int act, double slope, int narrow,
                                         uint16_t *live) {
#if defined(DF_HAVE_NARROW) && defined(NARROW_REAL)
    if (narrow && NARROW_FITS(n_out)) {
        df_narrow_forward_f32(x, idx, n_in, w, b, out, rows, n_in, n_out, live);
        if (pre) memcpy(pre, out, sizeof(REAL) * (size_t)rows * n_out);
        F(df_activation_forward)(act, slope, out, rows, n_out);
        return;
    }
#else
    (void)narrow;
#endif
    (void)idx, (void)live; /* NULL here: see above */
    F(gemm_rm)(0, 0, rows, n_out, n_in, x, n_in, w, n_out, 0, out, n_out);
    const REAL slope_r = (REAL)slope;
    for (int r = 0; r < rows; r++) {
        REAL *o = out + (int64_t)r * n_out;
        /* the common element-wise cases fused with the bias; keeping z (pre) takes
         * the general path: bias, copy, then the activation */
        switch (pre ? -1 : act) {
        case DF_RELU:
            for (int j = 0; j < n_out; j++) { REAL v = o[j] + b[j]; o[j] = v > 0 ? v : 0; }
            break;
        case DF_LEAKY_RELU:
            for (int j = 0; j < n_out; j++) { REAL v = o[j] + b[j]; o[j] = v > 0 ? v : slope_r * v; }
            break;
        default:
            for (int j = 0; j < n_out; j++) o[j] += b[j];
            if (pre) memcpy(pre + (int64_t)r * n_out, o, sizeof(REAL) * n_out);
            if (act != DF_LINEAR) F(df_activation_forward)(act, slope, o, 1, n_out);
        }
    }
}

/* z, where not NULL, receives the pre-activation x w + b. */
void F(df_dense_forward)(const REAL *x, const REAL *w, const REAL *b, REAL *out, REAL *z,
                         int rows, int n_in, int n_out, int act, double slope) {
    F(dense_forward_rows)(x, NULL, w, b, out, z, rows, n_in, n_out, act, slope, NARROW_ENABLED(),
                          NULL);
}

/* grad: dL/da on entry (overwritten with dL/dz).  dw, db are overwritten (both
 * NULL: not computed, a frozen layer).
 * dx = dz w' is skipped when dx is NULL (the first layer needs no input
 * gradient).  x's rows as in dense_forward_rows. */
DF_HOT static void F(dense_backward_rows)(const REAL *x, const int64_t *idx, const REAL *w,
                                          const REAL *z, const REAL *a, REAL *grad, REAL *dw, REAL *db, REAL *dx,
                                          int rows, int n_in, int n_out, int act, double slope,
                                          int narrow, const uint16_t *live) {
    F(df_activation_backward)(act, slope, z, a, grad, rows, n_out);
    if (dw) { /* NULL for a frozen layer */
#if defined(DF_HAVE_NARROW) && defined(NARROW_REAL)
        if (narrow && NARROW_FITS(n_out))
            df_narrow_dw_f32(x, idx, n_in, grad, dw, rows, n_in, n_out, live);
        else
#else
        (void)narrow, (void)idx, (void)live;
#endif
            F(gemm_rm)(1, 0, n_in, n_out, rows, x, n_in, grad, n_out, 0, dw, n_out);
        for (int j = 0; j < n_out; j++) db[j] = 0;
        for (int r = 0; r < rows; r++) {
            const REAL *g = grad + (int64_t)r * n_out;
            for (int j = 0; j < n_out; j++) db[j] += g[j];
        }
    }
    if (!dx) return;
#if defined(DF_HAVE_NARROW) && defined(NARROW_REAL)
    /* dx = dz w' is a forward pass through w' when both sides are narrow
     * (the notes' 25 -> 15 -> 10): transposing w costs less than a BLAS call. */
    if (narrow && NARROW_FITS(n_in) && NARROW_FITS(n_out)) {
        float wt[DF_NARROW_MAX * DF_NARROW_MAX];
        for (int k = 0; k < n_in; k++)
            for (int j = 0; j < n_out; j++) wt[j * n_in + k] = w[(int64_t)k * n_out + j];
        df_narrow_forward_f32(grad, NULL, n_out, wt, NULL, dx, rows, n_out, n_in, NULL);
        return;
    }
#endif
    F(gemm_rm)(0, 1, rows, n_in, n_out, grad, n_out, w, n_out, 0, dx, n_in);
}

/* z: the pre-activation, read only where df_activation_needs_input(act). */
void F(df_dense_backward)(const REAL *x, const REAL *w, const REAL *z, const REAL *a, REAL *grad,
                          REAL *dw, REAL *db, REAL *dx, int rows, int n_in, int n_out, int act,
                          double slope) {
    F(dense_backward_rows)(x, NULL, w, z, a, grad, dw, db, dx, rows, n_in, n_out, act, slope,
                           NARROW_ENABLED(), NULL);
}

/* The affine map t -> a t + b a loss applies to its dense targets first:
 * label smoothing (BCE, CE), and hinge's 0/1 labels to -1/1. */
typedef struct {
    REAL a, b;
} F(target_map);

/* Whether every one of n values is 0 or 1 (Keras checks the whole batch). */
static int F(zeros_and_ones)(const REAL *t, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (t[i] != 0 && t[i] != 1) return 0;
    return 1;
}

static F(target_map) F(targets_for)(const df_objective *obj, const REAL *t, int64_t rows,
                                     int64_t cols) {
    F(target_map) m = {1, 0};
    const double s = obj->label_smoothing;
    switch (obj->loss) {
    case DF_LOSS_BCE_LOGITS: case DF_LOSS_BCE_PROBS:
        m.a = (REAL)(1 - s), m.b = (REAL)(s / 2);
        break;
    case DF_LOSS_CE_LOGITS: case DF_LOSS_CE_PROBS:
        m.a = (REAL)(1 - s), m.b = (REAL)(s / (double)cols);
        break;
    case DF_LOSS_HINGE: case DF_LOSS_SQUARED_HINGE:
        if (F(zeros_and_ones)(t, rows * cols)) m.a = 2, m.b = -1;
        break;
    }
    return m;
}

/* Softmax cross-entropy of one row from logits: loss = lse - <t, z>,
 * dz = softmax * sum(t) - t (exact also for targets that do not sum to one).
 * Dense targets are read through m. */
static inline double F(ce_logits_row)(const REAL *z, const REAL *t, int32_t label, REAL *g, int64_t cols,
                               REAL scale, F(target_map) m) {
    const REAL lse = F(logsumexp_row)(z, cols, g); /* g holds the softmax if given */
    if (t == NULL) { /* sparse: t is one-hot at label */
        if (g) {
            for (int64_t j = 0; j < cols; j++) g[j] *= scale;
            g[label] -= scale;
        }
        return (double)(lse - z[label]);
    }
    REAL dot = 0, total = 0;
    for (int64_t j = 0; j < cols; j++) {
        const REAL tj = m.a * t[j] + m.b;
        dot += tj * z[j];
        total += tj;
    }
    if (g)
        for (int64_t j = 0; j < cols; j++) g[j] = (g[j] * total - (m.a * t[j] + m.b)) * scale;
    return (double)(lse * total - dot);
}

/* Cross-entropy of one row of probabilities, Keras' way: renormalise p / sum(p),
 * clip to [EPS, 1 - EPS], -sum t log q.  The clip passes no gradient where it bites. */
static double F(ce_probs_row)(const REAL *p, const REAL *t, int32_t label, REAL *g, int64_t cols,
                              REAL scale, F(target_map) m) {
    REAL s = 0, loss = 0, weighted = 0; /* weighted = sum_j dL/dq_j * q_j */
    for (int64_t j = 0; j < cols; j++) s += p[j];
    for (int64_t j = 0; j < cols; j++) {
        const REAL tj = t ? m.a * t[j] + m.b : (REAL)(j == label);
        if (tj == 0) continue;
        const REAL q = p[j] / s, qc = q < EPS ? EPS : (q > 1 - EPS ? 1 - EPS : q);
        loss -= tj * log(qc);
        if (q == qc) weighted -= tj; /* (-t/q) * q */
    }
    if (g) {
        /* dL/dp_k = (dL/dq_k - sum_j dL/dq_j q_j) / s */
        for (int64_t j = 0; j < cols; j++) {
            const REAL tj = t ? m.a * t[j] + m.b : (REAL)(j == label);
            const REAL q = p[j] / s;
            const REAL dq = (tj != 0 && q >= EPS && q <= 1 - EPS) ? -tj / q : 0;
            g[j] = (dq - weighted) / s * scale;
        }
    }
    return (double)loss;
}

/* Sparse cross-entropy over the rows; with ignore_class, rows so labelled add
 * nothing and the mean is over the others (Keras' mask: sum / valid, 0 if none). */
static double F(sparse_ce)(const df_objective *obj, const REAL *out, const int32_t *labels,
                           REAL *grad, int64_t rows, int64_t cols, const REAL *weight) {
    /* read once: the stores to grad below could alias *obj for the compiler */
    const int ignore = obj->ignore_class_set, logits = obj->loss == DF_LOSS_SPARSE_CE_LOGITS;
    const int32_t ignored = obj->ignore_class;
    int64_t valid = rows;
    if (ignore)
        for (int64_t r = 0; r < rows; r++) valid -= labels[r] == ignored;
    const REAL scale = valid ? (REAL)(1.0 / (double)valid) : 0;
    const F(target_map) m = {1, 0};
    double total = 0;
    for (int64_t r = 0; r < rows; r++) {
        REAL *g = grad ? grad + r * cols : NULL;
        if (ignore && labels[r] == ignored) {
            if (g) memset(g, 0, sizeof(REAL) * (size_t)cols);
            continue;
        }
        const REAL w = weight ? weight[r] : 1;
        total += w * (logits ? F(ce_logits_row)(out + r * cols, NULL, labels[r], g, cols, w * scale, m)
                             : F(ce_probs_row)(out + r * cols, NULL, labels[r], g, cols, w * scale, m));
    }
    return valid ? total * (double)rows / (double)valid : 0;
}

/* One output's loss for the losses that are a function of (p, t) per output;
 * *d gets its derivative in p. */
static inline REAL F(output_loss)(int loss, REAL p, REAL t, REAL delta, REAL *d) {
    const REAL e = p - t, sign = (REAL)((e > 0) - (e < 0));
    switch (loss) {
    case DF_LOSS_BCE_LOGITS: /* max(z,0) - z t + log(1 + exp(-|z|)); d/dz = sigmoid(z) - t */
        *d = F(sigmoid)(p) - t;
        return (p > 0 ? p : 0) - p * t + F(log1p_exp_neg_abs)(p);
    case DF_LOSS_BCE_PROBS: {
        const REAL pc = p < EPS ? EPS : (p > 1 - EPS ? 1 - EPS : p);
        *d = p == pc ? (pc - t) / (pc * (1 - pc)) : 0;
        return -(t * log(pc) + (1 - t) * log(1 - pc));
    }
    case DF_LOSS_MAE:
        *d = sign;
        return fabs(e);
    case DF_LOSS_MAPE: {
        const REAL at = fabs(t), s = at > EPS ? at : EPS;
        *d = 100 * sign / s;
        return 100 * fabs(e) / s;
    }
    case DF_LOSS_MSLE: {
        const REAL lp = log((p > EPS ? p : EPS) + 1), lt = log((t > EPS ? t : EPS) + 1);
        *d = p >= EPS ? 2 * (lp - lt) / (p + 1) : 0;
        return (lp - lt) * (lp - lt);
    }
    case DF_LOSS_HUBER:
        *d = fabs(e) <= delta ? e : delta * sign;
        return fabs(e) <= delta ? (REAL)0.5 * e * e : delta * fabs(e) - (REAL)0.5 * delta * delta;
    case DF_LOSS_LOG_COSH: /* e + softplus(-2e) - log 2, Keras' stable form */
        *d = tanh(e);
        return e + (e < 0 ? -2 * e : 0) + F(log1p_exp_neg_abs)(2 * e) - (REAL)0.6931471805599453;
    case DF_LOSS_KLD: {
        const REAL tc = t < EPS ? EPS : (t > 1 ? 1 : t), pc = p < EPS ? EPS : (p > 1 ? 1 : p);
        *d = p == pc ? -tc / pc : 0;
        return tc * log(tc / pc);
    }
    case DF_LOSS_POISSON:
        *d = 1 - t / (p + EPS);
        return p - t * log(p + EPS);
    case DF_LOSS_HINGE: {
        const REAL margin = 1 - t * p;
        *d = margin >= 0 ? -t : 0;
        return margin > 0 ? margin : 0;
    }
    case DF_LOSS_SQUARED_HINGE: {
        const REAL margin = 1 - t * p > 0 ? 1 - t * p : 0;
        *d = -2 * t * margin;
        return margin * margin;
    }
    default: /* DF_LOSS_MSE */
        *d = 2 * e;
        return e * e;
    }
}

/* Categorical hinge of one row: max(max_j (1 - t_j) p_j - sum_j t_j p_j + 1, 0). */
static double F(categorical_hinge_row)(const REAL *p, const REAL *t, REAL *g, int64_t cols,
                                       REAL scale) {
    REAL pos = 0, neg = (1 - t[0]) * p[0];
    int64_t top = 0;
    for (int64_t j = 0; j < cols; j++) {
        pos += t[j] * p[j];
        if ((1 - t[j]) * p[j] > neg) neg = (1 - t[j]) * p[j], top = j;
    }
    const REAL value = neg - pos + 1;
    if (g) {
        for (int64_t j = 0; j < cols; j++) g[j] = value >= 0 ? -t[j] * scale : 0;
        if (value >= 0) g[top] += (1 - t[top]) * scale;
    }
    return value > 0 ? (double)value : 0;
}

/* A loss on dense targets, row by row: a row's loss is the mean over its outputs
 * of output_loss, or the sum (KLD), or the categorical hinge. */
static double F(dense_loss)(const df_objective *obj, const REAL *out, const REAL *t, REAL *grad,
                            int64_t rows, int64_t cols, const REAL *weight) {
    const int loss = obj->loss;
    const F(target_map) m = F(targets_for)(obj, t, rows, cols);
    const REAL delta = (REAL)obj->delta, row_scale = (REAL)(1.0 / (double)rows);
    const int summed = loss == DF_LOSS_KLD;
    const REAL scale = summed ? row_scale : (REAL)(1.0 / ((double)rows * (double)cols));
    double total = 0;
    for (int64_t r = 0; r < rows; r++) {
        const REAL *o = out + r * cols, *tr = t + r * cols;
        REAL *g = grad ? grad + r * cols : NULL;
        const REAL w = weight ? weight[r] : 1; /* the row's sample weight */
        if (loss == DF_LOSS_CE_LOGITS || loss == DF_LOSS_CE_PROBS) {
            total += w * (loss == DF_LOSS_CE_LOGITS
                              ? F(ce_logits_row)(o, tr, 0, g, cols, w * row_scale, m)
                              : F(ce_probs_row)(o, tr, 0, g, cols, w * row_scale, m));
            continue;
        }
        if (loss == DF_LOSS_CATEGORICAL_HINGE) {
            total += w * F(categorical_hinge_row)(o, tr, g, cols, w * row_scale);
            continue;
        }
        double row = 0;
        const REAL ws = w * scale;
        for (int64_t j = 0; j < cols; j++) {
            REAL d;
            row += (double)F(output_loss)(loss, o[j], m.a * tr[j] + m.b, delta, &d);
            if (g) g[j] = d * ws;
        }
        total += w * (summed ? row : row / (double)cols);
    }
    return total;
}

double F(df_loss)(const df_objective *obj, const REAL *out, const void *target, REAL *grad,
                  int64_t rows, int64_t cols, const REAL *weight) {
    if (rows <= 0) return 0;
    if (df_loss_uses_labels(obj->loss))
        return F(sparse_ce)(obj, out, (const int32_t *)target, grad, rows, cols, weight);
    return F(dense_loss)(obj, out, (const REAL *)target, grad, rows, cols, weight);
}

/* The first row holding a NaN or inf, or -1.  x - x is 0 for finite x and NaN
 * otherwise: a compare and an OR per element, which vectorises. */
DF_HOT int64_t F(df_first_nonfinite)(const REAL *x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const REAL *row = x + r * cols;
        int bad = 0;
        for (int64_t j = 0; j < cols; j++) bad |= (row[j] - row[j]) != 0;
        if (bad) return r;
    }
    return -1;
}

static int64_t F(argmax_row)(const REAL *v, int64_t cols) {
    int64_t best = 0;
    for (int64_t j = 1; j < cols; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

/* Fewer than k outputs of the row above its output `label` (ties count as in
 * the top k, as tf.math.in_top_k). */
static int F(in_top_k)(const REAL *o, int64_t cols, int64_t label, int k) {
    int64_t above = 0;
    for (int64_t j = 0; j < cols; j++) above += o[j] > o[label];
    return above < k;
}

/* Whether a top-k filter keeps output `j` of the row: exactly k outputs are
 * kept, ties going to the lower index (Keras' _filter_top_k, ops.top_k). */
static int F(top_k_keeps)(const REAL *o, int64_t cols, int64_t j, int k) {
    int64_t before = 0;
    for (int64_t i = 0; i < cols; i++) before += o[i] > o[j] || (o[i] == o[j] && i < j);
    return before < k;
}

/* One row's value of a mean metric (binary accuracy and the errors: the mean
 * over its outputs); t: the row's dense target, label: its label. */
static double F(metric_row)(int metric, double threshold, int k, const REAL *o, const REAL *t,
                            int32_t label, int64_t cols) {
    double sum = 0;
    switch (metric) {
    case DF_METRIC_SPARSE_ACCURACY: return F(argmax_row)(o, cols) == label;
    case DF_METRIC_CATEGORICAL_ACCURACY: return F(argmax_row)(o, cols) == F(argmax_row)(t, cols);
    case DF_METRIC_SPARSE_TOP_K: return label >= 0 && label < cols && F(in_top_k)(o, cols, label, k);
    case DF_METRIC_TOP_K: return F(in_top_k)(o, cols, F(argmax_row)(t, cols), k);
    case DF_METRIC_BINARY_ACCURACY:
        for (int64_t j = 0; j < cols; j++) sum += (REAL)(o[j] > threshold) == t[j];
        break;
    case DF_METRIC_ABS_ERROR:
        for (int64_t j = 0; j < cols; j++) sum += fabs((double)t[j] - o[j]);
        break;
    case DF_METRIC_SQUARED_ERROR:
        for (int64_t j = 0; j < cols; j++) sum += ((double)t[j] - o[j]) * ((double)t[j] - o[j]);
        break;
    case DF_METRIC_PERCENT_ERROR:
        for (int64_t j = 0; j < cols; j++)
            sum += 100 * fabs((double)t[j] - o[j]) / fmax(fabs((double)t[j]), 1e-7);
        break;
    case DF_METRIC_SQUARED_LOG_ERROR:
        for (int64_t j = 0; j < cols; j++) {
            const double d = log(fmax((double)o[j], 1e-7) + 1) - log(fmax((double)t[j], 1e-7) + 1);
            sum += d * d;
        }
        break;
    default:
        return 0;
    }
    return sum / (double)cols;
}

/* The sum over rows of a mean metric's row values (0 for the other kinds). */
double F(df_metric)(int metric, double threshold, const REAL *out, const void *target,
                    int64_t rows, int64_t cols) {
    const int32_t *labels = (const int32_t *)target;
    const REAL *t = (const REAL *)target;
    const int sparse = metric == DF_METRIC_SPARSE_ACCURACY || metric == DF_METRIC_SPARSE_TOP_K;
    double hits = 0;
    for (int64_t r = 0; r < rows; r++)
        hits += F(metric_row)(metric, threshold, 5, out + r * cols, sparse ? NULL : t + r * cols,
                              sparse ? labels[r] : 0, cols);
    return hits;
}

/* TP, FP, TN, FN at each threshold (df_metric_spec) for one output. */
static void F(confusion_add)(const df_metric_spec *spec, double p, int positive, double w,
                             double *state) {
    for (int i = 0; i < spec->n_thresholds; i++) {
        const int predicted = p > spec->thresholds[i];
        state[4 * i + (positive ? (predicted ? 0 : 3) : (predicted ? 1 : 2))] += w;
    }
}

/* Per output TP, FP, FN and the targets' sum (df_metric_spec) for one row. */
static void F(class_counts_add)(double threshold, const REAL *o, const REAL *t, int64_t cols,
                                double w, double *state) {
    REAL top = o[F(argmax_row)(o, cols)];
    for (int64_t j = 0; j < cols; j++) {
        const double predicted = isnan(threshold) ? (o[j] >= top && fabs((double)o[j]) > 1e-9)
                                                  : o[j] > threshold;
        state[j] += w * predicted * t[j];
        state[cols + j] += w * predicted * (1 - t[j]);
        state[2 * cols + j] += w * (1 - predicted) * t[j];
        state[3 * cols + j] += w * t[j];
    }
}

static void F(metric_update)(const df_metric_spec *spec, const REAL *out, const void *target,
                             const REAL *weight, int64_t rows, int64_t cols, double *state) {
    const int32_t *labels = (const int32_t *)target;
    const REAL *t = (const REAL *)target;
    const int sparse = spec->kind == DF_METRIC_SPARSE_ACCURACY ||
                       spec->kind == DF_METRIC_SPARSE_TOP_K;
    if (spec->kind == DF_METRIC_LOSS) {
        state[0] += F(df_loss)(spec->loss, out, target, NULL, rows, cols, weight);
        for (int64_t r = 0; r < rows; r++) state[1] += weight ? weight[r] : 1;
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        const double w = weight ? weight[r] : 1;
        const REAL *o = out + r * cols, *tr = sparse ? NULL : t + r * cols;
        if (spec->kind == DF_METRIC_CONFUSION) {
            for (int64_t j = 0; j < cols; j++)
                if (spec->class_id < 0 || spec->class_id == j)
                    F(confusion_add)(spec, spec->k > 0 && !F(top_k_keeps)(o, cols, j, spec->k)
                                               ? DF_NEG_INF : (double)o[j],
                                     tr[j] != 0, w,
                                     state + (spec->per_output ? 4 * spec->n_thresholds * j : 0));
        } else if (spec->kind == DF_METRIC_CLASS_COUNTS) {
            F(class_counts_add)(spec->threshold, o, tr, cols, w, state);
        } else {
            state[0] += w * F(metric_row)(spec->kind, spec->threshold, spec->k, o, tr,
                                          sparse ? labels[r] : 0, cols);
            state[1] += w;
        }
    }
}

/* Adds `rows` rows to each of the objective's metrics' state: a metric reads
 * `probs` (the fused output's probabilities, or out itself) or `out`. */
void F(df_metrics_update)(const df_objective *objective, const REAL *out, const REAL *probs,
                          const void *target, const REAL *weight, int64_t rows, int64_t cols,
                          double *state) {
    for (int m = 0; m < objective->n_metrics; m++) {
        const df_metric_spec *spec = objective->metrics + m;
        F(metric_update)(spec, spec->reads_probabilities ? probs : out, target,
                         spec->weighted ? weight : NULL, rows, cols, state + spec->offset);
    }
}

/* A buffer for the fused output's probabilities when a metric reads them (else
 * NULL: the metrics read the outputs as they are); the caller frees it. */
static REAL *F(metric_probs_buffer)(const df_objective *objective, int64_t capacity,
                                    int64_t cols) {
    int needed = 0;
    for (int m = 0; m < objective->n_metrics; m++)
        needed |= objective->metrics[m].reads_probabilities;
    return needed && objective->fused_output ? (REAL *)malloc(sizeof(REAL) * capacity * cols)
                                             : NULL;
}

/* The metrics' update for a batch's outputs (logits when fused: then `probs`
 * receives the output activation of them). */
static void F(metrics_batch)(const df_net *net, const df_objective *objective, const REAL *out,
                             REAL *probs, const void *target, const REAL *weight, int rows,
                             int64_t cols, double *state) {
    if (!state || objective->n_metrics == 0) return;
    if (probs) {
        const df_layer *last = &net->layers[net->n_layers - 1];
        memcpy(probs, out, sizeof(REAL) * rows * cols);
        F(df_activation_forward)(last->activation, last->slope, probs, rows, cols);
    }
    F(df_metrics_update)(objective, out, probs ? probs : out, target, weight, rows, cols, state);
}

/* Keras 3's Adam: the bias corrections folded into the step size, epsilon added
 * to the uncorrected sqrt(v).  step is the 1-based iteration number. */
static inline double F(adam_step_size)(double learning_rate, double beta_1, double beta_2,
                                       int64_t step) {
    const double t = (double)step;
    return learning_rate * sqrt(1 - pow(beta_2, t)) / (1 - pow(beta_1, t));
}

/* One element of each update rule, shared by the real step and the dry run
 * (dry_step_within) so each rule is written once. */
static inline void F(adam_element)(REAL g, REAL *w, REAL *m, REAL *v, REAL alpha,
                                   REAL one_minus_b1, REAL one_minus_b2, REAL eps) {
    *m += (g - *m) * one_minus_b1;
    *v += (g * g - *v) * one_minus_b2;
    *w -= alpha * *m / (sqrt(*v) + eps);
}

static inline void F(sgd_element)(REAL g, REAL *w, REAL *velocity, REAL lr, REAL mu,
                                  int nesterov) {
    *velocity = mu * *velocity - lr * g;
    *w += nesterov ? mu * *velocity - lr * g : *velocity;
}

static inline void F(rmsprop_element)(REAL g, REAL *w, REAL *mean_square, REAL lr, REAL rho,
                                      REAL eps) {
    *mean_square = rho * *mean_square + (1 - rho) * g * g;
    *w -= lr * g / sqrt(*mean_square + eps);
}

/* Adam with amsgrad: the running maximum of v (velocity_hats) in v's place. */
static inline void F(amsgrad_element)(REAL g, REAL *w, REAL *m, REAL *v, REAL *v_hat, REAL alpha,
                                      REAL one_minus_b1, REAL one_minus_b2, REAL eps) {
    *m += (g - *m) * one_minus_b1;
    *v += (g * g - *v) * one_minus_b2;
    *v_hat = *v_hat > *v ? *v_hat : *v;
    *w -= alpha * *m / (sqrt(*v_hat) + eps);
}

/* Keras' Adagrad: acc += g^2; w -= lr g / sqrt(acc + epsilon). */
static inline void F(adagrad_element)(REAL g, REAL *w, REAL *acc, REAL lr, REAL eps) {
    *acc += g * g;
    *w -= lr * g / sqrt(*acc + eps);
}

/* Keras' Adamax: m += (g - m)(1 - beta_1); u = max(beta_2 u, |g|);
 * w -= lr / (1 - beta_1^t) * m / (u + epsilon)  (alpha: the first factor). */
static inline void F(adamax_element)(REAL g, REAL *w, REAL *m, REAL *u, REAL alpha,
                                     REAL one_minus_b1, REAL b2, REAL eps) {
    const REAL ag = fabs(g), bu = b2 * *u;
    *m += (g - *m) * one_minus_b1;
    *u = bu > ag ? bu : ag;
    *w -= alpha * *m / (*u + eps);
}

/* Keras' Nadam: m and v as Adam's; m_hat = c_m m + c_g g (the momentum
 * schedule's coefficients), v_hat = v / (1 - beta_2^t) (bc2);
 * w -= lr m_hat / (sqrt(v_hat) + epsilon). */
static inline void F(nadam_element)(REAL g, REAL *w, REAL *m, REAL *v, REAL c_m, REAL c_g,
                                    REAL bc2, REAL lr, REAL one_minus_b1, REAL one_minus_b2,
                                    REAL eps) {
    *m += (g - *m) * one_minus_b1;
    *v += (g * g - *v) * one_minus_b2;
    const REAL m_hat = c_m * *m + c_g * g;
    *w -= m_hat * lr / (sqrt(*v / bc2) + eps);
}

/* |x| as an ordered integer: with the sign bit cleared, IEEE magnitudes order
 * as integers and inf and NaN lie above every finite value.  Maxima are taken
 * on these bits: an integer max vectorises and sees NaN; a float one does neither. */
#define MAGNITUDE_MASK ((REAL_BITS)(~(uint64_t)0 >> (65 - 8 * sizeof(REAL))))

static inline REAL_BITS F(magnitude)(REAL x) {
    REAL_BITS b;
    memcpy(&b, &x, sizeof b);
    return b & MAGNITUDE_MASK;
}

static inline REAL_BITS F(bigger)(REAL_BITS best, REAL x) {
    const REAL_BITS b = F(magnitude)(x);
    return b > best ? b : best;
}

static inline REAL F(from_magnitude)(REAL_BITS b) {
    REAL x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* The largest |x| over n values: inf or NaN if any is. */
DF_HOT static REAL F(max_abs)(const REAL *x, int64_t n) {
    REAL_BITS best = 0;
    for (int64_t i = 0; i < n; i++) best = F(bigger)(best, x[i]);
    return F(from_magnitude)(best);
}

/* The largest magnitudes in what an optimizer step writes: the parameters and
 * the slots.  Each update also returns them for its output, so the training
 * loop's check before the next step need only read the gradient.  The update
 * loops work on locals: with the buffers known apart (the Cython layer rejects
 * aliases) each value is loaded and stored once, not reloaded after a store. */
typedef struct {
    REAL_BITS w, slot[DF_N_SLOTS];
} F(held_max);

/* What one step of a rule needs beyond the state: its learning rate (from the
 * schedule), the weight decay factor and each rule's step coefficients. */
typedef struct {
    double lr;          /* this step's learning rate */
    double decay;       /* weight_decay * lr: w -= w * decay before the update */
    double alpha;       /* Adam: lr sqrt(1 - b2^t) / (1 - b1^t); Adamax: lr / (1 - b1^t) */
    double c_m, c_g;    /* Nadam: m_hat = c_m m + c_g g */
    double bc2;         /* Nadam: 1 - beta_2^t */
    double u_product;   /* Nadam: the state's u_product after this step */
} F(coefs);

static F(coefs) F(step_coefs)(const df_optimizer_state *opt) {
    F(coefs) c = {0};
    const double t = (double)opt->iterations + 1;
    c.lr = df_learning_rate(&opt->schedule, opt->learning_rate, opt->iterations);
    c.decay = opt->weight_decay * c.lr;
    c.u_product = opt->u_product;
    if (opt->rule == DF_OPT_ADAM) {
        c.alpha = F(adam_step_size)(c.lr, opt->beta_1, opt->beta_2, opt->iterations + 1);
    } else if (opt->rule == DF_OPT_ADAMAX) {
        c.alpha = c.lr / (1 - pow(opt->beta_1, t));
    } else if (opt->rule == DF_OPT_NADAM) { /* Keras' momentum schedule, decay 0.96 */
        const double u_t = opt->beta_1 * (1 - 0.5 * pow(0.96, t));
        const double u_t1 = opt->beta_1 * (1 - 0.5 * pow(0.96, t + 1));
        c.u_product = opt->u_product * u_t;
        c.c_m = u_t1 / (1 - c.u_product * u_t1);
        c.c_g = (1 - u_t) / (1 - c.u_product);
        c.bc2 = 1 - pow(opt->beta_2, t);
    }
    return c;
}

#define SLOT_OF(opt, s) ((REAL *)(opt)->slots[s])

/* The Keras rules with tracked maxima.  Adam, SGD and RMSprop are the hot
 * paths and keep loops of their own, without weight decay: rule_step decays
 * first in a pass of its own when there is any (the same arithmetic, in the
 * same order, as the other rules' fused w - w * decay). */
DF_HOT static void F(adam_tracked)(REAL *w, const REAL *g, REAL *m, REAL *v, int64_t n,
                                   const df_optimizer_state *opt, const F(coefs) *c,
                                   F(held_max) *held) {
    const REAL alpha = (REAL)c->alpha;
    const REAL one_minus_b1 = (REAL)(1 - opt->beta_1), one_minus_b2 = (REAL)(1 - opt->beta_2);
    const REAL eps = (REAL)opt->epsilon;
    REAL_BITS bw = 0, bm = 0, bv = 0;
    for (int64_t i = 0; i < n; i++) {
        REAL wi = w[i], mi = m[i], vi = v[i];
        F(adam_element)(g[i], &wi, &mi, &vi, alpha, one_minus_b1, one_minus_b2, eps);
        w[i] = wi, m[i] = mi, v[i] = vi;
        bw = F(bigger)(bw, wi), bm = F(bigger)(bm, mi), bv = F(bigger)(bv, vi);
    }
    held->w = bw, held->slot[DF_SLOT_MOMENTUMS] = bm, held->slot[DF_SLOT_VELOCITIES] = bv;
}

/* Keras' SGD: velocity = momentum * velocity - lr g; w += velocity
 * (Nesterov: w += momentum * velocity - lr g).  velocity may be NULL without momentum. */
DF_HOT static void F(sgd_tracked)(REAL *w, const REAL *g, REAL *velocity, int64_t n,
                                  const df_optimizer_state *opt, const F(coefs) *c,
                                  F(held_max) *held) {
    const REAL lr = (REAL)c->lr, mu = (REAL)opt->momentum;
    REAL_BITS bw = 0, bvel = 0;
    if (opt->momentum == 0 || velocity == NULL) {
        for (int64_t i = 0; i < n; i++) {
            const REAL wi = w[i] - lr * g[i];
            w[i] = wi;
            bw = F(bigger)(bw, wi);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            REAL wi = w[i], vel = velocity[i];
            F(sgd_element)(g[i], &wi, &vel, lr, mu, opt->nesterov);
            w[i] = wi, velocity[i] = vel;
            bw = F(bigger)(bw, wi), bvel = F(bigger)(bvel, vel);
        }
    }
    held->w = bw, held->slot[DF_SLOT_MOMENTUMS] = bvel;
}

/* Keras' RMSprop (no momentum, not centered): ms = rho ms + (1 - rho) g^2;
 * w -= lr g / sqrt(ms + epsilon), epsilon inside the root. */
DF_HOT static void F(rmsprop_tracked)(REAL *w, const REAL *g, REAL *mean_square, int64_t n,
                                      const df_optimizer_state *opt, const F(coefs) *c,
                                      F(held_max) *held) {
    const REAL lr = (REAL)c->lr, r = (REAL)opt->rho, eps = (REAL)opt->epsilon;
    REAL_BITS bw = 0, bms = 0;
    for (int64_t i = 0; i < n; i++) {
        REAL wi = w[i], ms = mean_square[i];
        F(rmsprop_element)(g[i], &wi, &ms, lr, r, eps);
        w[i] = wi, mean_square[i] = ms;
        bw = F(bigger)(bw, wi), bms = F(bigger)(bms, ms);
    }
    held->w = bw, held->slot[DF_SLOT_VELOCITIES] = bms;
}

/* The other rules (Adam with amsgrad, Adagrad, Adamax, Nadam): one step over
 * w, writing it and the slots when `write`, else only taking the maxima (the
 * dry run).  Slots a and b are the rule's first two, c amsgrad's v_hat. */
static void F(other_rule_pass)(REAL *w, const REAL *g, int64_t n, const df_optimizer_state *opt,
                               const F(coefs) *c, int write, F(held_max) *held) {
    const REAL lr = (REAL)c->lr, alpha = (REAL)c->alpha, decay = (REAL)c->decay;
    const REAL omb1 = (REAL)(1 - opt->beta_1), omb2 = (REAL)(1 - opt->beta_2);
    const REAL b2 = (REAL)opt->beta_2, eps = (REAL)opt->epsilon;
    const REAL c_m = (REAL)c->c_m, c_g = (REAL)c->c_g, bc2 = (REAL)c->bc2;
    const int rule = opt->rule;
    const int sa = rule == DF_OPT_ADAGRAD ? DF_SLOT_ACCUMULATORS : DF_SLOT_MOMENTUMS;
    const int sb = rule == DF_OPT_ADAMAX ? DF_SLOT_NORMS : DF_SLOT_VELOCITIES;
    REAL *a = SLOT_OF(opt, sa), *b = SLOT_OF(opt, sb), *h = SLOT_OF(opt, DF_SLOT_VELOCITY_HATS);
    REAL_BITS bw = 0, ba = 0, bb = 0, bh = 0;
    for (int64_t i = 0; i < n; i++) {
        REAL wi = w[i] - w[i] * decay, ai = a[i], bi = 0, hi = 0;
        if (rule == DF_OPT_ADAGRAD) {
            F(adagrad_element)(g[i], &wi, &ai, lr, eps);
        } else if (rule == DF_OPT_ADAMAX) {
            bi = b[i];
            F(adamax_element)(g[i], &wi, &ai, &bi, alpha, omb1, b2, eps);
        } else if (rule == DF_OPT_NADAM) {
            bi = b[i];
            F(nadam_element)(g[i], &wi, &ai, &bi, c_m, c_g, bc2, lr, omb1, omb2, eps);
        } else { /* Adam with amsgrad */
            bi = b[i], hi = h[i];
            F(amsgrad_element)(g[i], &wi, &ai, &bi, &hi, alpha, omb1, omb2, eps);
        }
        if (write) {
            w[i] = wi, a[i] = ai;
            if (rule != DF_OPT_ADAGRAD) b[i] = bi;
            if (rule == DF_OPT_ADAM) h[i] = hi;
        }
        bw = F(bigger)(bw, wi), ba = F(bigger)(ba, ai), bb = F(bigger)(bb, bi);
        bh = F(bigger)(bh, hi);
    }
    held->w = bw, held->slot[sa] = ba;
    if (rule != DF_OPT_ADAGRAD) held->slot[sb] = bb;
    if (rule == DF_OPT_ADAM) held->slot[DF_SLOT_VELOCITY_HATS] = bh;
}

static int F(is_hot_rule)(const df_optimizer_state *opt) {
    return (opt->rule == DF_OPT_ADAM && !opt->amsgrad) || opt->rule == DF_OPT_SGD ||
           opt->rule == DF_OPT_RMSPROP;
}

/* One step of the rule on n parameters; *held becomes the maxima written. */
static void F(rule_step)(REAL *w, const REAL *g, int64_t n, const df_optimizer_state *opt,
                         const F(coefs) *c, F(held_max) *held) {
    if (c->decay != 0 && F(is_hot_rule)(opt)) {
        const REAL decay = (REAL)c->decay;
        for (int64_t i = 0; i < n; i++) w[i] -= w[i] * decay;
    }
    if (opt->rule == DF_OPT_ADAM && !opt->amsgrad)
        F(adam_tracked)(w, g, SLOT_OF(opt, DF_SLOT_MOMENTUMS), SLOT_OF(opt, DF_SLOT_VELOCITIES),
                        n, opt, c, held);
    else if (opt->rule == DF_OPT_RMSPROP)
        F(rmsprop_tracked)(w, g, SLOT_OF(opt, DF_SLOT_VELOCITIES), n, opt, c, held);
    else if (opt->rule == DF_OPT_SGD)
        F(sgd_tracked)(w, g, SLOT_OF(opt, DF_SLOT_MOMENTUMS), n, opt, c, held);
    else
        F(other_rule_pass)(w, g, n, opt, c, 1, held);
}

void F(df_adam)(REAL *w, const REAL *g, REAL *m, REAL *v, int64_t n, double learning_rate,
                double beta_1, double beta_2, double epsilon, int64_t step) {
    df_optimizer_state opt = {.rule = DF_OPT_ADAM, .beta_1 = beta_1, .beta_2 = beta_2,
                              .epsilon = epsilon};
    F(coefs) c = {.lr = learning_rate};
    F(held_max) unused;
    c.alpha = F(adam_step_size)(learning_rate, beta_1, beta_2, step);
    F(adam_tracked)(w, g, m, v, n, &opt, &c, &unused);
}

void F(df_sgd)(REAL *w, const REAL *g, REAL *velocity, int64_t n, double learning_rate,
               double momentum, int nesterov) {
    df_optimizer_state opt = {.rule = DF_OPT_SGD, .momentum = momentum, .nesterov = nesterov};
    F(coefs) c = {.lr = learning_rate};
    F(held_max) unused;
    F(sgd_tracked)(w, g, velocity, n, &opt, &c, &unused);
}

void F(df_rmsprop)(REAL *w, const REAL *g, REAL *mean_square, int64_t n, double learning_rate,
                   double rho, double epsilon) {
    df_optimizer_state opt = {.rule = DF_OPT_RMSPROP, .rho = rho, .epsilon = epsilon};
    F(coefs) c = {.lr = learning_rate};
    F(held_max) unused;
    F(rmsprop_tracked)(w, g, mean_square, n, &opt, &c, &unused);
}

/* held_max of the buffers as they are now: a pass over each. */
static F(held_max) F(current_max)(const df_net *net, const df_optimizer_state *opt) {
    const int64_t n = net->n_params;
    F(held_max) held = {0};
    held.w = F(magnitude)(F(max_abs)((const REAL *)net->params, n));
    for (int s = 0; s < DF_N_SLOTS; s++)
        if (opt->slots[s] != NULL)
            held.slot[s] = F(magnitude)(F(max_abs)((const REAL *)opt->slots[s], n));
    return held;
}

/* sum of squares of n values, in double */
static double F(sum_squares)(const REAL *g, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)g[i] * (double)g[i];
    return sum;
}

static void F(scale)(REAL *g, int64_t n, double factor) {
    const REAL f = (REAL)factor;
    for (int64_t i = 0; i < n; i++) g[i] *= f;
}

/* g * clip / max(norm, clip), Keras' clip by norm (a zero norm leaves g). */
static void F(clip_by_norm)(REAL *g, int64_t n, double clip) {
    const double norm = sqrt(F(sum_squares)(g, n));
    if (norm > clip) F(scale)(g, n, clip / norm);
}

/* Keras' gradient clipping, in place on net->grads, before the step:
 * clipnorm per variable (each kernel, each bias), else global_clipnorm over
 * all, else clipvalue. */
static void F(clip_gradients)(const df_net *net, const df_optimizer_state *opt) {
    REAL *g = (REAL *)net->grads;
    if (opt->clipnorm > 0) {
        for (int l = 0; l < net->n_layers; l++) {
            const df_layer *layer = &net->layers[l];
            for (int i = 0; i < DF_MAX_WEIGHTS; i++)
                if (layer->weight[i] >= 0 && layer->in_params[i])
                    F(clip_by_norm)(g + layer->weight[i],
                                    df_layer_weight_size(layer->kind, i, layer->n_in,
                                                         layer->n_out),
                                    opt->clipnorm);
        }
    } else if (opt->global_clipnorm > 0) {
        F(clip_by_norm)(g, net->n_params, opt->global_clipnorm);
    } else if (opt->clipvalue > 0) {
        const REAL v = (REAL)opt->clipvalue;
        for (int64_t i = 0; i < net->n_params; i++) g[i] = g[i] > v ? v : (g[i] < -v ? -v : g[i]);
    }
}

/* One optimizer step; *held becomes the maxima of the new parameters and slots. */
static void F(apply_optimizer)(const df_net *net, df_optimizer_state *opt, const F(coefs) *c,
                               F(held_max) *held) {
    F(rule_step)((REAL *)net->params, (const REAL *)net->grads, net->n_params, opt, c, held);
    opt->u_product = c->u_product;
    opt->iterations++;
}

/* One optimizer step from the gradients in net->grads (clipped first), as
 * training takes it. */
void F(df_optimizer_step)(const df_net *net, df_optimizer_state *opt) {
    const F(coefs) c = F(step_coefs)(opt);
    F(held_max) unused;
    F(clip_gradients)(net, opt);
    F(apply_optimizer)(net, opt, &c, &unused);
}

/* The optimizer's next step, computed without writing: whether every parameter
 * and slot would stay within `limit`. */
static int F(dry_step_within)(const df_net *net, const df_optimizer_state *opt,
                              const F(coefs) *c, REAL limit) {
    const REAL *w = (const REAL *)net->params, *g = (const REAL *)net->grads;
    const REAL *momentums = SLOT_OF(opt, DF_SLOT_MOMENTUMS);
    const REAL *velocities = SLOT_OF(opt, DF_SLOT_VELOCITIES);
    const int64_t n = net->n_params;
    const REAL lr = (REAL)c->lr, eps = (REAL)opt->epsilon, decay = (REAL)c->decay;
    int ok = 1; /* & rather than &&: no branch, so the loops vectorise */
    if (!F(is_hot_rule)(opt)) {
        F(held_max) held = {0};
        const REAL_BITS bound = F(magnitude)(limit);
        F(other_rule_pass)((REAL *)w, g, n, opt, c, 0, &held);
        ok = held.w <= bound;
        for (int s = 0; s < DF_N_SLOTS; s++) ok &= held.slot[s] <= bound;
    } else if (opt->rule == DF_OPT_ADAM) {
        const REAL alpha = (REAL)c->alpha;
        const REAL omb1 = (REAL)(1 - opt->beta_1), omb2 = (REAL)(1 - opt->beta_2);
        for (int64_t i = 0; i < n; i++) {
            REAL wi = w[i] - w[i] * decay, mi = momentums[i], vi = velocities[i];
            F(adam_element)(g[i], &wi, &mi, &vi, alpha, omb1, omb2, eps);
            ok &= (int)(fabs(mi) <= limit) & (int)(fabs(vi) <= limit) & (int)(fabs(wi) <= limit);
        }
    } else if (opt->rule == DF_OPT_RMSPROP) {
        const REAL rho = (REAL)opt->rho;
        for (int64_t i = 0; i < n; i++) {
            REAL wi = w[i] - w[i] * decay, ms = velocities[i];
            F(rmsprop_element)(g[i], &wi, &ms, lr, rho, eps);
            ok &= (int)(fabs(ms) <= limit) & (int)(fabs(wi) <= limit);
        }
    } else { /* without momentum the velocity starts at 0 each step: plain SGD */
        const REAL mu = (REAL)opt->momentum;
        const int momentum = opt->momentum != 0;
        for (int64_t i = 0; i < n; i++) {
            REAL wi = w[i] - w[i] * decay, vel = momentum ? momentums[i] : 0;
            F(sgd_element)(g[i], &wi, &vel, lr, mu, opt->nesterov);
            ok &= (int)(fabs(vel) <= limit) & (int)(fabs(wi) <= limit);
        }
    }
    return ok;
}

/* Whether the optimizer's next step leaves every parameter and slot finite.  A
 * step that would not (a huge learning rate, an exploding gradient) is refused
 * whole, as a batch whose loss is not finite is, rather than leaving NaN or inf
 * in the weights.  First a bound from the largest magnitudes (held: those of
 * the parameters and slots, known since the last update; the gradient's takes
 * a max pass); only when that cannot vouch for the step, the step itself,
 * computed without writing.  Both test against half the type's range,
 * so the rounding of the real update cannot reach inf. */
static int F(step_is_finite)(const df_net *net, const df_optimizer_state *opt,
                             const F(coefs) *c, const F(held_max) *held) {
    const REAL limit = (REAL)(sizeof(REAL) == sizeof(float) ? 1.7e38 : 8.9e307);
    const double max_g = F(max_abs)((const REAL *)net->grads, net->n_params);
    const double max_m = F(from_magnitude)(held->slot[DF_SLOT_MOMENTUMS]);
    double max_s = 0; /* the largest slot other than momentums */
    for (int s = 1; s < DF_N_SLOTS; s++)
        max_s = fmax(max_s, F(from_magnitude)(held->slot[s]));
    /* weight decay scales w by 1 - decay first */
    const double max_w = F(from_magnitude)(held->w) * fmax(1, fabs(1 - c->decay));
    double step; /* a bound on |w' - w| */
    if (!(max_w <= limit && max_g <= limit && max_m <= limit && max_s <= limit))
        return 0; /* NaN or inf (or nearly) already: the step cannot be finite */
    const double lr = fabs(c->lr), m = fmax(max_m, max_g);
    const double per_eps = opt->epsilon > 0 ? 1 / opt->epsilon : INFINITY;
    if (opt->rule == DF_OPT_ADAM || opt->rule == DF_OPT_ADAMAX) {
        /* |m'| <= max(|m|, |g|), v' <= max(v, g^2) (u' <= max(u, |g|)), and the
         * denominator is at least eps */
        step = fabs(c->alpha) * m * per_eps;
    } else if (opt->rule == DF_OPT_NADAM) {
        step = lr * (fabs(c->c_m) * m + fabs(c->c_g) * max_g) * per_eps;
    } else if (opt->rule == DF_OPT_RMSPROP || opt->rule == DF_OPT_ADAGRAD) {
        /* ms' <= max(ms, g^2) (acc' <= acc + g^2), |g| / sqrt(ms' + eps) <= |g| / sqrt(eps) */
        step = lr * max_g * sqrt(per_eps);
    } else {
        /* |v'| <= mu |v| + lr |g|; |w' - w| <= |v'| (2 |v'| + lr |g| with Nesterov) */
        const double vel = fabs(opt->momentum) * max_m + lr * max_g;
        step = 2 * vel + lr * max_g;
    }
    if (max_g * max_g > limit / 8 || max_s > limit / 8 || !(step <= limit / 4)) step = INFINITY;
    if (step <= limit / 4 && max_w <= limit / 4) return 1;
    return F(dry_step_within)(net, opt, c, limit);
}


/* ------------------------------------------------------------ layers other than Dense
 * Each maps a batch `in` (rows x n) to `out` element-wise or per column; the
 * activation that follows is applied by the caller.  A weight the layer does
 * not have is NULL: gamma 1, beta 0. */

static inline REAL *F(weight)(const df_net *net, const df_layer *layer, int i) {
    if (layer->weight[i] < 0) return NULL;
    return (REAL *)(layer->in_params[i] ? net->params : net->state) + layer->weight[i];
}

/* The gradient of weight i, or NULL when it takes none (absent, or not in params). */
static inline REAL *F(weight_grad)(const df_net *net, const df_layer *layer, int i) {
    if (layer->weight[i] < 0 || !layer->in_params[i]) return NULL;
    return (REAL *)net->grads + layer->weight[i];
}

/* Dropout in training: kept values scaled by 1 / (1 - rate), the others 0.
 * The backward pass is the same map on the gradient (same key: same mask). */
DF_HOT static void F(dropout_map)(const REAL *in, REAL *out, int rows, int n, double rate,
                                  uint64_t key) {
    const uint64_t threshold = df_dropout_threshold(rate);
    const REAL scale = (REAL)(1 / (1 - rate));
    for (int64_t i = 0; i < (int64_t)rows * n; i++)
        out[i] = df_dropout_kept(key, (uint64_t)i, threshold) ? in[i] * scale : 0;
}

/* Batch normalization's kernels walk the batch row by row (contiguous in
 * row-major memory: vector loads, no strided walk down a column) over blocks of
 * up to BN_BLOCK columns, with each column's accumulators and factors in
 * arrays on the stack; a column still sums its rows in order, as a
 * column-by-column loop does. */
#define BN_BLOCK 256

static inline int F(bn_width)(int n, int j0) { return n - j0 < BN_BLOCK ? n - j0 : BN_BLOCK; }

/* y = (x - mean) rstd gamma + beta per column, rstd = 1 / sqrt(variance + epsilon).
 * Centred first: x a + (beta - mean a), TensorFlow's form, loses the digits of
 * x - mean when |mean| >> the spread (a row of one gives beta only up to
 * eps |x| a); the centred form gives beta exactly there, at the same cost. */
DF_HOT static void F(normalize_columns)(const REAL *in, REAL *out, int rows, int n,
                                        const REAL *mean, const REAL *variance, double epsilon,
                                        const REAL *gamma, const REAL *beta) {
    REAL a[BN_BLOCK], b[BN_BLOCK], m[BN_BLOCK];
    for (int j0 = 0; j0 < n; j0 += BN_BLOCK) {
        const int w = F(bn_width)(n, j0);
        for (int j = 0; j < w; j++) {
            const REAL rstd = (REAL)(1 / sqrt((double)variance[j0 + j] + epsilon));
            a[j] = rstd * (gamma ? gamma[j0 + j] : 1);
            b[j] = beta ? beta[j0 + j] : 0;
            m[j] = mean[j0 + j];
        }
        for (int r = 0; r < rows; r++) {
            const REAL *x = in + (int64_t)r * n + j0;
            REAL *y = out + (int64_t)r * n + j0;
            for (int j = 0; j < w; j++) y[j] = (x[j] - m[j]) * a[j] + b[j];
        }
    }
}

/* Keras' batch moments: the mean and the biased (population) variance of each
 * column, accumulated in double, two passes (a large mean costs the variance
 * no digits). */
DF_HOT static void F(batch_moments)(const REAL *x, int rows, int n, REAL *mean, REAL *variance) {
    double sum[BN_BLOCK], sq[BN_BLOCK];
    for (int j0 = 0; j0 < n; j0 += BN_BLOCK) {
        const int w = F(bn_width)(n, j0);
        for (int j = 0; j < w; j++) sum[j] = sq[j] = 0;
        for (int r = 0; r < rows; r++) {
            const REAL *row = x + (int64_t)r * n + j0;
            for (int j = 0; j < w; j++) sum[j] += row[j];
        }
        for (int j = 0; j < w; j++) sum[j] /= rows; /* the mean, from here */
        for (int r = 0; r < rows; r++) {
            const REAL *row = x + (int64_t)r * n + j0;
            for (int j = 0; j < w; j++) {
                const double d = row[j] - sum[j];
                sq[j] += d * d;
            }
        }
        for (int j = 0; j < w; j++) {
            mean[j0 + j] = (REAL)sum[j];
            variance[j0 + j] = (REAL)(sq[j] / rows);
        }
    }
}

/* Batch normalization's backward pass on the batch's own statistics (stats:
 * mean, variance): dbeta = sum dy, dgamma = sum dy xhat, and
 * dx = gamma rstd (dy - (dbeta + xhat dgamma) / rows); both sums in one pass. */
DF_HOT static void F(batch_norm_backward)(const REAL *x, const REAL *dy, REAL *dx, int rows,
                                          int n, const REAL *stats, double epsilon,
                                          const REAL *gamma, REAL *dgamma, REAL *dbeta) {
    const REAL *mean = stats, *variance = stats + n;
    REAL m[BN_BLOCK];
    double rstd[BN_BLOCK], scale[BN_BLOCK], sum_dy[BN_BLOCK], sum_dy_xhat[BN_BLOCK];
    for (int j0 = 0; j0 < n; j0 += BN_BLOCK) {
        const int w = F(bn_width)(n, j0);
        for (int j = 0; j < w; j++) {
            m[j] = mean[j0 + j];
            rstd[j] = 1 / sqrt((double)variance[j0 + j] + epsilon);
            scale[j] = (gamma ? gamma[j0 + j] : 1) * rstd[j];
            sum_dy[j] = sum_dy_xhat[j] = 0;
        }
        for (int r = 0; r < rows; r++) {
            const REAL *xr = x + (int64_t)r * n + j0, *g = dy + (int64_t)r * n + j0;
            for (int j = 0; j < w; j++) {
                sum_dy[j] += g[j];
                sum_dy_xhat[j] += (double)g[j] * (xr[j] - m[j]) * rstd[j];
            }
        }
        for (int j = 0; j < w; j++) {
            if (dbeta) dbeta[j0 + j] = (REAL)sum_dy[j];
            if (dgamma) dgamma[j0 + j] = (REAL)sum_dy_xhat[j];
            sum_dy[j] /= rows; /* from here: the means over rows */
            sum_dy_xhat[j] /= rows;
        }
        if (!dx) continue;
        for (int r = 0; r < rows; r++) {
            const REAL *xr = x + (int64_t)r * n + j0, *g = dy + (int64_t)r * n + j0;
            REAL *d = dx + (int64_t)r * n + j0;
            for (int j = 0; j < w; j++) {
                const double xhat = (xr[j] - m[j]) * rstd[j];
                d[j] = (REAL)(scale[j] * (g[j] - (sum_dy[j] + xhat * sum_dy_xhat[j])));
            }
        }
    }
}

/* Keras' Normalization: (x - mean) / sd with sd = max(sqrt(variance), 1e-7)
 * (a floor on the deviation, not added to the variance); invert: mean + x sd.
 * Divided, not multiplied by 1 / sd, as Keras does: the same bits.  Its
 * backward is dy / sd (dy sd inverted). */
static REAL F(normalization_sd)(const REAL *variance, int j) {
    const REAL sd = (REAL)sqrt((double)variance[j]);
    return sd > EPS ? sd : EPS; /* NaN (a negative variance) too: the floor */
}

static void F(normalization_map)(const REAL *in, REAL *out, int rows, int n, const REAL *mean,
                                 const REAL *variance, int invert) {
    for (int j = 0; j < n; j++) {
        const REAL sd = F(normalization_sd)(variance, j), m = mean[j];
        for (int r = 0; r < rows; r++) {
            const REAL v = in[(int64_t)r * n + j];
            out[(int64_t)r * n + j] = invert ? m + v * sd : (v - m) / sd;
        }
    }
}

static void F(normalization_backward)(const REAL *dy, REAL *dx, int rows, int n,
                                      const REAL *variance, int invert) {
    for (int j = 0; j < n; j++) {
        const REAL sd = F(normalization_sd)(variance, j);
        for (int r = 0; r < rows; r++) {
            const REAL g = dy[(int64_t)r * n + j];
            dx[(int64_t)r * n + j] = invert ? g * sd : g / sd;
        }
    }
}

/* PReLU, Keras' relu(x) - alpha relu(-x) per column: x for x >= 0, alpha x
 * below (NaN stays NaN).  dx = dy (x > 0), alpha dy (x < 0), 0 at 0 (TF's
 * relu' (0) = 0 on both terms); dalpha = sum over x < 0 of dy x. */
static void F(prelu_map)(const REAL *in, REAL *out, int rows, int n, const REAL *alpha) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            const REAL v = in[(int64_t)r * n + j];
            out[(int64_t)r * n + j] = v < 0 ? alpha[j] * v : v;
        }
}

static void F(prelu_backward)(const REAL *x, const REAL *dy, REAL *dx, int rows, int n,
                              const REAL *alpha, REAL *dalpha) {
    if (dalpha) memset(dalpha, 0, sizeof(REAL) * n);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            const int64_t i = (int64_t)r * n + j;
            if (dalpha && x[i] < 0) dalpha[j] += dy[i] * x[i];
            if (dx) dx[i] = x[i] > 0 ? dy[i] : (x[i] < 0 ? alpha[j] * dy[i] : 0);
        }
}

/* The key of a step's dropout masks for rows starting at row_offset of the
 * batch: mask index (row_offset + r) n + c, as the whole batch's row (the
 * index enters the hash as key + golden (index + 1), so the shift is added). */
static uint64_t F(dropout_rows_key)(const df_layer *layer, int64_t step, int64_t row_offset) {
    return df_dropout_key(layer->seed, step) + DF_GOLDEN * (uint64_t)(row_offset * layer->n_out);
}

/* Whether a layer computes with the batch's statistics and masks (training
 * and, for batch normalization, a trainable layer, as Keras runs a frozen
 * one in inference mode). */
static int F(trains)(const df_layer *layer, int training) {
    return training && (layer->kind != DF_LAYER_BATCH_NORM || layer->trainable);
}

/* One layer's own map (not dense, not its activation) of `rows` rows of in. */
static void F(layer_map)(const df_net *net, const df_layer *layer, const REAL *in, REAL *out,
                         REAL *stats, int rows, int training, int64_t step, int64_t row_offset) {
    const int n = layer->n_out;
    switch (layer->kind) {
    case DF_LAYER_DROPOUT:
        if (training && layer->rate > 0)
            F(dropout_map)(in, out, rows, n, layer->rate,
                           F(dropout_rows_key)(layer, step, row_offset));
        else if (out != in)
            memcpy(out, in, sizeof(REAL) * (size_t)rows * n);
        break;
    case DF_LAYER_BATCH_NORM:
        if (F(trains)(layer, training)) {
            F(batch_moments)(in, rows, n, stats, stats + n);
            F(normalize_columns)(in, out, rows, n, stats, stats + n, layer->epsilon,
                                 F(weight)(net, layer, 0), F(weight)(net, layer, 1));
        } else {
            F(normalize_columns)(in, out, rows, n, F(weight)(net, layer, 2),
                                 F(weight)(net, layer, 3), layer->epsilon,
                                 F(weight)(net, layer, 0), F(weight)(net, layer, 1));
        }
        break;
    case DF_LAYER_NORMALIZATION:
        F(normalization_map)(in, out, rows, n, F(weight)(net, layer, 0), F(weight)(net, layer, 1),
                             layer->invert);
        break;
    case DF_LAYER_PRELU:
        F(prelu_map)(in, out, rows, n, F(weight)(net, layer, 0));
        break;
    default: /* DF_LAYER_ACTIVATION: the identity */
        if (out != in) memcpy(out, in, sizeof(REAL) * (size_t)rows * n);
    }
}

/* The backward of layer_map: dy (rows x n) to dx (NULL: not needed) and the
 * gradients of its weights in params. */
static void F(layer_backward)(const df_net *net, const df_layer *layer, const REAL *in,
                              const REAL *stats, const REAL *dy, REAL *dx, int rows,
                              int64_t step, int64_t row_offset) {
    const int n = layer->n_out;
    switch (layer->kind) {
    case DF_LAYER_DROPOUT:
        if (dx) F(dropout_map)(dy, dx, rows, n, layer->rate,
                               F(dropout_rows_key)(layer, step, row_offset));
        break;
    case DF_LAYER_BATCH_NORM:
        if (F(trains)(layer, 1)) {
            F(batch_norm_backward)(in, dy, dx, rows, n, stats, layer->epsilon,
                                   F(weight)(net, layer, 0), F(weight_grad)(net, layer, 0),
                                   F(weight_grad)(net, layer, 1));
        } else if (dx) { /* frozen: an affine map by the moving statistics */
            const REAL *gamma = F(weight)(net, layer, 0), *variance = F(weight)(net, layer, 3);
            for (int j = 0; j < n; j++) {
                const REAL a = (REAL)((gamma ? gamma[j] : 1) / sqrt((double)variance[j] +
                                                                    layer->epsilon));
                for (int r = 0; r < rows; r++) dx[(int64_t)r * n + j] = dy[(int64_t)r * n + j] * a;
            }
        }
        break;
    case DF_LAYER_NORMALIZATION:
        if (dx) F(normalization_backward)(dy, dx, rows, n, F(weight)(net, layer, 1), layer->invert);
        break;
    case DF_LAYER_PRELU:
        F(prelu_backward)(in, dy, dx, rows, n, F(weight)(net, layer, 0),
                          F(weight_grad)(net, layer, 0));
        break;
    default:
        if (dx) memcpy(dx, dy, sizeof(REAL) * (size_t)rows * n);
    }
}

/* Moving statistics after an accepted training step: Keras'
 * moving = moving momentum + batch (1 - momentum), for each batch
 * normalization layer that trained on the batch (stats from the forward pass). */
void F(df_update_moving_statistics)(const df_net *net, const df_work *work) {
    for (int l = 0; l < net->n_layers; l++) {
        const df_layer *layer = &net->layers[l];
        if (layer->kind != DF_LAYER_BATCH_NORM || !F(trains)(layer, 1)) continue;
        const REAL *stats = (const REAL *)work->stats[l];
        REAL *moving_mean = F(weight)(net, layer, 2), *moving_variance = F(weight)(net, layer, 3);
        const REAL m = (REAL)layer->momentum, one_minus = (REAL)(1 - layer->momentum);
        for (int j = 0; j < layer->n_out; j++) {
            moving_mean[j] = moving_mean[j] * m + stats[j] * one_minus;
            moving_variance[j] = moving_variance[j] * m + stats[layer->n_out + j] * one_minus;
        }
    }
}

/* ------------------------------------------------------------ regularizers
 * Keras' penalties, l1 sum |v| + l2 sum v^2: of each weight in params with
 * factors (frozen weights, in state, have none: Keras counts trainable weights
 * only), added to the batch's loss as they are; and of each layer's output
 * after its activation (activity), divided by the batch's rows.  Their
 * gradients l1 sign(v) + 2 l2 v (the activity's over rows) join the loss'
 * before clipping.  A layer without factors costs a comparison. */

static inline int F(penalized)(double l1, double l2) { return l1 != 0 || l2 != 0; }

static double F(penalty)(const REAL *v, int64_t n, double l1, double l2) {
    double sum_abs = 0, sum_sq = 0;
    for (int64_t i = 0; i < n; i++) {
        sum_abs += fabs((double)v[i]);
        sum_sq += (double)v[i] * (double)v[i];
    }
    return l1 * sum_abs + l2 * sum_sq;
}

/* g += scale (l1 sign(v) + 2 l2 v) */
static void F(add_penalty_gradient)(const REAL *v, REAL *g, int64_t n, double l1, double l2,
                                    double scale) {
    const REAL a = (REAL)(l1 * scale), b = (REAL)(2 * l2 * scale);
    for (int64_t i = 0; i < n; i++) g[i] += a * (REAL)((v[i] > 0) - (v[i] < 0)) + b * v[i];
}

/* The size of weight i of a layer when it is in params with factors, else 0. */
static int64_t F(penalized_size)(const df_layer *layer, int i) {
    if (layer->weight[i] < 0 || !layer->in_params[i] || !F(penalized)(layer->l1[i], layer->l2[i]))
        return 0;
    return df_layer_weight_size(layer->kind, i, layer->n_in, layer->n_out);
}

static double F(weight_penalty)(const df_net *net) {
    double total = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const df_layer *layer = &net->layers[l];
        for (int i = 0; i < DF_MAX_WEIGHTS; i++) {
            const int64_t n = F(penalized_size)(layer, i);
            if (n) total += F(penalty)((const REAL *)net->params + layer->weight[i], n,
                                       layer->l1[i], layer->l2[i]);
        }
    }
    return total;
}

static void F(add_weight_penalty_gradients)(const df_net *net) {
    for (int l = 0; l < net->n_layers; l++) {
        const df_layer *layer = &net->layers[l];
        for (int i = 0; i < DF_MAX_WEIGHTS; i++) {
            const int64_t n = F(penalized_size)(layer, i);
            if (n) F(add_penalty_gradient)((const REAL *)net->params + layer->weight[i],
                                           (REAL *)net->grads + layer->weight[i], n,
                                           layer->l1[i], layer->l2[i], 1);
        }
    }
}

/* Whether layer l's output takes an activity penalty: with skip_last_activation
 * the last buffer holds the output's pre-activation, which takes none (the
 * Python layer refuses that combination). */
static int F(activity_penalized)(const df_net *net, int l, int skip_last_activation) {
    const df_layer *layer = &net->layers[l];
    return F(penalized)(layer->activity_l1, layer->activity_l2) &&
           !(skip_last_activation && l == net->n_layers - 1);
}

/* The activity penalties of the forward pass in work, summed over its rows
 * (not yet divided by them). */
static double F(activity_penalty_sum)(const df_net *net, const df_work *work, int rows,
                                      int skip_last_activation) {
    double total = 0;
    for (int l = 0; l < net->n_layers; l++)
        if (F(activity_penalized)(net, l, skip_last_activation))
            total += F(penalty)((const REAL *)work->act[l], (int64_t)rows * net->layers[l].n_out,
                                net->layers[l].activity_l1, net->layers[l].activity_l2);
    return total;
}

/* What the regularizers add to a batch's mean loss, for the forward pass in work. */
double F(df_penalty)(const df_net *net, const df_work *work, int rows) {
    return F(weight_penalty)(net) + F(activity_penalty_sum)(net, work, rows, 0) / rows;
}

/* Whether the batch statistics a step would fold into the moving statistics
 * are all finite: a spread beyond the type's range overflows the variance
 * while the normalised output (and so the loss) stays finite.  Such a batch is
 * refused as one whose loss is not finite. */
static int F(batch_statistics_finite)(const df_net *net, const df_work *work) {
    if (!work->stats) return 1;
    for (int l = 0; l < net->n_layers; l++) {
        const df_layer *layer = &net->layers[l];
        if (layer->kind != DF_LAYER_BATCH_NORM || !F(trains)(layer, 1)) continue;
        const REAL *stats = (const REAL *)work->stats[l];
        for (int64_t j = 0; j < 2 * (int64_t)layer->n_out; j++)
            if (!isfinite(stats[j])) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ the network's passes */

/* The network's forward pass over `rows` rows of x (read through idx when not
 * NULL: a narrow first Dense layer only) into work->act.  With
 * skip_last_activation the last buffer holds the output layer's
 * pre-activation.  training: dropout and batch statistics (see trains);
 * step: dropout's masks.  narrow: the caller's NARROW_ENABLED(). */
static void F(forward)(const df_net *net, df_work *work, const REAL *x, const int64_t *idx,
                       int rows, int skip_last_activation, int training, int64_t step,
                       int narrow, uint16_t *live) {
    const REAL *in = x;
    for (int l = 0; l < net->n_layers; l++) {
        const df_layer *layer = &net->layers[l];
        const int n_out = layer->n_out;
        const int act = (skip_last_activation && l == net->n_layers - 1) ? DF_LINEAR
                                                                          : layer->activation;
        REAL *out = (REAL *)work->act[l];
        REAL *pre = work->pre && df_activation_needs_input(act) ? (REAL *)work->pre[l] : NULL;
        if (layer->kind == DF_LAYER_DENSE) {
            F(dense_forward_rows)(in, l == 0 ? idx : NULL, F(weight)(net, layer, 0),
                                  F(weight)(net, layer, 1), out, pre, rows, layer->n_in, n_out,
                                  act, layer->slope, narrow, l == 0 ? live : NULL);
        } else {
            REAL *stats = work->stats ? (REAL *)work->stats[l] : NULL;
            F(layer_map)(net, layer, in, out, stats, rows, training, step, work->row_offset);
            if (pre) memcpy(pre, out, sizeof(REAL) * (size_t)rows * n_out);
            if (act != DF_LINEAR) F(df_activation_forward)(act, layer->slope, out, rows, n_out);
        }
        in = out;
    }
}

/* Back-propagates work->grad_a (dL/d output of the last layer) into net->grads,
 * and into dx (the input's gradient) unless it is NULL, the regularizers'
 * gradients included.  A frozen layer's weights take no gradient; its input
 * still does. */
static void F(backward)(const df_net *net, df_work *work, const REAL *x, const int64_t *idx,
                        int rows, int skip_last_activation, int64_t step, int narrow,
                        const uint16_t *live, REAL *dx) {
    const int L = net->n_layers;
    REAL *grad = (REAL *)work->grad_a, *next = (REAL *)work->grad_b;
    for (int l = L - 1; l >= 0; l--) {
        const df_layer *layer = &net->layers[l];
        const REAL *in = l > 0 ? (const REAL *)work->act[l - 1] : x;
        const int act = (skip_last_activation && l == L - 1) ? DF_LINEAR : layer->activation;
        const REAL *pre = df_activation_needs_input(act) ? (const REAL *)work->pre[l] : NULL;
        REAL *grad_in = l > 0 ? next : dx;
        if (F(activity_penalized)(net, l, skip_last_activation))
            F(add_penalty_gradient)((const REAL *)work->act[l], grad,
                                    (int64_t)rows * layer->n_out, layer->activity_l1,
                                    layer->activity_l2, 1.0 / rows);
        if (layer->kind == DF_LAYER_DENSE) {
            F(dense_backward_rows)(in, l == 0 ? idx : NULL, F(weight)(net, layer, 0), pre,
                                   (const REAL *)work->act[l], grad, F(weight_grad)(net, layer, 0),
                                   F(weight_grad)(net, layer, 1), grad_in, rows, layer->n_in,
                                   layer->n_out, act, layer->slope, narrow,
                                   l == 0 ? live : NULL);
        } else {
            F(df_activation_backward)(act, layer->slope, pre, (const REAL *)work->act[l], grad,
                                      rows, layer->n_out);
            F(layer_backward)(net, layer, in, work->stats ? (const REAL *)work->stats[l] : NULL,
                              grad, grad_in, rows, step, work->row_offset);
        }
        REAL *swap = grad; grad = next; next = swap;
    }
    F(add_weight_penalty_gradients)(net);
}

void F(df_forward)(const df_net *net, df_work *work, const REAL *x, int rows, int training,
                   int64_t step) {
    F(forward)(net, work, x, NULL, rows, 0, training, step, NARROW_ENABLED(), NULL);
}

void F(df_backward)(const df_net *net, df_work *work, const REAL *x, int rows, int64_t step,
                    REAL *dx) {
    F(backward)(net, work, x, NULL, rows, 0, step, NARROW_ENABLED(), NULL, dx);
}

/* Whether the first layer reads the batch's rows where they lie (a narrow
 * Dense) rather than from work->x, gathered for BLAS. */
static int F(reads_rows_in_place)(const df_net *net, int narrow) {
    return narrow && net->layers[0].kind == DF_LAYER_DENSE && NARROW_FITS(net->layers[0].n_out);
}

/* Copies the batch's targets (and sample weights) into work. */
static void F(gather_targets)(df_work *work, const void *y, int labels, int64_t n_out,
                              const int64_t *idx, int rows, const REAL *sample_weight) {
    if (labels) {
        int32_t *yb = (int32_t *)work->y;
        for (int r = 0; r < rows; r++) yb[r] = ((const int32_t *)y)[idx[r]];
    } else {
        REAL *yb = (REAL *)work->y;
        for (int r = 0; r < rows; r++)
            memcpy(yb + r * n_out, (const REAL *)y + idx[r] * n_out, sizeof(REAL) * n_out);
    }
    if (sample_weight) {
        REAL *wb = (REAL *)work->weight;
        for (int r = 0; r < rows; r++) wb[r] = sample_weight[idx[r]];
    }
}

/* What every step shares: the epoch's data and the call's buffers. */
typedef struct {
    const REAL *x;
    const void *y;
    const int64_t *order;
    int64_t n, batch_size;
    const REAL *sample_weight;
    double *metric_state;
    REAL *probs;
    uint16_t *live;
    int narrow, gather, labels;
} F(epoch_data);

/* One batch's `rows` rows at idx: gathered, passed forward (training), their
 * metrics added to the state; returns the mean loss (the regularizers'
 * penalties included) and writes the single metric's mean to *metric. */
static double F(batch_forward)(const df_net *net, df_work *work, const df_objective *obj,
                               const F(epoch_data) *d, const int64_t *idx, int rows, int64_t step,
                               double *metric) {
    const int L = net->n_layers;
    const int64_t n_in = net->layers[0].n_in, n_out = net->layers[L - 1].n_out;
    REAL *xb = (REAL *)work->x;
    if (d->gather)
        for (int r = 0; r < rows; r++)
            memcpy(xb + r * n_in, d->x + idx[r] * n_in, sizeof(REAL) * n_in);
    const REAL *xs = d->gather ? xb : d->x;
    const int64_t *xs_idx = d->gather ? NULL : idx;
    F(gather_targets)(work, d->y, d->labels, n_out, idx, rows, d->sample_weight);
    const REAL *wb = d->sample_weight ? (const REAL *)work->weight : NULL;
    if (d->live) memset(d->live, 0, sizeof(uint16_t) * (size_t)((n_in + 15) / 16));
    F(forward)(net, work, xs, xs_idx, rows, obj->fused_output, 1, step, d->narrow, d->live);
    const REAL *out = (const REAL *)work->act[L - 1];
    const double loss = (F(df_loss)(obj, out, work->y, (REAL *)work->grad_a, rows, n_out, wb) +
                         F(activity_penalty_sum)(net, work, rows, obj->fused_output)) / rows +
                        F(weight_penalty)(net);
    if (metric) *metric = F(df_metric)(obj->metric, obj->threshold, out, work->y, rows, n_out) / rows;
    F(metrics_batch)(net, obj, out, d->probs, work->y, wb, rows, n_out, d->metric_state);
    return loss;
}

/* The backward pass of the batch batch_forward just passed. */
static void F(batch_backward)(const df_net *net, df_work *work, const df_objective *obj,
                              const F(epoch_data) *d, const int64_t *idx, int rows, int64_t step) {
    const REAL *xs = d->gather ? (const REAL *)work->x : d->x;
    F(backward)(net, work, xs, d->gather ? NULL : idx, rows, obj->fused_output, step, d->narrow,
                d->live, NULL);
}

/* Clip, then the optimizer's update unless it would make a parameter or slot
 * non-finite (returns 0 then), then the moving statistics. */
static int F(batch_update)(const df_net *net, df_work *work, df_optimizer_state *opt,
                           F(held_max) *held) {
    F(clip_gradients)(net, opt);
    const F(coefs) c = F(step_coefs)(opt);
    if (!F(step_is_finite)(net, opt, &c, held)) return 0;
    F(apply_optimizer)(net, opt, &c, held);
    if (work->stats) F(df_update_moving_statistics)(net, work);
    return 1;
}

/* Trains on batches [first_batch, end_batch) of the epoch whose sample order is
 * `order` (n entries).  Each batch: gather rows, forward, loss (the
 * regularizers' penalties included) and metric (on the pre-update weights, as
 * Keras reports them), backward, optimizer step,
 * then the moving statistics.  Stops before updating on a batch whose loss is
 * not finite, or whose step would make a parameter or slot non-finite
 * (step_is_finite), and returns the number of batches fully applied. */
static int64_t F(train_batches)(const df_net *net, df_work *work, const df_objective *obj,
                                df_optimizer_state *opt, const F(epoch_data) *d,
                                int64_t first_batch, int64_t end_batch,
                                double *batch_loss, double *batch_metric) {
    /* Nothing else writes the parameters or slots during this call: their
     * maxima are taken once here, then carried by each update. */
    F(held_max) held = F(current_max)(net, opt);
    for (int64_t batch = first_batch; batch < end_batch; batch++) {
        const int64_t start = batch * d->batch_size, step = opt->iterations;
        const int rows = (int)((d->n - start) < d->batch_size ? (d->n - start) : d->batch_size);
        const int64_t *idx = d->order + start;
        const double loss = F(batch_forward)(net, work, obj, d, idx, rows, step,
                                             batch_metric ? batch_metric + batch - first_batch : NULL);
        batch_loss[batch - first_batch] = loss;
        if (!isfinite(loss) || !F(batch_statistics_finite)(net, work))
            return batch - first_batch;
        F(batch_backward)(net, work, obj, d, idx, rows, step);
        if (!F(batch_update)(net, work, opt, &held)) return batch - first_batch;
    }
    return end_batch - first_batch;
}

/* train_batches for rank hook->rank of hook->size (see df_step_hook): this
 * rank's part of each global batch (its own rows with hook->shard) forward and backward, its gradients scaled
 * by its share of the rows (so their sum over the ranks is the global batch's
 * mean gradient, the weight penalties' gradients included once), then summed by
 * the hook with the not-finite flag and the loss shares in the same buffer, so
 * every rank takes the same decision on the same summed gradient. */
static int64_t F(train_batches_reduced)(const df_net *net, df_work *work, const df_objective *obj,
                                        df_optimizer_state *opt, const F(epoch_data) *d,
                                        int64_t first_batch, int64_t end_batch,
                                        double *batch_loss, double *batch_metric) {
    const df_step_hook *hook = work->hook;
    REAL *grads = (REAL *)net->grads, *extra = grads + net->n_params;
    F(held_max) held = F(current_max)(net, opt);
    for (int64_t batch = first_batch; batch < end_batch; batch++) {
        const int64_t start = batch * d->batch_size, step = opt->iterations;
        const int64_t part = (d->n - start) < d->batch_size ? (d->n - start) : d->batch_size;
        /* shard: part is this rank's rows of a global batch of part * size */
        const int64_t global = hook->shard ? part * hook->size : part;
        const int64_t lo = global * hook->rank / hook->size;
        const int rows = (int)(global * (hook->rank + 1) / hook->size - lo);
        const int64_t *idx = d->order + start + (hook->shard ? 0 : lo);
        const double share = (double)rows / (double)global;
        double loss = 0;
        int bad = 0;
        work->row_offset = lo;
        if (batch_metric) batch_metric[batch - first_batch] = 0;
        if (rows > 0) {
            loss = F(batch_forward)(net, work, obj, d, idx, rows, step,
                                    batch_metric ? batch_metric + batch - first_batch : NULL);
            bad = !isfinite(loss) || !F(batch_statistics_finite)(net, work);
        }
        if (rows > 0 && !bad) {
            F(batch_backward)(net, work, obj, d, idx, rows, step);
            for (int64_t i = 0; i < net->n_params; i++) grads[i] *= (REAL)share;
        } else {
            memset(grads, 0, sizeof(REAL) * (size_t)net->n_params);
        }
        extra[0] = (REAL)bad;
        extra[1] = (REAL)(loss * share);
        work->row_offset = 0;
        if (hook->reduce(hook->context) != 0) return batch - first_batch;
        batch_loss[batch - first_batch] = (double)extra[1];
        if (extra[0] != 0) {
            if (isfinite(batch_loss[batch - first_batch])) batch_loss[batch - first_batch] = NAN;
            return batch - first_batch;
        }
        if (!F(batch_update)(net, work, opt, &held)) return batch - first_batch;
    }
    return end_batch - first_batch;
}

/* Training runs with subnormals flushed to zero (see denormals.h). */
int64_t F(df_train_batches)(const df_net *net, df_work *work, const df_objective *objective,
                            df_optimizer_state *optimizer, const REAL *x, const void *y,
                            const int64_t *order, int64_t n, int64_t batch_size,
                            int64_t first_batch, int64_t end_batch, double *batch_loss,
                            double *batch_metric, const REAL *sample_weight,
                            double *metric_state) {
    /* One answer for the whole call (see NARROW_ENABLED).  With a narrow first
     * layer, live holds the inputs not 0 in some row of the batch (narrow_f32.c:
     * its forward finds them, its dw skips the others); without the buffer
     * every input is computed. */
    const int narrow = NARROW_ENABLED();
    const int n_in = net->layers[0].n_in;
    uint16_t *live = F(reads_rows_in_place)(net, narrow)
                         ? (uint16_t *)malloc(sizeof(uint16_t) * (size_t)((n_in + 15) / 16 + 1))
                         : NULL;
    REAL *probs = metric_state ? F(metric_probs_buffer)(objective, work->capacity,
                                                        net->layers[net->n_layers - 1].n_out)
                               : NULL;
    const F(epoch_data) d = {x, y, order, n, batch_size, sample_weight, metric_state, probs, live,
                             narrow, !F(reads_rows_in_place)(net, narrow),
                             df_loss_uses_labels(objective->loss)};
    const unsigned saved = df_flush_denormals();
    const int64_t done =
        work->hook ? F(train_batches_reduced)(net, work, objective, optimizer, &d, first_batch,
                                              end_batch, batch_loss, batch_metric)
                   : F(train_batches)(net, work, objective, optimizer, &d, first_batch, end_batch,
                                      batch_loss, batch_metric);
    df_restore_denormals(saved);
    free(live);
    free(probs);
    return done;
}

/* The network's output for n rows of x, in batches of up to `capacity` rows.
 * Layers write to two buffers in turn, allocated once for the call (on the
 * stack when small: a single-sample call then costs only its arithmetic); the
 * last layer writes straight into out.  Returns -1 if memory runs out. */
int F(df_predict)(const df_net *net, const REAL *x, int64_t n, int64_t capacity, REAL *out) {
    enum { STACK_REALS = 2048, STACK_LAYERS = 32 };
    REAL stack_buffer[STACK_REALS];
    void *stack_act[STACK_LAYERS];
    const int L = net->n_layers, narrow = NARROW_ENABLED();
    const int64_t n_in = net->layers[0].n_in, n_out = net->layers[L - 1].n_out;
    int64_t widest = 1;
    for (int l = 0; l < L - 1; l++) widest = net->layers[l].n_out > widest ? net->layers[l].n_out : widest;
    capacity = capacity < n ? capacity : n;
    capacity = capacity > 0 ? capacity : 1;
    const int64_t reals = 2 * capacity * widest;
    REAL *buffer = reals <= STACK_REALS ? stack_buffer : (REAL *)malloc(sizeof(REAL) * reals);
    void **act = L <= STACK_LAYERS ? stack_act : (void **)malloc(sizeof(void *) * L);
    int status = 0;
    if (buffer == NULL || act == NULL) {
        status = -1;
    } else {
        df_work work = {0};
        work.capacity = capacity;
        work.act = act;
        for (int l = 0; l < L - 1; l++) act[l] = buffer + (l % 2) * capacity * widest;
        for (int64_t start = 0; start < n; start += capacity) {
            const int rows = (int)((n - start) < capacity ? (n - start) : capacity);
            act[L - 1] = out + start * n_out;
            F(forward)(net, &work, x + start * n_in, NULL, rows, 0, 0, 0, narrow, NULL);
        }
    }
    if (buffer != stack_buffer) free(buffer);
    if (act != stack_act) free(act);
    return status;
}

void F(df_evaluate)(const df_net *net, df_work *work, const df_objective *objective,
                    const REAL *x, const void *y, int64_t n, double *loss_sum, double *metric_sum,
                    const REAL *sample_weight, double *metric_state) {
    const int L = net->n_layers, narrow = NARROW_ENABLED();
    const int64_t n_in = net->layers[0].n_in, n_out = net->layers[L - 1].n_out;
    const int labels = df_loss_uses_labels(objective->loss);
    const double weight_penalty = F(weight_penalty)(net); /* the weights stay put */
    *loss_sum = 0;
    *metric_sum = 0;
    REAL *probs = metric_state ? F(metric_probs_buffer)(objective, work->capacity, n_out) : NULL;
    for (int64_t start = 0; start < n; start += work->capacity) {
        const int rows = (int)((n - start) < work->capacity ? (n - start) : work->capacity);
        const void *yb = labels ? (const void *)((const int32_t *)y + start)
                                : (const void *)((const REAL *)y + start * n_out);
        F(forward)(net, work, x + start * n_in, NULL, rows, objective->fused_output, 0, 0,
                   narrow, NULL);
        const REAL *out = (const REAL *)work->act[L - 1];
        *loss_sum += F(df_loss)(objective, out, yb, NULL, rows, n_out,
                                sample_weight ? sample_weight + start : NULL) +
                     F(activity_penalty_sum)(net, work, rows, objective->fused_output) +
                     rows * weight_penalty;
        *metric_sum += F(df_metric)(objective->metric, objective->threshold, out, yb, rows, n_out);
        F(metrics_batch)(net, objective, out, probs, yb, sample_weight ? sample_weight + start : NULL,
                         rows, n_out, metric_state);
    }
    free(probs);
}
