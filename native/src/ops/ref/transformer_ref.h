/*
 * CPU references of the MeshTransformer ops (ops/ops_transformer.h): plain
 * arrays, f32 in and out, double accumulation.
 */
#ifndef MG_OPS_REF_TRANSFORMER_REF_H
#define MG_OPS_REF_TRANSFORMER_REF_H

#include "ops/ref/ref_ops.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest head dimension the attention shader holds per invocation. */
#define MG_TF_ATTENTION_MAX_DIM_HEAD 128

/*
 * Visibility as x-transformers builds it: memories first, always visible;
 * real key j < keys is visible to query i when key_mask (if any) lets it
 * through and, if causal, j <= query_offset + i. x-transformers' causal mask
 * is right-aligned over [memories, keys] (key j visible to query i iff
 * j <= i + keys - N), so for a full pass or a KV-cached step
 * query_offset = keys - N (the absolute position of the first query).
 */
typedef struct mg_attention_params {
    size_t heads;
    float scale;          /* dh^-0.5 */
    size_t keys;          /* rows of k/v read (<= allocated rows M) */
    bool causal;
    int64_t query_offset; /* absolute position of query 0 (causal only) */
} mg_attention_params;

/*
 * q [batch, n, heads*dh], k and v with rows of heads*dh, batch b starting at
 * row b * key_rows (key_rows >= p->keys), mem_k/mem_v [heads, mems, dh] (mems
 * may be 0, then NULL), key_mask [batch, key_rows] or NULL -> out [batch, n, heads*dh].
 */
void mg_ref_attention(const mg_attention_params *p, size_t batch, size_t n, size_t dim_head, size_t key_rows,
                      const float *q, const float *k, const float *v, size_t mems, mg_ref_param mem_k,
                      mg_ref_param mem_v, const int32_t *key_mask, float *out);

/* dst[b, row_offset + i, :] = src[b, i, :]; src [batch, n, dim], dst [batch, dst_rows, dim]. */
void mg_ref_copy_rows(size_t batch, size_t n, size_t dim, size_t dst_rows, size_t row_offset, const float *src,
                      float *dst);

/* GateLoop recurrence (see mg_op_gateloop); state [batch, dim] or NULL, updated in place. */
void mg_ref_gateloop(size_t batch, size_t n, size_t dim, const float *qkva, float *state, float *out);

/* out = v * s + v_first * (1 - s), s = sigmoid(mix_logits[row, h]) or 0.5 when mix_logits is NULL;
 * v, v_first, out [rows, heads*dim_head]. In place ok. */
void mg_ref_value_residual_mix(size_t rows, size_t heads, size_t dim_head, const float *v, const float *v_first,
                               const float *mix_logits, float *out);

/* out[b, t, :] = x[b, t, :] + table[((t + offset) / divisor) % period, :]; x, out [batch, n, dim]. In place ok. */
void mg_ref_add_table_rows(size_t batch, size_t n, size_t dim, const float *x, mg_ref_param table, int64_t offset,
                           size_t divisor, size_t period, float *out);

#endif
