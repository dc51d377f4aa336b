/*
 * Coverage, MMD and 1-NNA of a generated set against a reference set, from distance matrices (the
 * definitions of Achlioptas et al. 2018 and Yang et al. 2019, PointFlow). Ties in 1-NNA count against
 * the classifier: a sample is classified correctly only when its own set is strictly nearer. Also the
 * diversity of one set (mean pairwise distance, distinct members), which shows a collapsed generator.
 */
#include "core/diag.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

mg_status mg_set_metrics_compute(const double *gen_ref, const double *gen_gen, const double *ref_ref,
                                 size_t generated, size_t references, mg_set_metrics *out, char *error,
                                 size_t error_size)
{
    if (!out || !gen_ref || !gen_gen || !ref_ref || generated == 0 || references == 0) {
        mg_format(error, error_size, "mg_set_metrics_compute: give three distance matrices, at least one sample "
                  "and one reference");
        return MG_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    const size_t G = generated, R = references;
    uint8_t *covered = calloc(R, 1);
    if (!covered) {
        mg_format(error, error_size, "out of host memory");
        return MG_ERR_OUT_OF_MEMORY;
    }
    for (size_t g = 0; g < G; g++) {
        size_t best = 0;
        for (size_t r = 1; r < R; r++)
            if (gen_ref[g * R + r] < gen_ref[g * R + best])
                best = r;
        covered[best] = 1;
    }
    size_t hits = 0;
    double mmd = 0.0;
    for (size_t r = 0; r < R; r++) {
        hits += covered[r];
        double best = INFINITY;
        for (size_t g = 0; g < G; g++)
            best = fmin(best, gen_ref[g * R + r]);
        mmd += best;
    }
    free(covered);
    out->coverage = (double)hits / (double)R;
    out->mmd = mmd / (double)R;
    size_t correct = 0;
    for (size_t g = 0; g < G; g++) {
        double same = INFINITY, other = INFINITY;
        for (size_t h = 0; h < G; h++)
            if (h != g)
                same = fmin(same, gen_gen[g * G + h]);
        for (size_t r = 0; r < R; r++)
            other = fmin(other, gen_ref[g * R + r]);
        correct += same < other;
    }
    for (size_t r = 0; r < R; r++) {
        double same = INFINITY, other = INFINITY;
        for (size_t s = 0; s < R; s++)
            if (s != r)
                same = fmin(same, ref_ref[r * R + s]);
        for (size_t g = 0; g < G; g++)
            other = fmin(other, gen_ref[g * R + r]);
        correct += same < other;
    }
    out->nna = (double)correct / (double)(G + R);
    return MG_OK;
}

mg_status mg_set_diversity(const double *dist, size_t n, double tolerance, double *mean_distance, size_t *distinct,
                           char *error, size_t error_size)
{
    if (!dist || n == 0 || !mean_distance || !distinct || !(tolerance >= 0.0)) {
        mg_format(error, error_size, "mg_set_diversity: give a distance matrix of at least one member, a tolerance "
                  "of 0 or more and both outputs");
        return MG_ERR_INVALID_ARGUMENT;
    }
    double sum = 0.0;
    size_t fresh = 0, pairs = 0;
    for (size_t i = 0; i < n; i++) {
        bool repeats = false;
        for (size_t j = 0; j < i; j++) {
            const double d = dist[i * n + j];
            if (isfinite(d))
                sum += d, pairs++;
            repeats = repeats || d <= tolerance;
        }
        fresh += !repeats;
    }
    *mean_distance = pairs ? sum / (double)pairs : 0.0;
    *distinct = fresh;
    return MG_OK;
}
