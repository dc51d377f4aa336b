/*
 * The trainer's random numbers: xoshiro256** seeded through splitmix64. Every
 * random choice of training (shuffling, augmentation, later dropout and
 * condition dropout) draws from one of these, so a run is reproduced by its
 * seed and resumed exactly from the saved state (four 64-bit words).
 */
#ifndef MG_TRAIN_RNG_H
#define MG_TRAIN_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct mg_rng {
    uint64_t s[4];
} mg_rng;

/* The state for `seed` (any value, 0 included: splitmix64 never gives the all-zero state for four words). */
void mg_rng_seed(mg_rng *rng, uint64_t seed);
uint64_t mg_rng_next_u64(mg_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double mg_rng_uniform(mg_rng *rng);
/* Uniform in [lo, hi). */
double mg_rng_uniform_range(mg_rng *rng, double lo, double hi);
/* Uniform integer in [0, bound), without modulo bias; bound 0 gives 0. */
uint64_t mg_rng_below(mg_rng *rng, uint64_t bound);
/* An independent stream for `stream` (e.g. one per data-loader epoch) derived from this state without
 * advancing it. */
mg_rng mg_rng_fork(const mg_rng *rng, uint64_t stream);
/* Fisher-Yates shuffle of `count` indices. */
void mg_rng_shuffle_sizes(mg_rng *rng, size_t *values, size_t count);

#endif
