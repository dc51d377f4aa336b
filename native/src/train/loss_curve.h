/*
 * The loss history of a training run and its picture: the training loss per
 * step (thinned to at most MG_LOSS_CURVE_MAX_POINTS means of consecutive
 * steps, so a long run stays small) and the validation losses, kept in the
 * checkpoint's trainer settings so a resumed run draws the whole curve, and
 * written as a hand-made SVG (both curves, labelled axes with ticks, a legend).
 */
#ifndef MG_TRAIN_LOSS_CURVE_H
#define MG_TRAIN_LOSS_CURVE_H

#include "core/diag.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define MG_LOSS_CURVE_MAX_POINTS 1024

typedef struct mg_loss_points {
    double *step;
    double *loss;
    size_t count, capacity;
} mg_loss_points;

typedef struct mg_loss_curve {
    mg_loss_points train;      /* each point: the mean of `group` consecutive steps (at their mean step) */
    mg_loss_points validation;
    uint64_t group;            /* steps per training point (doubles whenever the list fills up) */
    double pending_steps, pending_loss; /* the partial group not yet a point */
    uint64_t pending_count;
} mg_loss_curve;

void mg_loss_curve_init(mg_loss_curve *curve);
void mg_loss_curve_free(mg_loss_curve *curve);
mg_status mg_loss_curve_add_train(mg_loss_curve *curve, uint64_t step, double loss, mg_diag *diag);
mg_status mg_loss_curve_add_validation(mg_loss_curve *curve, uint64_t step, double loss, mg_diag *diag);

/* {"group": N, "train": [[step, loss], ...], "validation": [...], "pending": [steps, loss, count]}; NULL when
 * out of memory. */
cJSON *mg_loss_curve_to_json(const mg_loss_curve *curve);
/* Replaces *curve with the history in `json` (as written above); entries after step `up_to` are dropped (a run
 * resumed from an earlier checkpoint than the curve's last). A malformed history is MG_ERR_FORMAT. */
mg_status mg_loss_curve_from_json(mg_loss_curve *curve, const cJSON *json, uint64_t up_to, mg_diag *diag);

/* Writes the SVG (atomically: beside `path` then renamed). `title` is escaped. */
mg_status mg_loss_curve_write_svg(const mg_loss_curve *curve, const char *path, const char *title, mg_diag *diag);

/* The curve's path beside a checkpoint: "dir/AE.safetensors" -> "dir/AE.loss.svg" (malloc'ed; NULL when out of
 * memory). */
char *mg_loss_curve_path_for(const char *checkpoint_path);

#endif
