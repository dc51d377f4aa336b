/*
 * Backward ops of the MeshTransformer ops (ops_grad_tf.h).
 *
 * 1. The CPU reference against central finite differences of the CPU FORWARD
 *    reference: L = sum(d_out * forward(x)) in double, for every input
 *    element. The forward rounds its outputs to f32 (~6e-8 relative), so the
 *    step is 1e-2 rather than 1e-3: rounding noise (~1e-6 / 2h) and the
 *    truncation error (~h^2) are then both about 1e-4; elements must agree
 *    within 1e-3 + 1e-2 |fd| and the whole gradient within a relative norm of
 *    1e-3 (a wrong factor, sign, mask or missing term fails by far more).
 *    Pure linear maps (table rows, copy rows) are checked exactly.
 * 2. Vulkan against the CPU reference under the validation layer: inputs are
 *    views at odd element offsets, outputs views between guard words
 *    (pre-filled with NaN, so an element left unwritten fails), bindings
 *    widened so that an overflowing shader hits the guards. NMSE <= 1e-7 for
 *    f32 (the shaders sum in f32, the reference in double).
 * 3. Semantics: activation gradients overwritten, parameter gradients (and
 *    d_v_first) accumulated, NULL outputs skipped.
 */
#include "ops/ops_grad_tf.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32(ptr) ((mg_ref_param){(ptr), false})
#define NONE ((mg_ref_param){NULL, false})
#define FD_STEP 1e-2
#define FD_ABS 1e-3
#define FD_REL 1e-2
#define FD_NORM 1e-3
#define NMSE_F32 1e-7

/* ---- finite differences ---- */

typedef double (*loss_fn)(const void *problem);

static double dot_loss(const float *d_out, const float *out, size_t count)
{
    double sum = 0.0;
    for (size_t i = 0; i < count; i++)
        sum += (double)d_out[i] * (double)out[i];
    return sum;
}

/* Every element of x (which `loss` reads through `problem`) against `analytic`. */
static void fd_check(const char *what, float *x, size_t count, const float *analytic, loss_fn loss,
                     const void *problem)
{
    double err2 = 0.0, ref2 = 0.0;
    for (size_t i = 0; i < count; i++) {
        float orig = x[i];
        float up = (float)(orig + FD_STEP), down = (float)(orig - FD_STEP);
        x[i] = up;
        double lp = loss(problem);
        x[i] = down;
        double lm = loss(problem);
        x[i] = orig;
        double fd = (lp - lm) / ((double)up - (double)down);
        double diff = (double)analytic[i] - fd;
        cr_assert(fabs(diff) <= FD_ABS + FD_REL * fabs(fd), "%s: element %zu: analytic %.7g, finite differences %.7g",
                  what, i, (double)analytic[i], fd);
        err2 += diff * diff;
        ref2 += fd * fd;
    }
    cr_assert(err2 <= FD_NORM * FD_NORM * ref2 + 1e-12, "%s: relative error norm %.3g", what,
              ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2));
}

/* ---- attention: reference vs finite differences ---- */

typedef struct attn_problem {
    size_t batch, n, key_rows, heads, dh, mems;
    mg_attention_params p;
    float *q, *k, *v, *mk, *mv, *d_out;
    int32_t *mask;
} attn_problem;

static size_t attn_q_count(const attn_problem *a)
{
    return a->batch * a->n * a->heads * a->dh;
}

static size_t attn_kv_count(const attn_problem *a)
{
    return a->batch * a->key_rows * a->heads * a->dh;
}

static size_t attn_mem_count(const attn_problem *a)
{
    return a->heads * a->mems * a->dh;
}

static double attn_loss(const void *problem)
{
    const attn_problem *a = problem;
    size_t count = attn_q_count(a);
    float *out = malloc(count * sizeof *out);
    cr_assert_not_null(out);
    mg_ref_attention(&a->p, a->batch, a->n, a->dh, a->key_rows, a->q, a->k, a->v, a->mems,
                     a->mems ? F32(a->mk) : NONE, a->mems ? F32(a->mv) : NONE, a->mask, out);
    double loss = dot_loss(a->d_out, out, count);
    free(out);
    return loss;
}

/* mask: 0 none, 1 scattered zeros, 2 also every key of batch 1 hidden */
static attn_problem attn_make(size_t batch, size_t n, size_t key_rows, size_t keys, size_t heads, size_t dh,
                              size_t mems, bool causal, int64_t query_offset, int mask, uint32_t seed)
{
    attn_problem a = {.batch = batch, .n = n, .key_rows = key_rows, .heads = heads, .dh = dh, .mems = mems,
                      .p = {.heads = heads, .scale = 1.0f / sqrtf((float)dh), .keys = keys, .causal = causal,
                            .query_offset = query_offset}};
    size_t qc = attn_q_count(&a), kc = attn_kv_count(&a), mc = attn_mem_count(&a) + 1;
    a.q = malloc(qc * 4);
    a.k = malloc(kc * 4);
    a.v = malloc(kc * 4);
    a.mk = malloc(mc * 4);
    a.mv = malloc(mc * 4);
    a.d_out = malloc(qc * 4);
    a.mask = mask ? malloc(batch * key_rows * sizeof *a.mask) : NULL;
    test_fill_uniform(a.q, qc, seed + 1, -2, 2);
    test_fill_uniform(a.k, kc, seed + 2, -2, 2);
    test_fill_uniform(a.v, kc, seed + 3, -1, 1);
    test_fill_uniform(a.mk, mc, seed + 4, -2, 2);
    test_fill_uniform(a.mv, mc, seed + 5, -1, 1);
    test_fill_uniform(a.d_out, qc, seed + 6, -1, 1);
    for (size_t b = 0; b < batch && mask; b++)
        for (size_t j = 0; j < key_rows; j++)
            a.mask[b * key_rows + j] = ((j + b) % 4 == 1 || (mask == 2 && b == 1)) ? 0 : (int32_t)(1 + j % 3);
    return a;
}

