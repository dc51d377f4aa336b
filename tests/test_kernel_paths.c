/* The Vulkan kernels' code paths against the CPU reference: subgroup and
 * shared-memory variants (MESHGPT_DISABLE_SUBGROUPS=1), vec4 and scalar paths
 * (shapes and view offsets that are, or are not, multiples of 4), several
 * output rows per workgroup, sizes that are not multiples of any workgroup or
 * tile size. Only correctness is checked here, never time. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMSE_LIMIT 1e-7

/* A tensor that is a view `offset` elements into a larger tensor, so that the
 * shaders see a non-zero (and possibly odd) element offset. The operands of a
 * case sit at offset, offset + 4, offset + 8...: all multiples of 4 (the vec4
 * paths) when offset is, none of them otherwise (the scalar paths). */
typedef struct view {
    mg_tensor *parent;
    mg_tensor *t;
} view;

static view make_view(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, size_t offset,
                      const float *values)
{
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    int64_t parent_shape[1] = {(int64_t)(count + offset + 3)};
    view v = {test_empty(ctx, dtype, 1, parent_shape), NULL};
    size_t size = dtype == MG_DTYPE_F16 ? 2 : 4;
    cr_assert_eq(mg_tensor_view(v.parent, offset * size, dtype, ndim, shape, &v.t), MG_OK, "%s",
                 mg_context_last_error(ctx));
    if (values) {
        if (dtype == MG_DTYPE_I32)
            cr_assert_eq(mg_tensor_write(v.t, values, count * 4), MG_OK);
        else
            cr_assert_eq(mg_tensor_write_f32(v.t, values, count), MG_OK, "%s", mg_context_last_error(ctx));
    }
    return v;
}

static void free_view(view *v)
{
    mg_tensor_free(v->t);
    mg_tensor_free(v->parent);
}

static mg_context *vulkan_context(bool subgroups)
{
    if (subgroups)
        unsetenv("MESHGPT_DISABLE_SUBGROUPS");
    else
        setenv("MESHGPT_DISABLE_SUBGROUPS", "1", 1);
    mg_context *ctx = test_vulkan_context();
    unsetenv("MESHGPT_DISABLE_SUBGROUPS");
    return ctx;
}

/* ---- matmul ---- */

typedef struct mm_case {
    int64_t batch, m, n, k;
    bool transposed, f16, bias, broadcast;
    size_t offset; /* element offset of every operand's view */
} mm_case;

static float *run_matmul(mg_context *ctx, const mm_case *c, const float *a, const float *w, const float *bias)
{
    mg_dtype wt = c->f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
    int64_t a_shape[3] = {c->batch, c->m, c->k}, y_shape[3] = {c->batch, c->m, c->n};
    int64_t w_rows = c->transposed ? c->n : c->k, w_cols = c->transposed ? c->k : c->n;
    int64_t w_shape[3] = {c->batch, w_rows, w_cols}, b_shape[1] = {c->n};
    bool batched = c->batch > 1;
    view va = make_view(ctx, MG_DTYPE_F32, batched ? 3 : 2, batched ? a_shape : a_shape + 1, c->offset, a);
    view vw = c->broadcast || !batched ? make_view(ctx, wt, 2, w_shape + 1, c->offset + 4, w)
                                       : make_view(ctx, wt, 3, w_shape, c->offset + 4, w);
    view vb = {0};
    if (c->bias)
        vb = make_view(ctx, wt, 1, b_shape, c->offset + 8, bias);
    view vy = make_view(ctx, MG_DTYPE_F32, batched ? 3 : 2, batched ? y_shape : y_shape + 1, c->offset + 12, NULL);
    cr_assert_eq(mg_op_matmul(ctx, va.t, vw.t, c->bias ? vb.t : NULL, c->transposed, vy.t), MG_OK, "%s",
                 mg_context_last_error(ctx));
    float *y = test_read(vy.t);
    free_view(&va);
    free_view(&vw);
    if (c->bias)
        free_view(&vb);
    free_view(&vy);
    return y;
}

