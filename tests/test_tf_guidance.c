/*
 * The classifier-free guidance combination (mg_tf_guide_logits) on small
 * vectors worked out by hand: plain guidance, arXiv 2410.02416's removal of
 * the update's component parallel to the conditional logits, a kept fraction
 * of it, and a zero conditional row (classifier-free-guidance-pytorch divides
 * by max(norm, 1e-12), so nothing is removed). Also: the sampling defaults
 * leave the refinement off.
 */
#include "model/tf_generate.h"

#include <criterion/criterion.h>
#include <math.h>

static void expect_row(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_expect(fabsf(got[i] - want[i]) <= 1e-6f, "%s [%zu]: %.9g, expected %.9g", what, i, (double)got[i],
                  (double)want[i]);
}

Test(tf_guidance, plain_guidance)
{
    const float cond[3] = {1.0f, 2.0f, -1.0f}, uncond[3] = {0.5f, 2.5f, -1.0f};
    float out[3];
    /* update (0.5, -0.5, 0) times (3 - 1) added to cond */
    mg_tf_guide_logits(cond, uncond, 3, 3.0f, false, 0.0f, out);
    const float want[3] = {2.0f, 1.0f, -1.0f};
    expect_row(out, want, 3, "cond_scale 3");
    /* cond_scale 1: the conditional logits */
    mg_tf_guide_logits(cond, uncond, 3, 1.0f, true, 0.0f, out);
    expect_row(out, cond, 3, "cond_scale 1");
}

Test(tf_guidance, remove_parallel_component)
{
    /* cond = (3, 4): unit (0.6, 0.8). uncond = (1, 1): update (2, 3), its dot with the unit 3.6,
     * parallel 3.6 * (0.6, 0.8) = (2.16, 2.88), orthogonal (-0.16, 0.12). */
    const float cond[2] = {3.0f, 4.0f}, uncond[2] = {1.0f, 1.0f};
    float out[2];
    mg_tf_guide_logits(cond, uncond, 2, 2.0f, true, 0.0f, out);
    const float orthogonal_only[2] = {3.0f - 0.16f, 4.0f + 0.12f};
    expect_row(out, orthogonal_only, 2, "parallel removed, scale 2");
    mg_tf_guide_logits(cond, uncond, 2, 3.0f, true, 0.5f, out);
    /* (orthogonal + 0.5 parallel) * 2 = (-0.16 + 1.08, 0.12 + 1.44) * 2 = (1.84, 3.12) */
    const float half_kept[2] = {3.0f + 1.84f, 4.0f + 3.12f};
    expect_row(out, half_kept, 2, "half the parallel part kept, scale 3");
    mg_tf_guide_logits(cond, uncond, 2, 3.0f, true, 1.0f, out);
    const float all_kept[2] = {3.0f + 4.0f, 4.0f + 6.0f};
    expect_row(out, all_kept, 2, "all kept equals plain guidance");
}

Test(tf_guidance, update_parallel_to_cond_vanishes)
{
    /* uncond = cond / 2: the update is cond / 2, entirely parallel: nothing of it remains. */
    const float cond[4] = {2.0f, -4.0f, 6.0f, 0.0f}, uncond[4] = {1.0f, -2.0f, 3.0f, 0.0f};
    float out[4];
    mg_tf_guide_logits(cond, uncond, 4, 5.0f, true, 0.0f, out);
    expect_row(out, cond, 4, "parallel update");
}

Test(tf_guidance, zero_cond_row_keeps_update)
{
    const float cond[2] = {0.0f, 0.0f}, uncond[2] = {1.0f, -2.0f};
    float out[2];
    mg_tf_guide_logits(cond, uncond, 2, 2.0f, true, 0.0f, out);
    const float want[2] = {-1.0f, 2.0f};
    expect_row(out, want, 2, "zero conditional row");
}

Test(tf_guidance, in_place_and_defaults)
{
    float cond[2] = {3.0f, 4.0f};
    const float uncond[2] = {1.0f, 1.0f};
    mg_tf_guide_logits(cond, uncond, 2, 2.0f, true, 0.0f, cond);
    const float want[2] = {3.0f - 0.16f, 4.0f + 0.12f};
    expect_row(cond, want, 2, "out aliasing cond");
    mg_tf_sampling s = mg_tf_default_sampling();
    cr_expect(!s.remove_parallel_component);
    cr_expect_eq(s.keep_parallel_frac, 0.0f);
    cr_expect_eq(s.cond_scale, 1.0f);
}