static void attn_free(attn_problem *a)
{
    free(a->q);
    free(a->k);
    free(a->v);
    free(a->mk);
    free(a->mv);
    free(a->d_out);
    free(a->mask);
}

typedef struct attn_grads {
    float *d_q, *d_k, *d_v, *d_mk, *d_mv;
} attn_grads;

static attn_grads attn_ref_grads(const attn_problem *a)
{
    attn_grads g = {calloc(attn_q_count(a) + 1, 4), calloc(attn_kv_count(a) + 1, 4), calloc(attn_kv_count(a) + 1, 4),
                    calloc(attn_mem_count(a) + 1, 4), calloc(attn_mem_count(a) + 1, 4)};
    cr_assert(mg_ref_attention_backward(&a->p, a->batch, a->n, a->dh, a->key_rows, a->q, a->k, a->v, a->mems,
                                        a->mems ? F32(a->mk) : NONE, a->mems ? F32(a->mv) : NONE, a->mask, a->d_out,
                                        g.d_q, g.d_k, g.d_v, a->mems ? g.d_mk : NULL, a->mems ? g.d_mv : NULL));
    return g;
}

static void attn_grads_free(attn_grads *g)
{
    free(g->d_q);
    free(g->d_k);
    free(g->d_v);
    free(g->d_mk);
    free(g->d_mv);
}

static void attn_fd_case(attn_problem a, const char *what)
{
    attn_grads g = attn_ref_grads(&a);
    char name[160];
    snprintf(name, sizeof name, "%s d_q", what);
    fd_check(name, a.q, attn_q_count(&a), g.d_q, attn_loss, &a);
    snprintf(name, sizeof name, "%s d_k", what);
    fd_check(name, a.k, attn_kv_count(&a), g.d_k, attn_loss, &a);
    snprintf(name, sizeof name, "%s d_v", what);
    fd_check(name, a.v, attn_kv_count(&a), g.d_v, attn_loss, &a);
    if (a.mems) {
        snprintf(name, sizeof name, "%s d_mem_k", what);
        fd_check(name, a.mk, attn_mem_count(&a), g.d_mk, attn_loss, &a);
        snprintf(name, sizeof name, "%s d_mem_v", what);
        fd_check(name, a.mv, attn_mem_count(&a), g.d_mv, attn_loss, &a);
    }
    /* keys past p.keys and hidden keys get exactly zero */
    size_t inner = a.heads * a.dh;
    for (size_t b = 0; b < a.batch; b++)
        for (size_t j = 0; j < a.key_rows; j++)
            if (j >= a.p.keys || (a.mask && a.mask[b * a.key_rows + j] == 0))
                for (size_t e = 0; e < inner; e++)
                    cr_assert(g.d_k[(b * a.key_rows + j) * inner + e] == 0.0f &&
                                  g.d_v[(b * a.key_rows + j) * inner + e] == 0.0f,
                              "%s: hidden key %zu of batch %zu has a gradient", what, j, b);
    attn_grads_free(&g);
    attn_free(&a);
}

Test(grad_tf_reference, attention_causal_masked_memories_matches_finite_differences)
{
    /* a cache longer than the keys in use (row 4 unused), scattered mask, queries at positions 1.. */
    attn_fd_case(attn_make(2, 3, 5, 4, 2, 3, 2, true, 1, 1, 10), "causal+mask+mems");
}

Test(grad_tf_reference, attention_full_and_empty_rows_match_finite_differences)
{
    /* not causal, no memories, batch 1 sees nothing at all (zero output, zero gradient) */
    attn_fd_case(attn_make(2, 2, 3, 3, 1, 5, 0, false, 0, 2, 20), "full, empty batch");
    /* causal with a negative offset: query 0 sees only the memory */
    attn_fd_case(attn_make(1, 4, 4, 4, 3, 2, 1, true, -1, 0, 30), "causal@-1 + 1 memory");
}

Test(grad_tf_reference, attention_by_hand_one_key)
{
    /* One visible key and nothing else: out = v exactly, so d_v = d_out and d_q = d_k = 0. */
    float q[2] = {0.3f, -0.7f}, k[2] = {1.5f, 2.0f}, v[2] = {4, -1}, d_out[2] = {0.5f, 2};
    mg_attention_params p = {.heads = 1, .scale = 0.7f, .keys = 1};
    float d_q[2], d_k[2], d_v[2];
    cr_assert(mg_ref_attention_backward(&p, 1, 1, 2, 1, q, k, v, 0, NONE, NONE, NULL, d_out, d_q, d_k, d_v, NULL,
                                        NULL));
    double want_v[2] = {0.5, 2}, zeros[2] = {0, 0};
    test_assert_close(d_v, want_v, 2, 0);
    test_assert_close(d_q, zeros, 2, 1e-7);
    test_assert_close(d_k, zeros, 2, 1e-7);
}

