/* meshgpt-pytorch's autoencoder reconstruction loss: cross-entropy of the
 * coordinate logits against one-hot targets blurred along the bins. */
#include "model/autoencoder.h"
#include "ops/ref/grad_ae_ref.h"

#include <math.h>
#include <stdlib.h>

#define MAX_BLUR_WIDTH 63 /* MG_RECON_BLUR_MAX: the training loss (ops_grad_ae.h) blurs the same way */

double mg_ae_recon_loss(const mg_ae_config *config, const float *logits, const int32_t *targets,
                        const uint8_t *face_mask, size_t faces)
{
    const size_t bins = (size_t)config->num_discrete_coors;
    const size_t per_face = (size_t)mg_ae_config_face_size(config) * 3;
    double kernel[MAX_BLUR_WIDTH];
    const int width = mg_ref_recon_blur_kernel(config->bin_smooth_blur_sigma, kernel);
    const int half = width / 2;
    double total = 0.0;
    size_t count = 0;
    for (size_t f = 0; f < faces; f++) {
        if (!face_mask[f])
            continue;
        for (size_t c = 0; c < per_face; c++) {
            const float *row = logits + (f * per_face + c) * bins;
            double max = row[0];
            for (size_t b = 1; b < bins; b++)
                max = row[b] > max ? row[b] : max;
            double sum = 0.0;
            for (size_t b = 0; b < bins; b++)
                sum += exp((double)row[b] - max);
            const double log_sum = max + log(sum);
            /* The blurred one-hot is non-zero only within `half` bins of the target,
             * and zero padding drops what falls off the ends. */
            const int target = targets[f * per_face + c];
            double loss = 0.0;
            for (int k = -half; k <= half; k++) {
                int b = target + k;
                if (b < 0 || b >= (int)bins)
                    continue;
                loss -= kernel[k + half] * ((double)row[b] - log_sum);
            }
            total += loss;
            count++;
        }
    }
    return count ? total / (double)count : 0.0;
}