static void check_matmul_cases(const mm_case *cases, size_t count)
{
    mg_context *cpu = test_cpu_context();
    for (int sg = 1; sg >= 0; sg--) {
        mg_context *gpu = vulkan_context(sg);
        for (size_t i = 0; i < count; i++) {
            const mm_case *c = &cases[i];
            size_t w_batches = c->broadcast ? 1 : (size_t)c->batch;
            size_t na = (size_t)(c->batch * c->m * c->k), nw = w_batches * (size_t)(c->k * c->n);
            float *a = malloc(na * 4), *w = malloc(nw * 4), *bias = malloc((size_t)c->n * 4);
            test_fill_uniform(a, na, 11 + (uint32_t)i, -1, 1);
            test_fill_uniform(w, nw, 12 + (uint32_t)i, -1, 1);
            test_fill_uniform(bias, (size_t)c->n, 13 + (uint32_t)i, -1, 1);
            float *ref = run_matmul(cpu, c, a, w, bias);
            float *got = run_matmul(gpu, c, a, w, bias);
            size_t ny = (size_t)(c->batch * c->m * c->n);
            test_assert_finite_like(got, ref, ny);
            double e = test_nmse(got, ref, ny);
            cr_expect(e <= NMSE_LIMIT,
                      "matmul %lldx(%lldx%lldx%lld) %s%s%s%s offset %zu, subgroups %s: NMSE %g", (long long)c->batch,
                      (long long)c->m, (long long)c->n, (long long)c->k, c->f16 ? "f16" : "f32",
                      c->transposed ? " W^T" : "", c->bias ? " bias" : "", c->broadcast ? " broadcast" : "",
                      c->offset, sg ? "on" : "off", e);
            free(a);
            free(w);
            free(bias);
            free(ref);
            free(got);
        }
        test_close(gpu);
    }
    mg_context_destroy(cpu);
}

Test(kernel_paths, matvec)
{
    static const int64_t ms[] = {1, 2, 3, 4};
    static const int64_t nks[][2] = {{1, 1}, {7, 33}, {33, 7}, {1000, 64}, {64, 1001}, {37, 768}, {768, 36}};
    mm_case cases[4 * 7 * 4];
    size_t count = 0;
    for (size_t mi = 0; mi < 4; mi++)
        for (size_t s = 0; s < 7; s++)
            for (int v = 0; v < 4; v++) {
                bool transposed = v & 1, f16 = (v >> 1) & 1;
                /* offsets: aligned (0) for some, odd for others */
                cases[count++] = (mm_case){1, ms[mi], nks[s][0], nks[s][1], transposed, f16, (s + mi) % 2 == 0,
                                           false, (s % 3 == 0) ? 0 : (size_t)(4 * mi + 1 + v)};
            }
    check_matmul_cases(cases, count);
}

Test(kernel_paths, matvec_batched)
{
    static const mm_case cases[] = {
        {3, 1, 40, 64, true, false, true, true, 0},   {3, 2, 40, 64, true, false, false, false, 0},
        {2, 4, 36, 20, false, false, true, true, 0},  {2, 3, 36, 20, false, true, true, false, 0},
        {5, 1, 17, 9, true, true, true, true, 3},     {5, 1, 17, 9, false, false, false, false, 5},
        {2, 1, 3072, 768, true, true, false, true, 0}, {1, 1, 3072, 768, false, false, true, false, 0},
    };
    check_matmul_cases(cases, sizeof cases / sizeof cases[0]);
}

Test(kernel_paths, matmul_tiled)
{
    static const mm_case cases[] = {
        {1, 5, 7, 3, true, false, true, false, 1},       {1, 5, 7, 3, false, true, false, false, 0},
        {1, 33, 65, 129, true, false, true, false, 0},    {1, 33, 65, 129, false, false, true, false, 2},
        {1, 64, 64, 64, true, true, false, false, 0},     {1, 64, 64, 64, false, false, false, false, 0},
        {1, 127, 129, 131, true, true, true, false, 5},   {1, 128, 128, 128, false, true, true, false, 4},
        {1, 1000, 12, 40, true, false, false, false, 0},  {1, 9, 1000, 33, false, false, true, false, 7},
        {3, 33, 17, 20, true, false, true, true, 0},      {3, 33, 17, 20, false, false, false, false, 1},
        {4, 100, 60, 64, true, false, false, false, 0},   {2, 256, 192, 96, false, true, true, true, 0},
    };
    check_matmul_cases(cases, sizeof cases / sizeof cases[0]);
}

/* ---- row reductions ---- */

typedef enum row_op { ROW_LAYER, ROW_RMS, ROW_L2, ROW_SOFTMAX, ROW_ARGMAX } row_op;