/* ---- the other ops: reference vs finite differences ---- */

typedef struct gateloop_problem {
    size_t batch, n, dim;
    float *qkva, *d_out;
} gateloop_problem;

static double gateloop_loss(const void *problem)
{
    const gateloop_problem *g = problem;
    size_t count = g->batch * g->n * g->dim;
    float *out = malloc(count * sizeof *out);
    mg_ref_gateloop(g->batch, g->n, g->dim, g->qkva, NULL, out);
    double loss = dot_loss(g->d_out, out, count);
    free(out);
    return loss;
}

Test(grad_tf_reference, gateloop_matches_finite_differences)
{
    gateloop_problem g = {2, 7, 3, malloc(2 * 7 * 9 * 4), malloc(2 * 7 * 3 * 4)};
    test_fill_uniform(g.qkva, 2 * 7 * 9, 41, -2, 2);
    test_fill_uniform(g.d_out, 2 * 7 * 3, 42, -1, 1);
    float *grad = malloc(2 * 7 * 9 * 4);
    cr_assert(mg_ref_gateloop_backward(2, 7, 3, g.qkva, g.d_out, grad));
    fd_check("gateloop d_qkva", g.qkva, 2 * 7 * 9, grad, gateloop_loss, &g);
    free(grad);
    free(g.qkva);
    free(g.d_out);
}

typedef struct mix_problem {
    size_t rows, heads, dh;
    float *v, *v_first, *mix, *d_out;
} mix_problem;

static double mix_loss(const void *problem)
{
    const mix_problem *m = problem;
    size_t count = m->rows * m->heads * m->dh;
    float *out = malloc(count * sizeof *out);
    mg_ref_value_residual_mix(m->rows, m->heads, m->dh, m->v, m->v_first, m->mix, out);
    double loss = dot_loss(m->d_out, out, count);
    free(out);
    return loss;
}

Test(grad_tf_reference, value_residual_mix_matches_finite_differences)
{
    const size_t rows = 5, heads = 3, dh = 2, count = rows * heads * dh;
    mix_problem m = {rows, heads, dh, malloc(count * 4), malloc(count * 4), malloc(rows * heads * 4),
                     malloc(count * 4)};
    test_fill_uniform(m.v, count, 51, -2, 2);
    test_fill_uniform(m.v_first, count, 52, -2, 2);
    test_fill_uniform(m.mix, rows * heads, 53, -3, 3);
    test_fill_uniform(m.d_out, count, 54, -1, 1);
    float *d_v = malloc(count * 4), *d_v_first = calloc(count, 4), *d_mix = malloc(rows * heads * 4);
    mg_ref_value_residual_mix_backward(rows, heads, dh, m.v, m.v_first, m.mix, m.d_out, d_v, d_v_first, d_mix);
    fd_check("value mix d_v", m.v, count, d_v, mix_loss, &m);
    fd_check("value mix d_v_first", m.v_first, count, d_v_first, mix_loss, &m);
    fd_check("value mix d_mix_logits", m.mix, rows * heads, d_mix, mix_loss, &m);
    /* without logits the mix is 0.5/0.5; d_v_first accumulates onto what is there */
    free(m.mix);
    m.mix = NULL;
    for (size_t i = 0; i < count; i++)
        d_v_first[i] = 1.0f;
    mg_ref_value_residual_mix_backward(rows, heads, dh, m.v, m.v_first, NULL, m.d_out, d_v, d_v_first, NULL);
    for (size_t i = 0; i < count; i++) {
        cr_assert_float_eq(d_v[i], 0.5f * m.d_out[i], 1e-7, "d_v[%zu]", i);
        cr_assert_float_eq(d_v_first[i], 1.0f + 0.5f * m.d_out[i], 1e-6, "d_v_first[%zu]", i);
    }
    free(m.v);
    free(m.v_first);
    free(m.d_out);
    free(d_v);
    free(d_v_first);
    free(d_mix);
}

