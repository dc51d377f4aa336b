/* ResidualLFQ's training terms in plain C: the straight-through gradient, the
 * commitment loss and the entropy auxiliary loss, per level, as
 * vector-quantize-pytorch's LFQ defines them, with the intended masking (valid
 * rows only, the codebook entropy of the batch-averaged distribution). */
#include "ops/ref/grad_ae_ref.h"
#include "ops/ref/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROB_FLOOR 1e-5 /* entropy() clamps probabilities to 1e-5 inside the log */

/* One level of the residual walk for one row: xq (soft-clamped residual), the
 * quantized value v and the derivative of xq with respect to the residual. */
typedef struct lfq_level {
    double xq[32], v[32], slope[32];
    double scale;
} lfq_level;

static void level_of(const float *residual, size_t d, int q, float soft_clamp, lfq_level *out)
{
    out->scale = ldexp(1.0, -q);
    for (size_t k = 0; k < d; k++) {
        double r = residual[k];
        if (soft_clamp > 0.0f) {
            double c = (double)soft_clamp * out->scale, t = tanh(r / c);
            out->xq[k] = c * t;
            out->slope[k] = 1.0 - t * t;
        } else {
            out->xq[k] = r;
            out->slope[k] = 1.0;
        }
        out->v[k] = out->xq[k] > 0.0 ? out->scale : -out->scale;
    }
}

/* The residual walk in f32, exactly as the forward quantizer (mg_ref_lfq_quantize). */
static void next_residual(float *residual, size_t d, int q, float soft_clamp)
{
    float scale = ldexpf(1.0f, -q);
    for (size_t k = 0; k < d; k++) {
        float clamped = residual[k];
        if (soft_clamp > 0.0f) {
            float c = soft_clamp * scale;
            clamped = c * tanhf(residual[k] / c);
        }
        residual[k] -= clamped > 0.0f ? scale : -scale;
    }
}

static double log_sigmoid(double u)
{
    return -(fmax(-u, 0.0) + log1p(exp(-fabs(u))));
}

/* p_j and log p_j for every code j of one row: the softmax over codes of 2 T s xq . b_j factorizes into
 * independent signs per dimension, p_j = prod_k sigmoid(4 T s xq_k b_jk) (b_jk = +-1, bit d-1-k of j).
 * Both tables double once per dimension (2^d products and sums, no exp per code); each entry multiplies or
 * sums its factors in the order k = 0 .. d-1. sign_mean (may be NULL) gets each dimension's E[b_k] =
 * P(+) - P(-), which is sum_j p_j b_jk. */
static void code_probs(const lfq_level *l, size_t d, float inv_temperature, double *log_p, double *prob,
                       double *sign_mean)
{
    log_p[0] = 0.0;
    prob[0] = 1.0;
    size_t filled = 1;
    for (size_t k = 0; k < d; k++) {
        double a = 4.0 * (double)inv_temperature * l->scale * l->xq[k];
        double pos = log_sigmoid(a), neg = log_sigmoid(-a), pos_p = exp(pos), neg_p = exp(neg);
        if (sign_mean)
            sign_mean[k] = pos_p - neg_p;
        /* Backwards, so that entry i is read before entries 2i and 2i+1 overwrite it. */
        for (size_t i = filled; i-- > 0;) {
            double prefix = log_p[i], prefix_p = prob[i];
            log_p[2 * i] = prefix + neg;
            log_p[2 * i + 1] = prefix + pos;
            prob[2 * i] = prefix_p * neg_p;
            prob[2 * i + 1] = prefix_p * pos_p;
        }
        filled *= 2;
    }
}

/* sum_j w_j b_jk for every dimension k (b_jk = +1 where bit d-1-k of j is set, else -1), in 2^d additions
 * rather than d 2^d: fold the table in halves on its lowest bit, taking each fold's signed difference.
 * Overwrites w. */
static void signed_bit_sums(double *w, size_t d, double *out)
{
    size_t size = (size_t)1 << d;
    for (size_t k = d; k-- > 0;) {
        double difference = 0.0;
        size /= 2;
        for (size_t i = 0; i < size; i++) {
            difference += w[2 * i + 1] - w[2 * i];
            w[i] = w[2 * i] + w[2 * i + 1];
        }
        out[k] = difference;
    }
}

/* -p log(max(p, floor)) and its derivative in p */
static double entropy_term(double p, double log_p)
{
    return -p * (p > PROB_FLOOR ? log_p : log(PROB_FLOOR));
}
static double entropy_slope(double p, double log_p)
{
    return p > PROB_FLOOR ? -(log_p + 1.0) : -log(PROB_FLOOR);
}

typedef struct level_stats {
    double commit, per_sample, codebook, entropy_aux, valid;
    double *avg; /* [2^d] */
} level_stats;

