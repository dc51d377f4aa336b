/* eval_distance_matrix (eval_common.h): Chamfer distances between two lists of meshes on a few threads. */
#include "eval_common.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 16

typedef struct distance_job {
    const mg_mesh *rows, *cols;
    size_t row_count, col_count, points, threads;
    uint64_t seed;
    double threshold;
    bool symmetric;
    double *out;
} distance_job;

typedef struct distance_worker {
    const distance_job *job;
    size_t first;
} distance_worker;

/* Rows first, first + threads, ...: interleaved, so that the shorter rows of a triangle spread evenly. */
static void *distance_rows(void *arg)
{
    const distance_worker *w = arg;
    const distance_job *j = w->job;
    for (size_t r = w->first; r < j->row_count; r += j->threads) {
        for (size_t c = j->symmetric ? r + 1 : 0; c < j->col_count; c++) {
            mg_mesh_distance d;
            char error[256];
            const double value = mg_mesh_compare(&j->rows[r], &j->cols[c], j->points, j->seed, j->threshold, &d,
                                                 error, sizeof error) == MG_OK
                                     ? d.chamfer
                                     : INFINITY;
            j->out[r * j->col_count + c] = value;
            if (j->symmetric)
                j->out[c * j->col_count + r] = value;
        }
    }
    return NULL;
}

static size_t thread_count(void)
{
    const char *env = getenv("MESHGPT_CPU_THREADS");
    long n = sysconf(_SC_NPROCESSORS_ONLN), limit = env ? strtol(env, NULL, 10) : 0;
    if (limit > 0 && limit < n)
        n = limit;
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (size_t)n;
}

void eval_distance_matrix(const mg_mesh *rows, size_t row_count, const mg_mesh *cols, size_t col_count,
                          bool symmetric, size_t points, uint64_t seed, double threshold, double *out)
{
    distance_job job = {rows, cols, row_count, col_count, points, thread_count(), seed, threshold, symmetric, out};
    if (symmetric)
        for (size_t r = 0; r < row_count; r++)
            out[r * col_count + r] = 0.0;
    distance_worker workers[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (size_t t = 0; t < job.threads; t++)
        workers[t] = (distance_worker){&job, t};
    /* Worker 0 runs here; one that cannot start runs here too. */
    for (size_t t = 1; t < job.threads; t++)
        started[t] = pthread_create(&ids[t], NULL, distance_rows, &workers[t]) == 0;
    distance_rows(&workers[0]);
    for (size_t t = 1; t < job.threads; t++) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            distance_rows(&workers[t]);
    }
}