typedef struct row_case {
    row_op op;
    int64_t rows, n;
    bool f16, params; /* gamma/beta dtype, present */
    size_t offset;
    bool mask, causal;
} row_case;

static float *run_rows(mg_context *ctx, const row_case *c, const float *x, const float *gamma, const float *beta,
                       const int32_t *mask)
{
    int64_t shape[2] = {c->rows, c->n}, pshape[1] = {c->n}, rshape[1] = {c->rows};
    mg_dtype pt = c->f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
    view vx = make_view(ctx, MG_DTYPE_F32, 2, shape, c->offset, x);
    view vg = {0}, vb = {0}, vm = {0};
    if (c->params) {
        vg = make_view(ctx, pt, 1, pshape, c->offset + 4, gamma);
        vb = make_view(ctx, pt, 1, pshape, c->offset + 8, beta);
    }
    view vy = c->op == ROW_ARGMAX ? make_view(ctx, MG_DTYPE_I32, 1, rshape, c->offset + 12, NULL)
                                  : make_view(ctx, MG_DTYPE_F32, 2, shape, c->offset + 12, NULL);
    mg_status st = MG_OK;
    switch (c->op) {
    case ROW_LAYER: st = mg_op_layer_norm(ctx, vx.t, vg.t, vb.t, 1e-5f, 0.5f, vy.t); break;
    case ROW_RMS: st = mg_op_rms_norm(ctx, vx.t, vg.t, 1e-6f, 0.0f, vy.t); break;
    case ROW_L2: st = mg_op_l2_normalize(ctx, vx.t, vg.t, 1e-12f, 2.0f, 1.0f, vy.t); break;
    case ROW_SOFTMAX: {
        mg_softmax_options o = mg_softmax_default_options();
        o.scale = 0.7f;
        o.causal = c->causal;
        o.causal_queries = (size_t)c->rows;
        o.causal_offset = c->n - c->rows;
        if (c->mask) {
            vm = make_view(ctx, MG_DTYPE_I32, 2, shape, c->offset + 16, (const float *)mask);
            o.mask = vm.t;
        }
        st = mg_op_softmax(ctx, vx.t, &o, vy.t);
        break;
    }
    case ROW_ARGMAX: st = mg_op_argmax(ctx, vx.t, vy.t); break;
    }
    cr_assert_eq(st, MG_OK, "%s", mg_context_last_error(ctx));
    size_t count = vy.t->count;
    float *y = malloc(count * 4);
    if (c->op == ROW_ARGMAX) {
        int32_t *ids = malloc(count * 4);
        cr_assert_eq(mg_tensor_read(vy.t, ids, count * 4), MG_OK);
        for (size_t i = 0; i < count; i++)
            y[i] = (float)ids[i];
        free(ids);
    } else {
        cr_assert_eq(mg_tensor_read_f32(vy.t, y, count), MG_OK);
    }
    free_view(&vx);
    free_view(&vy);
    if (c->params) {
        free_view(&vg);
        free_view(&vb);
    }
    if (vm.t)
        free_view(&vm);
    return y;
}