/* The statistics of every level (avg arrays allocated by the caller). */
static void compute_stats(size_t n, size_t d, const float *x, const int32_t *mask, const mg_lfq_loss_params *p,
                          level_stats *stats, double *log_p, double *prob)
{
    size_t codes = (size_t)1 << d;
    for (int q = 0; q < p->levels; q++) {
        memset(stats[q].avg, 0, codes * sizeof(double));
        stats[q].commit = stats[q].per_sample = 0.0;
    }
    double valid = 0.0;
    float residual[32];
    for (size_t i = 0; i < n; i++) {
        if (mask && mask[i] == 0)
            continue;
        valid += 1.0;
        memcpy(residual, x + i * d, d * sizeof(float));
        for (int q = 0; q < p->levels; q++) {
            lfq_level l;
            level_of(residual, d, q, p->soft_clamp, &l);
            for (size_t k = 0; k < d; k++)
                stats[q].commit += (l.xq[k] - l.v[k]) * (l.xq[k] - l.v[k]);
            code_probs(&l, d, p->inv_temperature, log_p, prob, NULL);
            for (size_t j = 0; j < codes; j++) {
                double pj = prob[j];
                stats[q].per_sample += entropy_term(pj, log_p[j]);
                stats[q].avg[j] += pj;
            }
            next_residual(residual, d, q, p->soft_clamp);
        }
    }
    for (int q = 0; q < p->levels; q++) {
        level_stats *s = &stats[q];
        s->valid = valid;
        double codebook = 0.0;
        for (size_t j = 0; j < codes && valid > 0.0; j++) {
            s->avg[j] /= valid;
            codebook += entropy_term(s->avg[j], log(s->avg[j]));
        }
        s->commit = valid > 0.0 ? s->commit / (valid * (double)d) : 0.0;
        s->per_sample = valid > 0.0 ? s->per_sample / valid : 0.0;
        s->codebook = codebook;
        double e = s->per_sample - (double)p->diversity_gamma * codebook;
        s->entropy_aux = p->softplus_entropy ? log1p(exp(-fabs(e + p->entropy_offset))) +
                                                   fmax(e + p->entropy_offset, 0.0)
                                             : e;
    }
}

static level_stats *alloc_stats(int levels, size_t d)
{
    level_stats *stats = calloc((size_t)levels, sizeof *stats);
    double *avg = malloc((size_t)levels * ((size_t)1 << d) * sizeof *avg);
    if (!stats || !avg) {
        free(stats);
        free(avg);
        return NULL;
    }
    for (int q = 0; q < levels; q++)
        stats[q].avg = avg + (size_t)q * ((size_t)1 << d);
    return stats;
}

static void free_stats(level_stats *stats)
{
    if (stats)
        free(stats[0].avg);
    free(stats);
}

void mg_ref_lfq_loss(size_t n, size_t d, const float *x, const int32_t *mask, const mg_lfq_loss_params *p,
                     float *losses, float *avg)
{
    size_t codes = (size_t)1 << d;
    level_stats *stats = alloc_stats(p->levels, d);
    double *log_p = malloc(2 * codes * sizeof *log_p); /* log p_j, then p_j */
    if (!stats || !log_p) { /* the entry checks memory before calling; NaN marks the failure */
        for (size_t i = 0; i < (size_t)p->levels * MG_LFQ_LOSS_COLUMNS; i++)
            losses[i] = NAN;
        free_stats(stats);
        free(log_p);
        return;
    }
    compute_stats(n, d, x, mask, p, stats, log_p, log_p + codes);
    for (int q = 0; q < p->levels; q++) {
        const level_stats *s = &stats[q];
        float *row = losses + (size_t)q * MG_LFQ_LOSS_COLUMNS;
        row[0] = (float)((double)p->entropy_weight * s->entropy_aux + (double)p->commit_weight * s->commit);
        row[1] = (float)s->commit;
        row[2] = (float)s->per_sample;
        row[3] = (float)s->codebook;
        row[4] = (float)s->valid;
        for (size_t j = 0; avg && j < codes; j++)
            avg[(size_t)q * codes + j] = (float)s->avg[j];
    }
    free_stats(stats);
    free(log_p);
}

typedef struct lfq_backward_job {
    size_t d, codes, valid;
    const float *x, *d_values;
    const int32_t *mask;
    const mg_lfq_loss_params *p;
    const level_stats *stats;   /* NULL without the entropy terms */
    const double *avg_slopes;   /* [levels, codes]: gamma g(avg_j), the same for every row */
    float aux_scale;
    float *d_x;
} lfq_backward_job;