Test(grad_tf_reference, add_table_rows_sums_every_reader_of_a_row)
{
    /* vertex-style rows: divisor 2, period 3, offset 3 -> positions 3.. read rows 1,2,2,0,0,1,1 for t = 0..6 */
    const size_t batch = 2, n = 7, dim = 2, rows = 4;
    float d_out[2 * 7 * 2], d_table[4 * 2];
    for (size_t i = 0; i < batch * n * dim; i++)
        d_out[i] = (float)(i + 1);
    for (size_t i = 0; i < rows * dim; i++)
        d_table[i] = 100.0f;
    mg_ref_add_table_rows_backward(batch, n, dim, d_out, 3, 2, 3, d_table);
    static const int row_of_t[7] = {1, 2, 2, 0, 0, 1, 1};
    double want[8] = {100, 100, 100, 100, 100, 100, 100, 100}; /* row 3 is never read: untouched */
    for (size_t b = 0; b < batch; b++)
        for (size_t t = 0; t < n; t++)
            for (size_t c = 0; c < dim; c++)
                want[row_of_t[t] * dim + c] += d_out[(b * n + t) * dim + c];
    test_assert_close(d_table, want, rows * dim, 0);
    /* and it is the transpose of the forward: table perturbations move the loss by exactly this */
    float table[8] = {0}, x[28] = {0}, out[28];
    mg_ref_add_table_rows(batch, n, dim, x, F32(table), 3, 2, 3, out);
    double base = dot_loss(d_out, out, 28);
    for (size_t e = 0; e < rows * dim; e++) {
        table[e] = 1.0f;
        mg_ref_add_table_rows(batch, n, dim, x, F32(table), 3, 2, 3, out);
        table[e] = 0.0f;
        cr_assert_float_eq(dot_loss(d_out, out, 28) - base, want[e] - 100.0, 1e-9, "table element %zu", e);
    }
}

Test(grad_tf_reference, copy_rows_backward_is_the_slice)
{
    float d_dst[2 * 4 * 3], d_src[2 * 2 * 3];
    for (size_t i = 0; i < 24; i++)
        d_dst[i] = (float)i;
    mg_ref_copy_rows_backward(2, 2, 3, 4, 1, d_dst, d_src);
    double want[12] = {3, 4, 5, 6, 7, 8, 15, 16, 17, 18, 19, 20};
    test_assert_close(d_src, want, 12, 0);
}

/* ---- Vulkan vs CPU ---- */

typedef struct attn_case {
    size_t batch, n, key_rows, keys, heads, dh, mems;
    bool causal;
    int64_t query_offset;
    int mask;
    bool f16;
    bool three_d;
} attn_case;

/* The gradients of one backend; mem gradients start from `mem_start` (accumulated). */
typedef struct attn_run {
    float *d_q, *d_k, *d_v, *d_mk, *d_mv;
} attn_run;

static mg_tensor *attn_input(mg_context *ctx, const attn_case *c, bool queries, const float *values, size_t lead)
{
    int64_t shape[3] = {(int64_t)c->batch, (int64_t)(queries ? c->n : c->key_rows), (int64_t)(c->heads * c->dh)};
    return c->three_d ? test_offset_input(ctx, MG_DTYPE_F32, 3, shape, values, lead)
                      : test_offset_input(ctx, MG_DTYPE_F32, 2, shape + 1, values, lead);
}

static test_guarded attn_output(mg_context *ctx, const attn_case *c, bool queries)
{
    int64_t shape[3] = {(int64_t)c->batch, (int64_t)(queries ? c->n : c->key_rows), (int64_t)(c->heads * c->dh)};
    return c->three_d ? test_guarded_output(ctx, MG_DTYPE_F32, 3, shape)
                      : test_guarded_output(ctx, MG_DTYPE_F32, 2, shape + 1);
}

/* want: which of d_q, d_k, d_v, d_mem_k, d_mem_v to ask for; calls: how many times to run the op. */
static attn_run attn_run_on(mg_context *ctx, const attn_case *c, const attn_problem *a, const float *mem_start,
                            const bool want[5], int calls, const char *what)
{
    mg_dtype mt = c->f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
    int64_t mem_shape[3] = {(int64_t)c->heads, (int64_t)c->mems, (int64_t)c->dh};
    mg_tensor *q = attn_input(ctx, c, true, a->q, 5), *k = attn_input(ctx, c, false, a->k, 3);
    mg_tensor *v = attn_input(ctx, c, false, a->v, 1), *d_out = attn_input(ctx, c, true, a->d_out, 2);
    mg_tensor *mk = c->mems ? test_offset_input(ctx, mt, 3, mem_shape, a->mk, 3) : NULL;
    mg_tensor *mv = c->mems ? test_offset_input(ctx, mt, 3, mem_shape, a->mv, 1) : NULL;
    int64_t mask_shape[2] = {(int64_t)c->batch, (int64_t)c->key_rows};
    mg_tensor *mask = a->mask ? test_offset_ids(ctx, c->three_d ? 2 : 1, c->three_d ? mask_shape : mask_shape + 1,
                                                a->mask, 3)
                              : NULL;
    test_guarded g[5];
    bool present[5];
    for (int i = 0; i < 5; i++) {
        present[i] = want[i] && (i < 3 || c->mems);
        if (!present[i])
            continue;
        if (i < 3) {
            g[i] = attn_output(ctx, c, i == 0);
        } else {
            g[i] = test_guarded_output(ctx, MG_DTYPE_F32, 3, mem_shape);
            cr_assert_eq(mg_tensor_write_f32(g[i].view, mem_start, attn_mem_count(a)), MG_OK);
        }
    }
    for (int call = 0; call < calls; call++)
        cr_assert_eq(mg_op_attention_backward(ctx, q, k, v, mk, mv, mask, &a->p, d_out,
                                              present[0] ? g[0].view : NULL, present[1] ? g[1].view : NULL,
                                              present[2] ? g[2].view : NULL, present[3] ? g[3].view : NULL,
                                              present[4] ? g[4].view : NULL),
                     MG_OK, "%s: %s", what, mg_context_last_error(ctx));
    float *results[5] = {NULL};
    for (int i = 0; i < 5; i++)
        if (present[i])
            results[i] = test_guarded_take(&g[i], what);
    mg_tensor_free(q);
    mg_tensor_free(k);
    mg_tensor_free(v);
    mg_tensor_free(d_out);
    mg_tensor_free(mk);
    mg_tensor_free(mv);
    mg_tensor_free(mask);
    return (attn_run){results[0], results[1], results[2], results[3], results[4]};
}

