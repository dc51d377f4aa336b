#include "train/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void mg_rng_seed(mg_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

uint64_t mg_rng_next_u64(mg_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mg_rng_uniform(mg_rng *rng)
{
    return (double)(mg_rng_next_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
}

double mg_rng_uniform_range(mg_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * mg_rng_uniform(rng);
}

uint64_t mg_rng_below(mg_rng *rng, uint64_t bound)
{
    if (bound == 0)
        return 0;
    /* Reject the top partial range so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do
        x = mg_rng_next_u64(rng);
    while (x >= limit);
    return x % bound;
}

mg_rng mg_rng_fork(const mg_rng *rng, uint64_t stream)
{
    uint64_t x = rng->s[0] ^ rotl(rng->s[1], 13) ^ rotl(rng->s[2], 29) ^ rotl(rng->s[3], 47);
    x ^= splitmix64(&stream);
    mg_rng out;
    mg_rng_seed(&out, x);
    return out;
}

void mg_rng_shuffle_sizes(mg_rng *rng, size_t *values, size_t count)
{
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)mg_rng_below(rng, i);
        size_t t = values[i - 1];
        values[i - 1] = values[j];
        values[j] = t;
    }
}
