/*
 * The ResidualVQ quantizer under training (use_residual_lfq = false), as
 * meshgpt-pytorch 1.7.2 configures vector-quantize-pytorch's ResidualVQ:
 * one Euclidean codebook shared by every level, updated by exponential moving
 * averages (not by gradients), dead codes replaced from the batch, and the
 * encoder trained by the straight-through output plus the commitment loss.
 *
 *   r_0 = x;  e_q = codebook[nearest(r_q)];  r_{q+1} = r_q - e_q;  out = sum_q e_q
 *   straight through: out_q = r_q + stopgrad(e_q - r_q), and r_q = x - stopgrad(...), so d out / d x = levels * I
 *   commitment: sum_q mean over the used vertices and channels of (r_q - stopgrad(e_q))^2 (commitment_weight 1,
 *               then commit_loss_weight in the total), gradient 2 (r_q - e_q) / (M D) on used rows
 *
 * The codebook's buffers (layer 0's initted, cluster_size [1, K], embed_avg and embed [1, K, D]) are parameters
 * of the trainable without gradient or Adam moments, so checkpoints carry them. In training mode (a step with
 * its backward pass), after quantizing, for each level in order (vector-quantize-pytorch's
 * manual_ema_update with a shared codebook):
 *   cluster_size = lerp(cluster_size, count of used vertices per code, 1 - decay)
 *   embed_avg    = lerp(embed_avg, sum of their residuals per code, 1 - decay)
 * then once: embed_k = embed_avg_k / ((cluster_size_k + eps) / (n + K eps) * n), n = sum of cluster_size; and
 * every code with cluster_size < threshold is replaced by a residual of this batch (any level): embed = sample,
 * embed_avg = sample * threshold, cluster_size = threshold.
 * An uninitialised codebook (initted 0, kmeans_init) is initialised from the first batch it sees (training or
 * not, as upstream): k-means with 10 iterations over the used vertices' vectors.
 *
 * Not replicated (see ae_train.h): the rotation trick (gradients pass straight through instead) and the
 * stochastic (Gumbel) choice of codes during training (the nearest code is taken, as in eval mode).
 */
#include "train/ae_train_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RVQ_DECAY 0.8
#define RVQ_EPS 1e-5
#define RVQ_DEAD_THRESHOLD 2.0
#define RVQ_KMEANS_ITERS 10

typedef struct rvq_buffers {
    mg_tensor *initted, *cluster_size, *embed_avg, *embed;
} rvq_buffers;

static mg_status buffers(const ae_train *t, rvq_buffers *b)
{
    b->initted = ae_value(t, "quantizer.layers.0._codebook.initted");
    b->cluster_size = ae_value(t, "quantizer.layers.0._codebook.cluster_size");
    b->embed_avg = ae_value(t, "quantizer.layers.0._codebook.embed_avg");
    b->embed = ae_value(t, "quantizer.layers.0._codebook.embed");
    return b->initted && b->cluster_size && b->embed_avg && b->embed ? MG_OK : MG_ERR_INTERNAL;
}

