/* Narrow float32 layers on AVX-512 registers: see narrow.h.
 *
 * An output row of up to 32 floats is two 16-lane registers (the second, and a
 * lone first, masked to n_out).  Forward keeps ROWS output rows in registers
 * and walks the inputs once, one broadcast input times one row of w per FMA;
 * the kernel gradient keeps KS rows of dw in registers and walks the batch.
 * Every load and store past n_out is masked off, so nothing is padded or
 * packed and no memory outside the buffers is touched. */
#include "densefit.h"
#include "narrow.h"

#ifdef DF_HAVE_NARROW
#include <immintrin.h>

#define NARROW_TARGET __attribute__((target("avx512f")))
#define NARROW_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* __builtin_cpu_init is idempotent and cheap once done; no cached flag, so no
 * data race between threads that ask at the same time. */
static int cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

static int narrow_wanted = 1; /* df_set_narrow (tests run both paths); read atomically */

int df_narrow_enabled(void) {
    return __atomic_load_n(&narrow_wanted, __ATOMIC_RELAXED) && cpu_has_avx512();
}

int df_set_narrow(int enabled) {
    __atomic_store_n(&narrow_wanted, enabled != 0, __ATOMIC_RELAXED);
    return df_narrow_enabled();
}

int df_forward_uses_blas(const df_net *net, int is_float32) {
    if (!is_float32 || !df_narrow_enabled()) return 1;
    for (int l = 0; l < net->n_layers; l++)
        if (net->layers[l].kind == DF_LAYER_DENSE && !DF_NARROW_FITS(net->layers[l].n_out))
            return 1;
    return 0;
}

#define ROW(x, idx, ldx, r) ((x) + ((idx) ? (idx)[r] : (int64_t)(r)) * (ldx))

/* Masks for the two registers of an n_out-wide row (the second unused when n_out <= 16). */
static inline void row_masks(int n_out, __mmask16 *m0, __mmask16 *m1) {
    *m0 = (__mmask16)(n_out >= 16 ? 0xFFFF : (1u << n_out) - 1);
    *m1 = (__mmask16)(n_out <= 16 ? 0 : n_out >= 32 ? 0xFFFF : (1u << (n_out - 16)) - 1);
}

/* The lanes of inputs [k0, k0 + 16) that exist (fewer than 16 at the end). */
static inline __mmask16 chunk_lanes(int n_in, int k0) {
    return n_in - k0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n_in - k0)) - 1);
}

/* The lanes of `bits` (float bit patterns, or several ORed) that are not +0 or
 * -0: the sign bit is left out of the test. */
NARROW_INLINE unsigned nonzero_lanes(__m512i bits) {
    return _mm512_test_epi32_mask(bits, _mm512_set1_epi32(0x7FFFFFFF));
}

/* acc[r] += x[r][k] * w[k, :] for the block's R rows. */
NARROW_INLINE void forward_step(const float *const *xr, const float *w, int k, int n_out,
                                __mmask16 m0, __mmask16 m1, __m512 acc[][2], const int R,
                                const int V) {
    const float *wk = w + (int64_t)k * n_out;
    const __m512 w0 = _mm512_maskz_loadu_ps(m0, wk);
    const __m512 w1 = V > 1 ? _mm512_maskz_loadu_ps(m1, wk + 16) : _mm512_setzero_ps();
    for (int r = 0; r < R; r++) {
        const __m512 xv = _mm512_set1_ps(xr[r][k]);
        acc[r][0] = _mm512_fmadd_ps(xv, w0, acc[r][0]);
        if (V > 1) acc[r][1] = _mm512_fmadd_ps(xv, w1, acc[r][1]);
    }
}

/* out rows [r0, r0 + R) = x w + b, V registers per row; R and V are constants
 * where this is inlined, so acc lives in registers. */
