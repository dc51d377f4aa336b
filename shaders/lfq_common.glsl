// ResidualLFQ's training terms (lfq_*.comp): the residual walk of one row, as
// mg_op_lfq_quantize walks it in f32, and the per-dimension code log-probabilities.
// Included after common.glsl.

#define LFQ_MAX_D 16
#define LFQ_PROB_FLOOR 1e-5

// tanh with its argument limited: it is +-1 in f32 long before 15, and some
// implementations build tanh from exp, which overflows for large arguments.
float lfq_tanh(float u)
{
    return tanh(clamp(u, -15.0, 15.0));
}

// xq (soft-clamped residual) and its slope d xq / d residual at level q for the residual r,
// then advances r to the next level's residual (r -= +-2^-q by the sign of xq).
void lfq_level_step(inout float r[LFQ_MAX_D], uint q, float soft_clamp, out float xq[LFQ_MAX_D],
                    out float slope[LFQ_MAX_D])
{
    float s = exp2(-float(q));
    float c = soft_clamp * s;
    [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
        if (soft_clamp > 0.0) {
            float t = lfq_tanh(r[k] / c);
            xq[k] = c * t;
            slope[k] = 1.0 - t * t;
        } else {
            xq[k] = r[k];
            slope[k] = 1.0;
        }
        r[k] -= xq[k] > 0.0 ? s : -s;
    }
}

float lfq_log_sigmoid(float u)
{
    return -(max(-u, 0.0) + log(1.0 + exp(-abs(u))));
}

// log p(code j) = sum over dimensions of log sigmoid(+-4 T s xq_k), + where bit D-1-k of j is set.
float lfq_code_log_prob(uint j, uint D, float pos[LFQ_MAX_D], float neg[LFQ_MAX_D])
{
    float lp = 0.0;
    [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
        if (k < D)
            lp += ((j >> (D - 1u - k)) & 1u) != 0u ? pos[k] : neg[k];
    }
    return lp;
}

// -p log(max(p, floor)) and its derivative in p
float lfq_entropy_term(float p, float lp)
{
    return -p * (p > LFQ_PROB_FLOOR ? lp : log(LFQ_PROB_FLOOR));
}
float lfq_entropy_slope(float p, float lp)
{
    return p > LFQ_PROB_FLOOR ? -(lp + 1.0) : -log(LFQ_PROB_FLOOR);
}

// r = row `row` of the [N, D] buffer `buf` starting at element `offset` (dimensions >= D are 0).
#define LFQ_LOAD_ROW(r, buf, offset, row, D)                                                                   \
    [[unroll]] for (uint k_ = 0u; k_ < LFQ_MAX_D; k_++)                                                        \
        r[k_] = k_ < (D) ? buf[(offset) + (row) * (D) + k_] : 0.0;

// pos/neg log-probabilities of each dimension's sign at level q from xq.
void lfq_sign_log_probs(float xq[LFQ_MAX_D], uint q, float inv_temperature, out float pos[LFQ_MAX_D],
                        out float neg[LFQ_MAX_D])
{
    float s = exp2(-float(q));
    [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
        float a = 4.0 * inv_temperature * s * xq[k];
        pos[k] = lfq_log_sigmoid(a);
        neg[k] = lfq_log_sigmoid(-a);
    }
}