static void attn_run_free(attn_run *r)
{
    free(r->d_q);
    free(r->d_k);
    free(r->d_v);
    free(r->d_mk);
    free(r->d_mv);
}

static void attn_compare(const char *what, const attn_run *got, const attn_run *want, const attn_problem *a)
{
    char name[240];
    const float *g[5] = {got->d_q, got->d_k, got->d_v, got->d_mk, got->d_mv};
    const float *w[5] = {want->d_q, want->d_k, want->d_v, want->d_mk, want->d_mv};
    size_t counts[5] = {attn_q_count(a), attn_kv_count(a), attn_kv_count(a), attn_mem_count(a), attn_mem_count(a)};
    static const char *const names[5] = {"d_q", "d_k", "d_v", "d_mem_k", "d_mem_v"};
    for (int i = 0; i < 5; i++) {
        if (!w[i])
            continue;
        cr_assert_not_null(g[i], "%s: %s missing", what, names[i]);
        snprintf(name, sizeof name, "%s %s", what, names[i]);
        test_compare(name, g[i], w[i], counts[i], NMSE_F32);
    }
}

static void check_attention_vulkan(const attn_case *cases, size_t count)
{
    static const bool all[5] = {true, true, true, true, true};
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < count; ci++) {
        const attn_case *c = &cases[ci];
        attn_problem a = attn_make(c->batch, c->n, c->key_rows, c->keys, c->heads, c->dh, c->mems, c->causal,
                                   c->query_offset, c->mask, (uint32_t)(100 + 10 * ci));
        if (c->f16) { /* both backends see the same f16 memories */
            test_round_to_f16(a.mk, attn_mem_count(&a));
            test_round_to_f16(a.mv, attn_mem_count(&a));
        }
        float *mem_start = malloc((attn_mem_count(&a) + 1) * 4);
        test_fill_uniform(mem_start, attn_mem_count(&a) + 1, 7, -1, 1);
        char what[200];
        snprintf(what, sizeof what,
                 "attention backward B=%zu N=%zu rows=%zu keys=%zu H=%zu dh=%zu mems=%zu%s%lld mask%d%s%s", c->batch,
                 c->n, c->key_rows, c->keys, c->heads, c->dh, c->mems, c->causal ? " causal@" : " full",
                 (long long)c->query_offset, c->mask, c->f16 ? " f16" : "", c->three_d ? "" : " 2-D");
        attn_run got = attn_run_on(ctx.vk, c, &a, mem_start, all, 1, what);
        attn_run want = attn_run_on(ctx.ref, c, &a, mem_start, all, 1, what);
        attn_compare(what, &got, &want, &a);
        attn_run_free(&got);
        attn_run_free(&want);
        free(mem_start);
        attn_free(&a);
    }
    test_close_pair(ctx);
}

Test(grad_tf_vulkan, attention_backward_matches_reference)
{
    static const attn_case cases[] = {
        /* odd sizes, causal block at the end of a longer cache, mask, memories */
        {2, 5, 9, 7, 3, 5, 2, true, 2, 1, false, true},
        /* cross-attention: not causal, f16 memories, batch 1 sees only its memories */
        {2, 3, 11, 11, 4, 8, 4, false, 0, 2, true, true},
        /* no memories: batch 1 sees nothing (zero gradients), 2-D tensors */
        {1, 4, 6, 6, 2, 3, 0, false, 0, 1, false, false},
        {2, 4, 6, 6, 2, 3, 0, false, 0, 2, false, true},
        /* causal with a negative offset: early queries see nothing, head size 1 */
        {1, 5, 5, 5, 1, 1, 0, true, -2, 0, false, true},
        /* largest head, odd head size */
        {1, 40, 40, 40, 2, 128, 3, true, 0, 1, false, true},
        {3, 9, 70, 67, 5, 33, 1, true, 58, 0, false, true},
    };
    check_attention_vulkan(cases, sizeof cases / sizeof cases[0]);
}

Test(grad_tf_vulkan, attention_backward_long_sequence_matches_reference)
{
    /* teacher forcing at the sequence lengths training uses: every key loop and
     * query loop runs ~800 iterations (lavapipe's guard stops loops at 65,535
     * iterations per invocation, and rolled channel loops would reach it) */
    static const attn_case cases[] = {
        {1, 800, 800, 800, 2, 64, 4, true, 0, 1, false, true},
    };
    check_attention_vulkan(cases, sizeof cases / sizeof cases[0]);
}

