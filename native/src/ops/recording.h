/*
 * Work recorded once and replayed (Vulkan only): the op-level face of the
 * gpu layer's recordings (gpu/gpu.h). Ops called between mg_recording_begin
 * and mg_recording_end are captured instead of run; mg_recording_replay runs
 * them again, reading whatever their tensors hold at that time (inputs are
 * written with mg_tensor_write before a replay, outputs read after it).
 *
 * Rules for the captured ops: no mg_tensor_write/read in between (refused);
 * temporaries freed during the capture stay with the recording; tensors made
 * before the capture must outlive the recording. Values that change between
 * replays must live in tensors (see the *_at ops of ops_transformer.h), never
 * in the host arguments of an op.
 *
 * A recording holds a reference to its context and may be freed after
 * mg_context_destroy (it then only frees host memory).
 */
#ifndef MG_OPS_RECORDING_H
#define MG_OPS_RECORDING_H

#include "ops/tensor.h"

#include <stdbool.h>

typedef struct mg_recording mg_recording;

/* A Vulkan context, and replay not switched off with MESHGPT_REPLAY=0 (for bisecting driver bugs). */
bool mg_recording_available(mg_context *ctx);

mg_status mg_recording_begin(mg_context *ctx);
mg_status mg_recording_end(mg_context *ctx, mg_recording **out);
/* Ends a capture whose ops failed, discarding it (no-op when none is open). */
void mg_recording_abort(mg_context *ctx);
/* Submits the recorded work after what is already recorded; transfers wait for it. */
mg_status mg_recording_replay(mg_recording *recording);
void mg_recording_free(mg_recording *recording);

#endif