NARROW_INLINE void forward_block(const float *x, const int64_t *idx, int64_t ldx, const float *w,
                                 const float *b, float *out, int r0, int n_in, int n_out,
                                 __mmask16 m0, __mmask16 m1, const int R, const int V,
                                 int prefetch_rows, uint16_t *live_out) {
    __m512 acc[16][2];
    const float *xr[16], *next[16];
    for (int r = 0; r < R; r++) {
        xr[r] = ROW(x, idx, ldx, r0 + r);
        acc[r][0] = _mm512_setzero_ps();
        acc[r][1] = _mm512_setzero_ps();
    }
    /* Rows read through idx lie anywhere in memory: while this block computes,
     * ask for the next block's rows, a cache line of each per 16 inputs, spread
     * so the requests never pile up. */
    const int n_next = prefetch_rows < R ? prefetch_rows : R;
    for (int r = 0; r < n_next; r++) next[r] = ROW(x, idx, ldx, r0 + R + r);
    for (int k0 = 0; k0 < n_in; k0 += 16) {
        for (int r = 0; r < n_next; r++) __builtin_prefetch(next[r] + k0, 0, 3);
        /* Inputs that are 0 in every row of the block add nothing (w is finite):
         * only the others are walked.  Images have many (MNIST: half the
         * inputs of an 8-row block); dense data pays one OR per row per 16. */
        const __mmask16 in_range = chunk_lanes(n_in, k0);
        __m512i any = _mm512_setzero_si512();
        for (int r = 0; r < R; r++)
            any = _mm512_or_si512(any, _mm512_castps_si512(_mm512_maskz_loadu_ps(in_range, xr[r] + k0)));
        unsigned live = nonzero_lanes(any);
        if (live_out) live_out[k0 / 16] |= (uint16_t)live;
        if (live == 0xFFFF) { /* all 16 live: a plain counted loop */
            for (int k = k0; k < k0 + 16; k++)
                forward_step(xr, w, k, n_out, m0, m1, acc, R, V);
            continue;
        }
        while (live) {
            const int k = k0 + __builtin_ctz(live);
            live &= live - 1;
            forward_step(xr, w, k, n_out, m0, m1, acc, R, V);
        }
    }
    const __m512 b0 = b ? _mm512_maskz_loadu_ps(m0, b) : _mm512_setzero_ps();
    const __m512 b1 = b && V > 1 ? _mm512_maskz_loadu_ps(m1, b + 16) : _mm512_setzero_ps();
    for (int r = 0; r < R; r++) {
        float *o = out + (int64_t)(r0 + r) * n_out;
        _mm512_mask_storeu_ps(o, m0, _mm512_add_ps(acc[r][0], b0));
        if (V > 1) _mm512_mask_storeu_ps(o + 16, m1, _mm512_add_ps(acc[r][1], b1));
    }
}

/* One row alone: four partial sums over k, so the FMAs do not wait on each other
 * (a single-sample predict is this). */
NARROW_INLINE void forward_row(const float *xr, const float *w, const float *b, float *o,
                               int n_in, int n_out, __mmask16 m0, __mmask16 m1, const int V) {
    __m512 acc[4][2];
    for (int u = 0; u < 4; u++) acc[u][0] = acc[u][1] = _mm512_setzero_ps();
    int k = 0;
    for (; n_in - k >= 4; k += 4)
        for (int u = 0; u < 4; u++) {
            const float *wk = w + (int64_t)(k + u) * n_out;
            const __m512 xv = _mm512_set1_ps(xr[k + u]);
            acc[u][0] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m0, wk), acc[u][0]);
            if (V > 1)
                acc[u][1] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m1, wk + 16), acc[u][1]);
        }
    for (; k < n_in; k++) {
        const float *wk = w + (int64_t)k * n_out;
        const __m512 xv = _mm512_set1_ps(xr[k]);
        acc[0][0] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m0, wk), acc[0][0]);
        if (V > 1) acc[0][1] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m1, wk + 16), acc[0][1]);
    }
    for (int v = 0; v < V; v++) {
        const __mmask16 m = v ? m1 : m0;
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0][v], acc[1][v]),
                                         _mm512_add_ps(acc[2][v], acc[3][v]));
        const __m512 bias = b ? _mm512_maskz_loadu_ps(m, b + 16 * v) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(o + 16 * v, m, _mm512_add_ps(sum, bias));
    }
}

/* Marks in live the inputs that are not 0 in row xr (see dw_all). */
NARROW_INLINE void mark_live(const float *xr, int n_in, uint16_t *live) {
    for (int k0 = 0; k0 < n_in; k0 += 16) {
        const __mmask16 in_range = chunk_lanes(n_in, k0);
        const __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(in_range, xr + k0));
        live[k0 / 16] |= (uint16_t)nonzero_lanes(v);
    }
}

/* Rows [r, rows) one at a time, after the last full block. */
NARROW_INLINE void forward_rest(const float *x, const int64_t *idx, int64_t ldx, const float *w,
                                const float *b, float *out, int r, int rows, int n_in, int n_out,
                                __mmask16 m0, __mmask16 m1, uint16_t *live, const int V) {
    for (; r < rows; r++) {
        forward_row(ROW(x, idx, ldx, r), w, b, out + (int64_t)r * n_out, n_in, n_out, m0, m1, V);
        if (live) mark_live(ROW(x, idx, ldx, r), n_in, live);
    }
}

NARROW_TARGET void df_narrow_forward_f32(const float *x, const int64_t *idx, int64_t ldx,
                                         const float *w, const float *b, float *out, int rows,
                                         int n_in, int n_out, uint16_t *live) {
    __mmask16 m0, m1;
    row_masks(n_out, &m0, &m1);
    int r = 0;
    if (n_out > 16) {
        for (; rows - r >= 8; r += 8)
            forward_block(x, idx, ldx, w, b, out, r, n_in, n_out, m0, m1, 8, 2,
                          idx ? rows - r - 8 : 0, live);
        forward_rest(x, idx, ldx, w, b, out, r, rows, n_in, n_out, m0, m1, live, 2);
    } else {
        for (; rows - r >= 16; r += 16)
            forward_block(x, idx, ldx, w, b, out, r, n_in, n_out, m0, m1, 16, 1,
                          idx ? rows - r - 16 : 0, live);
        for (; rows - r >= 4; r += 4)
            forward_block(x, idx, ldx, w, b, out, r, n_in, n_out, m0, m1, 4, 1,
                          idx ? rows - r - 4 : 0, live);
        forward_rest(x, idx, ldx, w, b, out, r, rows, n_in, n_out, m0, m1, live, 1);
    }
}