Test(grad_tf_vulkan, attention_backward_accumulates_parameters_and_skips_null_outputs)
{
    const attn_case c = {2, 6, 8, 7, 2, 4, 3, true, 1, 1, false, true};
    attn_problem a = attn_make(c.batch, c.n, c.key_rows, c.keys, c.heads, c.dh, c.mems, c.causal, c.query_offset,
                               c.mask, 77);
    size_t mc = attn_mem_count(&a);
    float *zeros = calloc(mc + 1, 4);
    static const bool all[5] = {true, true, true, true, true};
    test_pair ctx = test_open_pair();
    attn_run once = attn_run_on(ctx.vk, &c, &a, zeros, all, 1, "once");
    attn_run twice = attn_run_on(ctx.vk, &c, &a, zeros, all, 2, "twice");
    /* activations: overwritten, so the same; memories: accumulated, so doubled */
    cr_assert_arr_eq(twice.d_q, once.d_q, attn_q_count(&a) * 4, "d_q is overwritten");
    cr_assert_arr_eq(twice.d_k, once.d_k, attn_kv_count(&a) * 4, "d_k is overwritten");
    cr_assert_arr_eq(twice.d_v, once.d_v, attn_kv_count(&a) * 4, "d_v is overwritten");
    for (size_t e = 0; e < mc; e++) {
        cr_assert_eq(twice.d_mk[e], 2.0f * once.d_mk[e], "d_mem_k[%zu] is accumulated", e);
        cr_assert_eq(twice.d_mv[e], 2.0f * once.d_mv[e], "d_mem_v[%zu] is accumulated", e);
    }
    /* any subset of outputs: the same values, the others untouched (never bound) */
    static const bool only_keys[5] = {false, true, false, false, true};
    static const bool only_q[5] = {true, false, false, false, false};
    attn_run keys = attn_run_on(ctx.vk, &c, &a, zeros, only_keys, 1, "d_k and d_mem_v only");
    attn_run query = attn_run_on(ctx.vk, &c, &a, zeros, only_q, 1, "d_q only");
    cr_assert_arr_eq(keys.d_k, once.d_k, attn_kv_count(&a) * 4);
    cr_assert_arr_eq(keys.d_mv, once.d_mv, mc * 4);
    cr_assert_arr_eq(query.d_q, once.d_q, attn_q_count(&a) * 4);
    /* the same on the CPU backend */
    attn_run ref_once = attn_run_on(ctx.ref, &c, &a, zeros, all, 1, "cpu once");
    attn_run ref_twice = attn_run_on(ctx.ref, &c, &a, zeros, all, 2, "cpu twice");
    cr_assert_arr_eq(ref_twice.d_q, ref_once.d_q, attn_q_count(&a) * 4);
    for (size_t e = 0; e < mc; e++)
        cr_assert_eq(ref_twice.d_mk[e], 2.0f * ref_once.d_mk[e]);
    /* and runs are identical (no atomics) */
    attn_run again = attn_run_on(ctx.vk, &c, &a, zeros, all, 1, "again");
    cr_assert_arr_eq(again.d_k, once.d_k, attn_kv_count(&a) * 4, "not deterministic");
    cr_assert_arr_eq(again.d_mk, once.d_mk, mc * 4, "not deterministic");
    attn_run *runs[] = {&once, &twice, &keys, &query, &ref_once, &ref_twice, &again};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        attn_run_free(runs[i]);
    test_close_pair(ctx);
    free(zeros);
    attn_free(&a);
}

Test(grad_tf_vulkan, attention_backward_refuses_bad_gradients)
{
    mg_context *ctx = test_vulkan_context();
    int64_t shape[2] = {3, 4}, other[2] = {3, 5};
    float values[15] = {0};
    mg_tensor *x = test_tensor(ctx, MG_DTYPE_F32, 2, shape, values), *g = test_empty(ctx, MG_DTYPE_F32, 2, shape);
    mg_tensor *wrong = test_tensor(ctx, MG_DTYPE_F32, 2, other, values);
    mg_attention_params p = {.heads = 2, .scale = 0.5f, .keys = 3};
    /* memory gradients without memories */
    cr_assert_eq(mg_op_attention_backward(ctx, x, x, x, NULL, NULL, NULL, &p, x, NULL, NULL, NULL, g, NULL),
                 MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "no memories") != NULL, "%s", mg_context_last_error(ctx));
    /* a gradient of the wrong shape, one that overlaps an input */
    cr_assert_eq(mg_op_attention_backward(ctx, x, x, x, NULL, NULL, NULL, &p, x, wrong, NULL, NULL, NULL, NULL),
                 MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_attention_backward(ctx, x, x, x, NULL, NULL, NULL, &p, x, NULL, x, NULL, NULL, NULL),
                 MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "d_k overlaps") != NULL, "%s", mg_context_last_error(ctx));
    mg_tensor_free(x);
    mg_tensor_free(g);
    mg_tensor_free(wrong);
    test_close(ctx);
}