static void check_row_cases(const row_case *cases, size_t count)
{
    static const char *names[] = {"layer_norm", "rms_norm", "l2_normalize", "softmax", "argmax"};
    mg_context *cpu = test_cpu_context();
    for (int sg = 1; sg >= 0; sg--) {
        mg_context *gpu = vulkan_context(sg);
        for (size_t i = 0; i < count; i++) {
            const row_case *c = &cases[i];
            size_t nx = (size_t)(c->rows * c->n);
            float *x = malloc(nx * 4), *gamma = malloc((size_t)c->n * 4), *beta = malloc((size_t)c->n * 4);
            int32_t *mask = malloc(nx * 4);
            test_fill_uniform(x, nx, 21 + (uint32_t)i, -3, 5);
            test_fill_uniform(gamma, (size_t)c->n, 22 + (uint32_t)i, -1, 1);
            test_fill_uniform(beta, (size_t)c->n, 23 + (uint32_t)i, -1, 1);
            for (size_t j = 0; j < nx; j++)
                mask[j] = (j * 7 + j / 3) % 5 != 0;
            if (c->op == ROW_ARGMAX) {
                /* ties, -0/+0, NaN and infinities: the index rules of torch.argmax */
                for (size_t r = 0; r < (size_t)c->rows; r++) {
                    float *row = x + r * (size_t)c->n;
                    size_t n = (size_t)c->n;
                    switch (r % 5) {
                    case 1: row[n / 2] = 9.0f; row[n - 1] = 9.0f; break;
                    case 2: for (size_t j = 0; j < n; j++) row[j] = j % 2 ? 0.0f : -0.0f; break;
                    case 3: row[n - 1] = NAN; row[n / 3] = INFINITY; if (n > 2) row[n / 2] = NAN; break;
                    case 4: for (size_t j = 0; j < n; j++) row[j] = -INFINITY; break;
                    default: break;
                    }
                }
            }
            if (c->op == ROW_SOFTMAX && c->mask && c->rows > 1)
                for (size_t j = 0; j < (size_t)c->n; j++)
                    mask[j] = 0; /* a fully masked row: all zeros */
            float *ref = run_rows(cpu, c, x, gamma, beta, mask);
            float *got = run_rows(gpu, c, x, gamma, beta, mask);
            size_t ny = c->op == ROW_ARGMAX ? (size_t)c->rows : nx;
            if (c->op == ROW_ARGMAX) {
                for (size_t r = 0; r < ny; r++)
                    cr_expect_eq(got[r], ref[r], "argmax %lldx%lld offset %zu subgroups %s: row %zu gives %g, not %g",
                                 (long long)c->rows, (long long)c->n, c->offset, sg ? "on" : "off", r,
                                 (double)got[r], (double)ref[r]);
            } else {
                test_assert_finite_like(got, ref, ny);
                double e = test_nmse(got, ref, ny);
                cr_expect(e <= NMSE_LIMIT, "%s %lldx%lld%s offset %zu%s%s, subgroups %s: NMSE %g", names[c->op],
                          (long long)c->rows, (long long)c->n, c->f16 ? " f16" : "", c->offset,
                          c->mask ? " mask" : "", c->causal ? " causal" : "", sg ? "on" : "off", e);
            }
            free(x);
            free(gamma);
            free(beta);
            free(mask);
            free(ref);
            free(got);
        }
        test_close(gpu);
    }
    mg_context_destroy(cpu);
}

Test(kernel_paths, norms)
{
    static const int64_t dims[] = {1, 3, 7, 33, 512, 1000, 4097};
    row_case cases[3 * 7 * 2];
    size_t count = 0;
    for (int op = ROW_LAYER; op <= ROW_L2; op++)
        for (size_t d = 0; d < 7; d++)
            for (int v = 0; v < 2; v++)
                cases[count++] = (row_case){(row_op)op, v ? 7 : 33, dims[d], v, d % 2 == 0, v ? 2 * d + 1 : 4 * d, false,
                                            false};
    check_row_cases(cases, count);
}

Test(kernel_paths, softmax)
{
    static const row_case cases[] = {
        {ROW_SOFTMAX, 1, 1, false, false, 0, false, false},   {ROW_SOFTMAX, 7, 7, false, false, 1, false, true},
        {ROW_SOFTMAX, 33, 604, false, false, 0, true, true},   {ROW_SOFTMAX, 5, 1000, false, false, 3, true, false},
        {ROW_SOFTMAX, 3, 4097, false, false, 2, false, false}, {ROW_SOFTMAX, 40, 33, false, false, 0, false, true},
        {ROW_SOFTMAX, 7, 64, false, false, 4, false, false},   {ROW_SOFTMAX, 5, 1000, false, false, 0, true, false},
        {ROW_SOFTMAX, 9, 8, false, false, 8, true, true},
    };
    check_row_cases(cases, sizeof cases / sizeof cases[0]);
}

Test(kernel_paths, argmax)
{
    static const row_case cases[] = {
        {ROW_ARGMAX, 1, 1, false, false, 0, false, false},     {ROW_ARGMAX, 10, 2, false, false, 1, false, false},
        {ROW_ARGMAX, 10, 7, false, false, 0, false, false},    {ROW_ARGMAX, 15, 33, false, false, 3, false, false},
        {ROW_ARGMAX, 10, 1000, false, false, 0, false, false}, {ROW_ARGMAX, 5, 16385, false, false, 1, false, false},
    };
    check_row_cases(cases, sizeof cases / sizeof cases[0]);
}
