/* Dropout's counter-based masks, internal to csrc/ (see df_dropout_keeps).
 *
 * Value (row, col) of the batch at `step` is kept when 53 bits of
 * mix(key(seed, step) + golden * (row * cols + col + 1)) reach the rate's
 * threshold, mix being SplitMix64's finaliser: two multiplies a value, no
 * state, so the training loop and reference.py draw the same masks. */
#ifndef DENSEFIT_DROPOUT_H
#define DENSEFIT_DROPOUT_H
#include <stdint.h>

#define DF_GOLDEN 0x9e3779b97f4a7c15ULL

static inline uint64_t df_mix64(uint64_t z) {
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The key of one training step's masks. */
static inline uint64_t df_dropout_key(uint64_t seed, int64_t step) {
    return df_mix64(seed + DF_GOLDEN * ((uint64_t)step + 1));
}

/* Values whose 53 bits are below this are dropped: rate 2^53, rounded down. */
static inline uint64_t df_dropout_threshold(double rate) {
    return (uint64_t)(rate * 9007199254740992.0);
}

static inline int df_dropout_kept(uint64_t key, uint64_t index, uint64_t threshold) {
    return (df_mix64(key + DF_GOLDEN * (index + 1)) >> 11) >= threshold;
}
#endif