static float *gateloop_on(mg_context *ctx, size_t batch, size_t n, size_t dim, const float *qkva,
                          const float *d_out)
{
    int64_t in_shape[3] = {(int64_t)batch, (int64_t)n, (int64_t)(3 * dim)};
    int64_t out_shape[3] = {(int64_t)batch, (int64_t)n, (int64_t)dim};
    mg_tensor *x = test_offset_input(ctx, MG_DTYPE_F32, 3, in_shape, qkva, 3);
    mg_tensor *g = test_offset_input(ctx, MG_DTYPE_F32, 3, out_shape, d_out, 1);
    test_guarded d = test_guarded_output(ctx, MG_DTYPE_F32, 3, in_shape);
    cr_assert_eq(mg_op_gateloop_backward(ctx, x, g, d.view), MG_OK, "%s", mg_context_last_error(ctx));
    float *result = test_guarded_take(&d, "gateloop backward");
    mg_tensor_free(x);
    mg_tensor_free(g);
    return result;
}

Test(grad_tf_vulkan, gateloop_backward_matches_reference)
{
    static const size_t shapes[][3] = {{2, 37, 5}, {1, 1, 3}, {1, 1000, 64}};
    test_pair ctx = test_open_pair();
    for (size_t s = 0; s < 3; s++) {
        size_t batch = shapes[s][0], n = shapes[s][1], dim = shapes[s][2], count = batch * n * dim;
        float *qkva = malloc(3 * count * 4), *d_out = malloc(count * 4);
        test_fill_uniform(qkva, 3 * count, (uint32_t)(60 + s), -2, 2);
        test_fill_uniform(d_out, count, (uint32_t)(70 + s), -1, 1);
        float *got = gateloop_on(ctx.vk, batch, n, dim, qkva, d_out);
        float *want = gateloop_on(ctx.ref, batch, n, dim, qkva, d_out);
        char what[80];
        snprintf(what, sizeof what, "gateloop backward B=%zu N=%zu D=%zu", batch, n, dim);
        test_compare(what, got, want, 3 * count, NMSE_F32);
        free(got);
        free(want);
        free(qkva);
        free(d_out);
    }
    test_close_pair(ctx);
}

typedef struct mix_out {
    float *d_v, *d_v_first, *d_mix;
} mix_out;

/* in_place: d_v is d_out's own tensor */
static mix_out mix_on(mg_context *ctx, size_t rows, size_t heads, size_t dh, const mix_problem *m,
                      const float *v_first_start, bool in_place)
{
    int64_t shape[2] = {(int64_t)rows, (int64_t)(heads * dh)}, mix_shape[2] = {(int64_t)rows, (int64_t)heads};
    mg_tensor *v = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, m->v, 1);
    mg_tensor *vf = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, m->v_first, 2);
    mg_tensor *mix = m->mix ? test_offset_input(ctx, MG_DTYPE_F32, 2, mix_shape, m->mix, 3) : NULL;
    mg_tensor *g = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, m->d_out, 1);
    test_guarded dv = test_guarded_output(ctx, MG_DTYPE_F32, 2, shape);
    test_guarded dvf = test_guarded_output(ctx, MG_DTYPE_F32, 2, shape);
    cr_assert_eq(mg_tensor_write_f32(dvf.view, v_first_start, rows * heads * dh), MG_OK);
    test_guarded dmix = test_guarded_output(ctx, MG_DTYPE_F32, 2, mix_shape);
    cr_assert_eq(mg_op_value_residual_mix_backward(ctx, v, vf, mix, heads, g, in_place ? g : dv.view, dvf.view,
                                                   mix ? dmix.view : NULL),
                 MG_OK, "%s", mg_context_last_error(ctx));
    mix_out out = {NULL, test_guarded_take(&dvf, "d_v_first"), NULL};
    if (in_place) {
        out.d_v = test_read(g);
        mg_tensor_free(dv.view);
        mg_tensor_free(dv.parent);
    } else {
        out.d_v = test_guarded_take(&dv, "d_v");
    }
    if (mix) {
        out.d_mix = test_guarded_take(&dmix, "d_mix_logits");
    } else {
        test_guard_check(&dmix, "d_mix_logits (NULL: untouched)");
    }
    mg_tensor_free(v);
    mg_tensor_free(vf);
    mg_tensor_free(mix);
    mg_tensor_free(g);
    return out;
}

Test(grad_tf_vulkan, value_residual_mix_backward_matches_reference)
{
    const size_t rows = 13, heads = 3, dh = 7, count = rows * heads * dh;
    mix_problem m = {rows, heads, dh, malloc(count * 4), malloc(count * 4), malloc(rows * heads * 4),
                     malloc(count * 4)};
    float *start = malloc(count * 4);
    test_fill_uniform(m.v, count, 81, -2, 2);
    test_fill_uniform(m.v_first, count, 82, -2, 2);
    test_fill_uniform(m.mix, rows * heads, 83, -3, 3);
    test_fill_uniform(m.d_out, count, 84, -1, 1);
    test_fill_uniform(start, count, 85, -1, 1);
    test_pair ctx = test_open_pair();
    for (int variant = 0; variant < 3; variant++) { /* learned mix; in place; fixed 0.5 */
        float *mix = m.mix;
        if (variant == 2)
            m.mix = NULL;
        mix_out got = mix_on(ctx.vk, rows, heads, dh, &m, start, variant == 1);
        mix_out want = mix_on(ctx.ref, rows, heads, dh, &m, start, false);
        test_compare("value mix d_v", got.d_v, want.d_v, count, NMSE_F32);
        test_compare("value mix d_v_first", got.d_v_first, want.d_v_first, count, NMSE_F32);
        if (m.mix)
            test_compare("value mix d_mix_logits", got.d_mix, want.d_mix, rows * heads, NMSE_F32);
        /* d_v_first accumulated: it is start + d_out (1 - s), not d_out (1 - s) */
        for (size_t i = 0; i < count && variant == 2; i++)
            cr_assert_float_eq(got.d_v_first[i], start[i] + 0.5f * m.d_out[i], 1e-6, "d_v_first[%zu]", i);
        m.mix = mix;
        free(got.d_v);
        free(got.d_v_first);
        free(got.d_mix);
        free(want.d_v);
        free(want.d_v_first);
        free(want.d_mix);
    }
    test_close_pair(ctx);
    free(m.v);
    free(m.v_first);
    free(m.mix);
    free(m.d_out);
    free(start);
}

