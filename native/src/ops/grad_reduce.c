/* Column sums: the reduction of the broadcast ops' backward and of bias gradients. */
#include "ops/grad_common.h"

#include <string.h>

#define COLUMN_SUM_WORKGROUP 256

mg_status mg_op_column_sum(mg_context *ctx, const mg_tensor *x, const mg_tensor *w, size_t groups, bool accumulate,
                           mg_tensor *out)
{
    const char *op = "column_sum";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "x", x, out)) != MG_OK)
        return status;
    if (w && ((status = mg_check_tensor(ctx, op, "w", w, MG_DTYPE_F32, false)) != MG_OK ||
              (status = mg_grad_check_shape(ctx, op, "w", w, "x", x)) != MG_OK ||
              (status = mg_check_no_alias(ctx, op, "w", w, out)) != MG_OK))
        return status;
    if (groups == 0 || out->count % groups != 0 || x->count % out->count != 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "column_sum: x (%zu elements) must split into %zu groups of rows of out's %zu / %zu columns",
                       x->count, groups, out->count, groups);
    size_t c = out->count / groups, r = x->count / out->count;
    if (!ctx->gpu) {
        mg_ref_column_sum(groups, r, c, mg_f32_of(x), mg_f32_of(w), accumulate, mg_f32_of(out));
        return MG_OK;
    }
    size_t chunk = mg_grad_row_chunk(ctx, 1);
    size_t begin = 0;
    do {
        size_t end = r - begin > chunk ? begin + chunk : r;
        mg_gpu_dispatch d;
        memset(&d, 0, sizeof d);
        struct {
            uint32_t x_offset, w_offset, y_offset, G, R, C, r_begin, r_end, has_w, accumulate;
        } p = {.G = (uint32_t)groups, .R = (uint32_t)r, .C = (uint32_t)c, .r_begin = (uint32_t)begin,
               .r_end = (uint32_t)end, .has_w = w != NULL, .accumulate = accumulate || begin > 0};
        p.x_offset = mg_bind(ctx, &d, x, false);
        if (w)
            p.w_offset = mg_bind(ctx, &d, w, false);
        else
            mg_bind_none(ctx, &d);
        p.y_offset = mg_bind(ctx, &d, out, true);
        d.shader = MG_SHADER_GRAD_COLUMN_SUM;
        d.spec[0] = mg_workgroup_size(ctx, COLUMN_SUM_WORKGROUP);
        d.spec_count = 1;
        mg_grid_1d(ctx, &d, (out->count + d.spec[0] - 1) / d.spec[0]);
        memcpy(d.push, &p, sizeof p);
        d.push_size = sizeof p;
        if ((status = mg_gpu_record_dispatch(ctx->gpu, &d)) != MG_OK)
            return status;
        begin = end;
    } while (begin < r);
    return MG_OK;
}