static mg_status out_of_memory(const ae_train *t)
{
    return mg_fail(&t->base.ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the ResidualVQ codebook");
}

/* `count` row indices into `available` rows, as vector-quantize-pytorch's sample_vectors: distinct (a partial
 * shuffle) when there are enough rows, else drawn with replacement. */
static void sample_rows(mg_rng *rng, size_t available, size_t count, size_t *out, size_t *scratch)
{
    if (available >= count) {
        for (size_t i = 0; i < available; i++)
            scratch[i] = i;
        for (size_t i = 0; i < count; i++) {
            size_t j = i + (size_t)mg_rng_below(rng, available - i);
            size_t tmp = scratch[i];
            scratch[i] = scratch[j];
            scratch[j] = tmp;
            out[i] = scratch[i];
        }
    } else {
        for (size_t i = 0; i < count; i++)
            out[i] = (size_t)mg_rng_below(rng, available);
    }
}

/* k-means over the used rows of x (upstream's kmeans_init), written into the codebook buffers. */
static mg_status kmeans_init(const ae_train *t, ae_forward *f, const rvq_buffers *b, const mg_tensor *x)
{
    mg_context *ctx = t->base.ctx;
    const size_t K = (size_t)t->config.codebook_size, D = (size_t)t->config.dim_codebook, V = f->vertices;
    if (f->used_vertices == 0)
        return MG_OK; /* nothing to learn from: stays uninitialised */
    const size_t M = f->used_vertices;
    float *all = malloc(V * D * sizeof *all), *samples = malloc(M * D * sizeof *samples);
    float *means = malloc(K * D * sizeof *means), *sums = malloc(K * D * sizeof *sums);
    double *acc = malloc(K * D * sizeof *acc);
    float *bins = calloc(K, sizeof *bins);
    size_t *picks = malloc(K * sizeof *picks), *scratch = malloc((M > K ? M : K) * sizeof *scratch);
    int32_t *ids = malloc(M * sizeof *ids);
    mg_status status = MG_OK;
    ae_store local;
    ae_store_init(&local, ctx);
    if (!all || !samples || !means || !sums || !acc || !bins || !picks || !scratch || !ids) {
        status = out_of_memory(t);
        goto done;
    }
    if ((status = mg_tensor_read_f32(x, all, V * D)) != MG_OK)
        goto done;
    for (size_t v = 0, m = 0; v < V; v++)
        if (f->vertex_mask[v])
            memcpy(samples + (m++) * D, all + v * D, D * sizeof *samples);
    sample_rows(t->rng, M, K, picks, scratch);
    for (size_t k = 0; k < K; k++)
        memcpy(means + k * D, samples + picks[k] * D, D * sizeof *means);
    int64_t sample_shape[2] = {(int64_t)M, (int64_t)D}, means_shape[2] = {(int64_t)K, (int64_t)D};
    int64_t ids_shape[1] = {(int64_t)M};
    mg_tensor *sample_tensor = ae_f32(&local, 2, sample_shape), *mean_tensor = ae_f32(&local, 2, means_shape);
    mg_tensor *id_tensor = ae_tensor(&local, MG_DTYPE_I32, 1, ids_shape);
    if (!sample_tensor || !mean_tensor || !id_tensor) {
        status = local.status != MG_OK ? local.status : MG_ERR_INTERNAL;
        goto done;
    }
    if ((status = mg_tensor_write_f32(sample_tensor, samples, M * D)) != MG_OK)
        goto done;
    for (int iter = 0; iter < RVQ_KMEANS_ITERS; iter++) {
        if ((status = mg_tensor_write_f32(mean_tensor, means, K * D)) != MG_OK ||
            (status = mg_op_vq_nearest(ctx, sample_tensor, mean_tensor, id_tensor)) != MG_OK ||
            (status = mg_tensor_read(id_tensor, ids, M * sizeof *ids)) != MG_OK)
            goto done;
        memset(acc, 0, K * D * sizeof *acc);
        memset(bins, 0, K * sizeof *bins);
        for (size_t m = 0; m < M; m++) {
            const size_t k = (size_t)ids[m];
            bins[k] += 1.0f;
            for (size_t d = 0; d < D; d++)
                acc[k * D + d] += samples[m * D + d];
        }
        for (size_t k = 0; k < K; k++)
            if (bins[k] > 0.0f) /* empty clusters keep their mean */
                for (size_t d = 0; d < D; d++)
                    means[k * D + d] = (float)(acc[k * D + d] / bins[k]);
    }
    for (size_t k = 0; k < K; k++)
        for (size_t d = 0; d < D; d++)
            sums[k * D + d] = means[k * D + d] * bins[k];
    const float one = 1.0f;
    if ((status = mg_tensor_write_f32(b->embed, means, K * D)) == MG_OK &&
        (status = mg_tensor_write_f32(b->embed_avg, sums, K * D)) == MG_OK &&
        (status = mg_tensor_write_f32(b->cluster_size, bins, K)) == MG_OK)
        status = mg_tensor_write_f32(b->initted, &one, 1);
done:
    ae_store_free(&local);
    free(all);
    free(samples);
    free(means);
    free(sums);
    free(acc);
    free(bins);
    free(picks);
    free(scratch);
    free(ids);
    return status;
}

/* The EMA update of the codebook from this batch's residuals (see the top of the file). */
static mg_status ema_update(const ae_train *t, ae_forward *f, const rvq_buffers *b)
{
    const size_t K = (size_t)t->config.codebook_size, D = (size_t)t->config.dim_codebook, V = f->vertices;
    const int levels = t->config.num_quantizers;
    const size_t M = f->used_vertices, pool = M * (size_t)levels;
    float *cluster = malloc(K * sizeof *cluster), *avg = malloc(K * D * sizeof *avg);
    float *embed = malloc(K * D * sizeof *embed), *residual = malloc(V * D * sizeof *residual);
    float *samples = malloc((pool ? pool : 1) * D * sizeof *samples);
    double *counts = malloc(K * sizeof *counts), *sums = malloc(K * D * sizeof *sums);
    size_t *dead = malloc(K * sizeof *dead), *picks = malloc(K * sizeof *picks);
    size_t *scratch = malloc((pool > K ? pool : K) * sizeof *scratch);
    mg_status status = MG_OK;
    if (!cluster || !avg || !embed || !residual || !samples || !counts || !sums || !dead || !picks || !scratch) {
        status = out_of_memory(t);
        goto done;
    }
    if ((status = mg_tensor_read_f32(b->cluster_size, cluster, K)) != MG_OK ||
        (status = mg_tensor_read_f32(b->embed_avg, avg, K * D)) != MG_OK)
        goto done;
    const double keep = RVQ_DECAY, take = 1.0 - RVQ_DECAY;
    size_t pooled = 0;
    for (int q = 0; q < levels; q++) {
        /* this level's input: x for the first, the previous level's remainder after */
        if ((status = mg_tensor_read_f32(q == 0 ? f->vertex_embed : f->rvq_remainder[q - 1], residual, V * D)) !=
            MG_OK)
            goto done;
        memset(counts, 0, K * sizeof *counts);
        memset(sums, 0, K * D * sizeof *sums);
        for (size_t v = 0; v < V; v++) {
            if (!f->vertex_mask[v])
                continue;
            const size_t k = (size_t)f->rvq_ids[v * (size_t)levels + (size_t)q];
            counts[k] += 1.0;
            for (size_t d = 0; d < D; d++)
                sums[k * D + d] += residual[v * D + d];
            memcpy(samples + (pooled++) * D, residual + v * D, D * sizeof *samples);
        }
        /* torch's lerp_(new, 1 - decay): old + (new - old) * (1 - decay) */
        for (size_t k = 0; k < K; k++) {
            cluster[k] = (float)(cluster[k] * keep + counts[k] * take);
            for (size_t d = 0; d < D; d++)
                avg[k * D + d] = (float)(avg[k * D + d] * keep + sums[k * D + d] * take);
        }
    }
    double total = 0.0;
    for (size_t k = 0; k < K; k++)
        total += cluster[k];
    for (size_t k = 0; k < K; k++) {
        const double smoothed = (cluster[k] + RVQ_EPS) / (total + (double)K * RVQ_EPS) * total;
        for (size_t d = 0; d < D; d++)
            embed[k * D + d] = (float)(avg[k * D + d] / smoothed);
    }
    size_t dead_count = 0;
    for (size_t k = 0; k < K; k++)
        if (cluster[k] < RVQ_DEAD_THRESHOLD)
            dead[dead_count++] = k;
    if (dead_count && pooled) {
        sample_rows(t->rng, pooled, dead_count, picks, scratch);
        for (size_t i = 0; i < dead_count; i++) {
            const size_t k = dead[i];
            const float *sample = samples + picks[i] * D;
            memcpy(embed + k * D, sample, D * sizeof *embed);
            for (size_t d = 0; d < D; d++)
                avg[k * D + d] = sample[d] * (float)RVQ_DEAD_THRESHOLD;
            cluster[k] = (float)RVQ_DEAD_THRESHOLD;
        }
    }
    if ((status = mg_tensor_write_f32(b->cluster_size, cluster, K)) == MG_OK &&
        (status = mg_tensor_write_f32(b->embed_avg, avg, K * D)) == MG_OK)
        status = mg_tensor_write_f32(b->embed, embed, K * D);
done:
    free(cluster);
    free(avg);
    free(embed);
    free(residual);
    free(samples);
    free(counts);
    free(sums);
    free(dead);
    free(picks);
    free(scratch);
    return status;
}

mg_status ae_rvq_forward(const ae_train *t, ae_forward *f)
{
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const int levels = t->config.num_quantizers;
    const int64_t V = (int64_t)f->vertices, D = t->config.dim_codebook, K = t->config.codebook_size;
    rvq_buffers b;
    OK(buffers(t, &b));
    float initted = 0.0f;
    OK(mg_tensor_read_f32(b.initted, &initted, 1));
    if (initted == 0.0f)
        OK(kmeans_init(t, f, &b, f->vertex_embed));
    int64_t codebook_shape[2] = {K, D}, ids_shape[1] = {V}, one_shape[1] = {1};
    mg_tensor *codebook = ae_view(s, b.embed, 2, codebook_shape);
    mg_tensor *ids = ae_tensor(s, MG_DTYPE_I32, 1, ids_shape);
    mg_tensor *chosen = ae_f32_2d(s, V, D), *masked = ae_f32_3d(s, 1, V, D), *sq = ae_f32(s, 1, one_shape);
    int64_t mask_shape[2] = {1, V}, rows3[3] = {1, V, D};
    mg_tensor *mask = ae_i32(s, f->vertex_mask, 2, mask_shape);
    f->quantized = ae_f32_2d(s, V, D);
    f->rvq_ids = malloc((size_t)(V ? V : 1) * (size_t)levels * sizeof *f->rvq_ids);
    int32_t *level_ids = malloc((size_t)(V ? V : 1) * sizeof *level_ids);
    if (!f->rvq_ids || !level_ids) {
        free(level_ids);
        return out_of_memory(t);
    }
    mg_status status = MG_OK;
    if (!codebook || !ids || !chosen || !masked || !sq || !mask || !f->quantized)
        status = s->status != MG_OK ? s->status : MG_ERR_INTERNAL;
    if (status == MG_OK)
        status = mg_tensor_fill_u32(f->quantized, 0);
    double commit = 0.0;
    mg_tensor *residual = f->vertex_embed;
    for (int q = 0; q < levels && status == MG_OK; q++) {
        mg_tensor *remainder = f->rvq_remainder[q] = ae_f32_2d(s, V, D);
        mg_tensor *remainder3 = ae_view(s, remainder, 3, rows3);
        if (!remainder || !remainder3) {
            status = s->status != MG_OK ? s->status : MG_ERR_INTERNAL;
            break;
        }
        if ((status = mg_op_vq_nearest(ctx, residual, codebook, ids)) != MG_OK ||
            (status = mg_op_embedding(ctx, codebook, ids, chosen)) != MG_OK ||
            (status = mg_op_binary(ctx, MG_BINARY_SUB, residual, chosen, remainder)) != MG_OK ||
            (status = mg_op_add(ctx, f->quantized, chosen, f->quantized)) != MG_OK ||
            (status = mg_tensor_read(ids, level_ids, (size_t)V * sizeof *level_ids)) != MG_OK)
            break;
        for (int64_t v = 0; v < V; v++)
            f->rvq_ids[v * levels + q] = level_ids[v];
        /* commitment: sum of the used rows' squared remainders */
        float sum = 0.0f;
        if ((status = mg_op_mask_rows(ctx, remainder3, mask, masked)) != MG_OK ||
            (status = mg_op_column_sum(ctx, masked, masked, 1, false, sq)) != MG_OK ||
            (status = mg_tensor_read_f32(sq, &sum, 1)) != MG_OK)
            break;
        if (f->used_vertices)
            commit += (double)sum / ((double)f->used_vertices * (double)D);
        residual = remainder;
    }
    free(level_ids);
    f->quantizer = (double)t->config.commit_loss_weight * commit;
    if (status == MG_OK && t->training && f->used_vertices)
        status = ema_update(t, f, &b);
    return status;
}

mg_status ae_rvq_backward(const ae_train *t, ae_forward *f, float grad_scale, const mg_tensor *d_quantized,
                          mg_tensor *d_x)
{
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const int levels = t->config.num_quantizers;
    const int64_t V = (int64_t)f->vertices, D = t->config.dim_codebook;
    /* straight through: every level passes the output's gradient to its input, which is x plus constants */
    OK(mg_op_scale(ctx, d_quantized, (float)levels, 0.0f, d_x));
    if (!f->used_vertices)
        return MG_OK;
    const float coef =
        grad_scale * t->config.commit_loss_weight * 2.0f / ((float)f->used_vertices * (float)D);
    int64_t mask_shape[2] = {1, V}, rows3[3] = {1, V, D};
    mg_tensor *mask = ae_i32(s, f->vertex_mask, 2, mask_shape);
    mg_tensor *part = ae_f32_2d(s, V, D);
    mg_tensor *part3 = ae_view(s, part, 3, rows3);
    NEED(s, mask, part, part3);
    for (int q = 0; q < levels; q++) {
        mg_tensor *remainder3 = ae_view(s, f->rvq_remainder[q], 3, rows3);
        NEED(s, remainder3);
        OK(mg_op_mask_rows(ctx, remainder3, mask, part3));
        OK(mg_op_scale(ctx, part, coef, 0.0f, part));
        OK(mg_op_add(ctx, d_x, part, d_x));
    }
    return MG_OK;
}