/* dw rows k = K(0) .. K(KS - 1) = sum over the batch of x[r, k] dz[r, :], where
 * K(i) is ks[i], or k0 + i when ks is NULL (a constant where this is inlined:
 * contiguous inputs then cost no index loads). */
#define K(i) (ks ? ks[i] : k0 + (i))
NARROW_INLINE void dw_block(const float *x, const int64_t *idx, int64_t ldx, const float *dz,
                            float *dw, int rows, int k0, const int *ks, int n_out, __mmask16 m0,
                            __mmask16 m1, const int KS, const int V) {
    __m512 acc[16][2];
    for (int k = 0; k < KS; k++) acc[k][0] = acc[k][1] = _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) {
        const float *xr = ROW(x, idx, ldx, r), *dzr = dz + (int64_t)r * n_out;
        const __m512 d0 = _mm512_maskz_loadu_ps(m0, dzr);
        const __m512 d1 = V > 1 ? _mm512_maskz_loadu_ps(m1, dzr + 16) : _mm512_setzero_ps();
        for (int k = 0; k < KS; k++) {
            const __m512 xv = _mm512_set1_ps(xr[K(k)]);
            acc[k][0] = _mm512_fmadd_ps(xv, d0, acc[k][0]);
            if (V > 1) acc[k][1] = _mm512_fmadd_ps(xv, d1, acc[k][1]);
        }
    }
    for (int k = 0; k < KS; k++) {
        float *o = dw + (int64_t)K(k) * n_out;
        _mm512_mask_storeu_ps(o, m0, acc[k][0]);
        if (V > 1) _mm512_mask_storeu_ps(o + 16, m1, acc[k][1]);
    }
}

/* The kernel gradient for V registers per row, in blocks of KS inputs.  With
 * live_in (bit k % 16 of live_in[k / 16]: input k is not 0 in some row of the
 * batch, as the forward pass found), an input that is 0 in every row gets a
 * zero row of dw without arithmetic (dz finite: the sum would be +0 exactly)
 * and the others queue up and go KS at a time; without, all are computed. */
NARROW_INLINE void dw_all(const float *x, const int64_t *idx, int64_t ldx, const float *dz,
                          float *dw, int rows, int n_in, int n_out, const uint16_t *live_in,
                          __mmask16 m0, __mmask16 m1, const int KS, const int V) {
    int queue[48], queued = 0;
    for (int k0 = 0; k0 < n_in; k0 += 16) {
        const __mmask16 in_range = chunk_lanes(n_in, k0);
        const unsigned live = (live_in ? live_in[k0 / 16] : 0xFFFF) & in_range;
        for (unsigned dead = ~live & in_range; dead; dead &= dead - 1) {
            float *o = dw + (int64_t)(k0 + __builtin_ctz(dead)) * n_out;
            _mm512_mask_storeu_ps(o, m0, _mm512_setzero_ps());
            if (V > 1) _mm512_mask_storeu_ps(o + 16, m1, _mm512_setzero_ps());
        }
        if (live == 0xFFFF && queued == 0) { /* dense data: 16 contiguous inputs */
            for (int k = k0; k < k0 + 16; k += KS)
                dw_block(x, idx, ldx, dz, dw, rows, k, NULL, n_out, m0, m1, KS, V);
            continue;
        }
        for (unsigned l = live; l; l &= l - 1) queue[queued++] = k0 + __builtin_ctz(l);
        int done = 0;
        for (; queued - done >= KS; done += KS)
            dw_block(x, idx, ldx, dz, dw, rows, 0, queue + done, n_out, m0, m1, KS, V);
        for (int q = done; q < queued; q++) queue[q - done] = queue[q];
        queued -= done;
    }
    int done = 0;
    for (; queued - done >= 4; done += 4)
        dw_block(x, idx, ldx, dz, dw, rows, 0, queue + done, n_out, m0, m1, 4, V);
    for (; done < queued; done++)
        dw_block(x, idx, ldx, dz, dw, rows, 0, queue + done, n_out, m0, m1, 1, V);
}
#undef K

NARROW_TARGET void df_narrow_dw_f32(const float *x, const int64_t *idx, int64_t ldx,
                                    const float *dz, float *dw, int rows, int n_in, int n_out,
                                    const uint16_t *live) {
    __mmask16 m0, m1;
    row_masks(n_out, &m0, &m1);
    if (n_out > 16)
        dw_all(x, idx, ldx, dz, dw, rows, n_in, n_out, live, m0, m1, 8, 2);
    else
        dw_all(x, idx, ldx, dz, dw, rows, n_in, n_out, live, m0, m1, 16, 1);
}
#else
int df_set_narrow(int enabled) {
    (void)enabled;
    return 0; /* not built for this compiler or CPU family: BLAS everywhere */
}

int df_forward_uses_blas(const df_net *net, int is_float32) {
    (void)net, (void)is_float32;
    return 1;
}
#endif
