/* mg_ref_parallel_for and mg_ref_dot (see parallel.h). */
#include "ops/ref/parallel.h"

#include <stdbool.h>
#include <stdlib.h>

#if defined(_WIN32)
#define MG_HAVE_THREADS 0
#else
#include <pthread.h>
#include <unistd.h>
#define MG_HAVE_THREADS 1
#endif

#define MAX_THREADS 16
#define MIN_COST_PER_THREAD 5.0e5 /* below this, starting a thread costs more than it saves */

static size_t thread_budget(void)
{
    const char *env = getenv("MESHGPT_CPU_THREADS");
    long limit = env ? strtol(env, NULL, 10) : 0;
#if MG_HAVE_THREADS
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
#else
    long cores = 1;
#endif
    if (cores < 1)
        cores = 1;
    if (limit > 0 && limit < cores)
        cores = limit;
    return cores > MAX_THREADS ? MAX_THREADS : (size_t)cores;
}

typedef struct chunk {
    mg_ref_range_fn fn;
    void *context;
    size_t begin, end;
} chunk;

#if MG_HAVE_THREADS
static void *run_chunk(void *arg)
{
    chunk *c = arg;
    c->fn(c->begin, c->end, c->context);
    return NULL;
}
#endif

void mg_ref_parallel_for(size_t count, double cost, mg_ref_range_fn fn, void *context)
{
    size_t threads = thread_budget();
    size_t by_cost = (size_t)(cost / MIN_COST_PER_THREAD);
    if (by_cost < threads)
        threads = by_cost;
    if (threads > count)
        threads = count;
#if MG_HAVE_THREADS
    if (threads >= 2) {
        chunk chunks[MAX_THREADS];
        pthread_t ids[MAX_THREADS];
        bool started[MAX_THREADS] = {false};
        for (size_t t = 0; t < threads; t++)
            chunks[t] = (chunk){fn, context, count * t / threads, count * (t + 1) / threads};
        /* Chunk 0 runs here; a thread that cannot start has its chunk run here too. */
        for (size_t t = 1; t < threads; t++)
            started[t] = pthread_create(&ids[t], NULL, run_chunk, &chunks[t]) == 0;
        fn(chunks[0].begin, chunks[0].end, context);
        for (size_t t = 1; t < threads; t++) {
            if (started[t])
                pthread_join(ids[t], NULL);
            else
                fn(chunks[t].begin, chunks[t].end, context);
        }
        return;
    }
#endif
    if (count)
        fn(0, count, context);
}

MG_REF_VECTOR_CLONES double mg_ref_dot(const float *a, const float *b, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)a[i] * (double)b[i];
        s1 += (double)a[i + 1] * (double)b[i + 1];
        s2 += (double)a[i + 2] * (double)b[i + 2];
        s3 += (double)a[i + 3] * (double)b[i + 3];
    }
    for (; i < n; i++)
        s0 += (double)a[i] * (double)b[i];
    return (s0 + s1) + (s2 + s3);
}

MG_REF_VECTOR_CLONES void mg_ref_dot4(const float *a, size_t a_stride, const float *b, size_t n, double out[4])
{
    const float *a0 = a, *a1 = a + a_stride, *a2 = a + 2 * a_stride, *a3 = a + 3 * a_stride;
    /* s[r][p]: row r's partial sum p, as mg_ref_dot's s0..s3. */
    double s[4][4] = {{0.0}};
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        for (size_t p = 0; p < 4; p++) {
            const double bv = (double)b[i + p];
            s[0][p] += (double)a0[i + p] * bv;
            s[1][p] += (double)a1[i + p] * bv;
            s[2][p] += (double)a2[i + p] * bv;
            s[3][p] += (double)a3[i + p] * bv;
        }
    }
    for (; i < n; i++) {
        const double bv = (double)b[i];
        s[0][0] += (double)a0[i] * bv;
        s[1][0] += (double)a1[i] * bv;
        s[2][0] += (double)a2[i] * bv;
        s[3][0] += (double)a3[i] * bv;
    }
    for (size_t r = 0; r < 4; r++)
        out[r] = (s[r][0] + s[r][1]) + (s[r][2] + s[r][3]);
}