static float *table_on(mg_context *ctx, size_t batch, size_t n, size_t dim, size_t rows, const float *d_out,
                       const float *start, int64_t offset, size_t divisor, size_t period)
{
    int64_t shape[3] = {(int64_t)batch, (int64_t)n, (int64_t)dim}, table_shape[2] = {(int64_t)rows, (int64_t)dim};
    mg_tensor *g = test_offset_input(ctx, MG_DTYPE_F32, 3, shape, d_out, 3);
    test_guarded t = test_guarded_output(ctx, MG_DTYPE_F32, 2, table_shape);
    cr_assert_eq(mg_tensor_write_f32(t.view, start, rows * dim), MG_OK);
    cr_assert_eq(mg_op_add_table_rows_backward(ctx, g, offset, divisor, period, t.view), MG_OK, "%s",
                 mg_context_last_error(ctx));
    mg_tensor_free(g);
    return test_guarded_take(&t, "d_table");
}

Test(grad_tf_vulkan, add_table_rows_backward_matches_reference)
{
    /* batch, n, dim, table rows, offset, divisor, period: absolute positions
     * (offset in a cache), quantize levels, vertices of faces, and one that
     * lavapipe's loop guard splits into several dispatches over the batch */
    static const size_t cases[][7] = {
        {2, 17, 5, 40, 9, 1, 40},  {3, 12, 4, 2, 1, 1, 2},      {2, 19, 3, 3, 7, 3, 3},
        {1, 5, 2, 4, 1000003, 2, 3}, {25, 3000, 2, 2, 0, 1, 2},
    };
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const size_t *c = cases[ci];
        size_t count = c[0] * c[1] * c[2], table = c[3] * c[2];
        float *d_out = malloc(count * 4), *start = malloc(table * 4);
        test_fill_uniform(d_out, count, (uint32_t)(90 + ci), -1, 1);
        test_fill_uniform(start, table, (uint32_t)(95 + ci), -1, 1);
        float *got = table_on(ctx.vk, c[0], c[1], c[2], c[3], d_out, start, (int64_t)c[4], c[5], c[6]);
        float *want = table_on(ctx.ref, c[0], c[1], c[2], c[3], d_out, start, (int64_t)c[4], c[5], c[6]);
        char what[120];
        snprintf(what, sizeof what, "add_table_rows backward B=%zu N=%zu offset=%zu divisor=%zu period=%zu", c[0],
                 c[1], c[4], c[5], c[6]);
        test_compare(what, got, want, table, NMSE_F32);
        free(got);
        free(want);
        free(d_out);
        free(start);
    }
    test_close_pair(ctx);
}

Test(grad_tf_vulkan, copy_rows_backward_matches_reference)
{
    const size_t batch = 3, n = 5, dim = 7, rows = 11, offset = 4;
    float *d_dst = malloc(batch * rows * dim * 4);
    test_fill_uniform(d_dst, batch * rows * dim, 99, -1, 1);
    test_pair ctx = test_open_pair();
    float *results[2];
    mg_context *ctxs[2] = {ctx.vk, ctx.ref};
    for (int i = 0; i < 2; i++) {
        int64_t dst_shape[3] = {(int64_t)batch, (int64_t)rows, (int64_t)dim};
        int64_t src_shape[3] = {(int64_t)batch, (int64_t)n, (int64_t)dim};
        mg_tensor *g = test_offset_input(ctxs[i], MG_DTYPE_F32, 3, dst_shape, d_dst, 1);
        test_guarded s = test_guarded_output(ctxs[i], MG_DTYPE_F32, 3, src_shape);
        cr_assert_eq(mg_op_copy_rows_backward(ctxs[i], g, offset, s.view), MG_OK, "%s",
                     mg_context_last_error(ctxs[i]));
        results[i] = test_guarded_take(&s, "d_src");
        mg_tensor_free(g);
    }
    cr_assert_arr_eq(results[0], results[1], batch * n * dim * 4);
    for (size_t b = 0; b < batch; b++)
        cr_assert_arr_eq(results[1] + b * n * dim, d_dst + (b * rows + offset) * dim, n * dim * 4);
    free(results[0]);
    free(results[1]);
    free(d_dst);
    test_close_pair(ctx);
}