/* d_x rows [begin, end): each row's gradient depends only on the row and the shared statistics. */
static void lfq_backward_rows(size_t begin, size_t end, void *context)
{
    const lfq_backward_job *job = context;
    const mg_lfq_loss_params *p = job->p;
    const size_t d = job->d, codes = job->codes, valid = job->valid;
    const bool entropy = job->stats != NULL;
    double *log_p = entropy ? malloc(3 * codes * sizeof *log_p) : NULL; /* log p_j, p_j, p_j G_j */
    if (entropy && !log_p) { /* a few KiB: NaN marks the rows rather than leaving them stale */
        for (size_t i = begin * d; i < end * d; i++)
            job->d_x[i] = NAN;
        return;
    }
    float residual[32];
    for (size_t i = begin; i < end; i++) {
        bool kept = (!job->mask || job->mask[i] != 0) && valid > 0;
        double grad[32] = {0};
        memcpy(residual, job->x + i * d, d * sizeof(float));
        for (int q = 0; q < p->levels; q++) {
            lfq_level l;
            level_of(residual, d, q, p->soft_clamp, &l);
            double d_xq[32];
            for (size_t k = 0; k < d; k++) {
                /* straight-through: the quantized output's gradient reaches xq unchanged */
                d_xq[k] = job->d_values ? job->d_values[i * d + k] : 0.0;
                if (kept)
                    d_xq[k] += (double)job->aux_scale * p->commit_weight * 2.0 * (l.xq[k] - l.v[k]) /
                               ((double)valid * (double)d);
            }
            if (kept && entropy) {
                const level_stats *s = &job->stats[q];
                const double *avg_slope = job->avg_slopes + (size_t)q * codes;
                double e = s->per_sample - (double)p->diversity_gamma * s->codebook;
                double outer = p->softplus_entropy ? 1.0 / (1.0 + exp(-(e + p->entropy_offset))) : 1.0;
                outer *= (double)job->aux_scale * p->entropy_weight;
                double *prob = log_p + codes, *weighted = prob + codes;
                double pg = 0.0, pgb[32], pb[32];
                code_probs(&l, d, p->inv_temperature, log_p, prob, pb);
                /* dE/dz_j = p_j (G_j - sum p G), G_j = (g(p_j) - gamma g(avg_j)) / valid; dz_j/dxq_k = 2 T s b_jk */
                for (size_t j = 0; j < codes; j++) {
                    double g = (entropy_slope(prob[j], log_p[j]) - avg_slope[j]) / (double)valid;
                    weighted[j] = prob[j] * g;
                    pg += weighted[j];
                }
                signed_bit_sums(weighted, d, pgb);
                double dz = 2.0 * (double)p->inv_temperature * l.scale;
                for (size_t k = 0; k < d; k++)
                    d_xq[k] += outer * dz * (pgb[k] - pg * pb[k]);
            }
            /* every level's residual is x minus constants (the detached quantized values) */
            for (size_t k = 0; k < d; k++)
                grad[k] += d_xq[k] * l.slope[k];
            next_residual(residual, d, q, p->soft_clamp);
        }
        for (size_t k = 0; k < d; k++)
            job->d_x[i * d + k] = (float)grad[k];
    }
    free(log_p);
}

void mg_ref_lfq_backward(size_t n, size_t d, const float *x, const int32_t *mask, const mg_lfq_loss_params *p,
                         const float *d_values, float aux_scale, float *d_x)
{
    size_t codes = (size_t)1 << d;
    bool entropy = aux_scale != 0.0f && p->entropy_weight != 0.0f;
    level_stats *stats = entropy ? alloc_stats(p->levels, d) : NULL;
    double *log_p = entropy ? malloc(2 * codes * sizeof *log_p) : NULL; /* log p_j, then p_j */
    double *avg_slopes = entropy ? malloc((size_t)p->levels * codes * sizeof *avg_slopes) : NULL;
    if (entropy && (!stats || !log_p || !avg_slopes)) {
        for (size_t i = 0; i < n * d; i++)
            d_x[i] = NAN;
        free_stats(stats);
        free(log_p);
        free(avg_slopes);
        return;
    }
    if (entropy) {
        compute_stats(n, d, x, mask, p, stats, log_p, log_p + codes);
        for (int q = 0; q < p->levels; q++)
            for (size_t j = 0; j < codes; j++)
                avg_slopes[(size_t)q * codes + j] = (double)p->diversity_gamma *
                                                    entropy_slope(stats[q].avg[j], log(stats[q].avg[j]));
    }
    size_t valid = 0;
    for (size_t i = 0; i < n; i++)
        valid += !mask || mask[i] != 0;
    lfq_backward_job job = {d, codes, valid, x, d_values, mask, p, stats, avg_slopes, aux_scale, d_x};
    const double cost = (double)n * (double)p->levels * (entropy ? (double)codes * 12.0 : (double)d);
    mg_ref_parallel_for(n, cost, lfq_backward_rows, &job);
    free_stats(stats);
    free(log_p);
    free(avg_slopes);
}
