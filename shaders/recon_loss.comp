#version 450
#extension GL_GOOGLE_include_directive : require
// meshgpt-pytorch's reconstruction loss over coordinate bins, one invocation
// per row (coordinate) of logits [R, BINS]: the one-hot target blurred by a
// Gaussian of sigma over WIDTH taps (L1-normalised, zero padding at the ends),
// against log_softmax(logits). Rows with a negative target (pad coordinates)
// give 0.
//  MODE 0: loss[r] = -sum_k t_k * (z_k - lse)
//  MODE 1: dz[r, b] = scale * (softmax_b * sum_k t_k - t_b)
#include "common.glsl"

layout(constant_id = 1) const uint MODE = 0;

INPUT_BUFFER(0, z)
INPUT_BUFFER_INT(1, targets)
OUTPUT_BUFFER(2, y)

layout(push_constant) uniform Push {
    uint z_offset;
    uint targets_offset;
    uint y_offset;
    uint R;
    uint BINS;
    int width;   // odd number of taps (1: no blur)
    float sigma;
    float scale;
} pc;

// Tap k (-half..half) of the kernel before normalisation.
float tap(int k)
{
    return pc.width == 1 ? 1.0 : exp(-float(k * k) / (2.0 * pc.sigma * pc.sigma));
}

void main()
{
    uint r = flat_invocation_index();
    if (r >= pc.R)
        return;
    int target = targets[pc.targets_offset + r];
    int bins = int(pc.BINS), half_w = pc.width / 2;
    uint base = pc.z_offset + r * pc.BINS;
    if (target < 0) {
        if (MODE == 0u)
            y[pc.y_offset + r] = 0.0;
        else
            for (uint b = 0; b < pc.BINS; b++)
                y[pc.y_offset + r * pc.BINS + b] = 0.0;
        return;
    }
    float norm = 0.0;
    for (int k = -half_w; k <= half_w; k++)
        norm += tap(k);
    float top = z[base];
    for (uint b = 1; b < pc.BINS; b++)
        top = max(top, z[base + b]);
    float sum = 0.0;
    for (uint b = 0; b < pc.BINS; b++)
        sum += exp(z[base + b] - top);
    float lse = top + log(sum);
    if (MODE == 0u) {
        float loss = 0.0;
        for (int k = -half_w; k <= half_w; k++) {
            int b = target + k;
            if (b >= 0 && b < bins)
                loss -= tap(k) / norm * (z[base + uint(b)] - lse);
        }
        y[pc.y_offset + r] = loss;
        return;
    }
    float mass = 0.0;
    for (int k = -half_w; k <= half_w; k++) {
        int b = target + k;
        if (b >= 0 && b < bins)
            mass += tap(k) / norm;
    }
    for (int b = 0; b < bins; b++) {
        float g = exp(z[base + uint(b)] - lse) * mass;
        int k = b - target;
        if (k >= -half_w && k <= half_w)
            g -= tap(k) / norm;
        y[pc.y_offset + r * pc.BINS + uint(b)] = pc.scale * g;
    }
}
