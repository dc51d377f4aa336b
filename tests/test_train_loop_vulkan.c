/*
 * The training loop with its optimizer ops (Adam, gradient norm and clipping,
 * zeroing, EMA) on Vulkan, validation layer on: the toy model converges, the
 * one-step formulas hold, and accumulation equals one large batch.
 */
#include "test_train_loop_toy.h"

Test(train_loop_vulkan, toy_model_converges)
{
    mg_context *ctx = test_vulkan_context();
    toy_check_converges(ctx);
    test_close(ctx);
}

Test(train_loop_vulkan, warmup_clipping_and_adam_follow_their_formulas)
{
    mg_context *ctx = test_vulkan_context();
    toy_check_formulas(ctx);
    test_close(ctx);
}

Test(train_loop_vulkan, accumulating_four_micro_batches_equals_one_batch_of_four)
{
    mg_context *ctx = test_vulkan_context();
    toy_check_accumulation(ctx);
    test_close(ctx);
}
