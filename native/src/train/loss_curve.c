/* Loss history and its SVG picture (train/loss_curve.h). */
#include "train/loss_curve.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mg_loss_curve_init(mg_loss_curve *curve)
{
    memset(curve, 0, sizeof *curve);
    curve->group = 1;
}

static void points_free(mg_loss_points *p)
{
    free(p->step);
    free(p->loss);
    memset(p, 0, sizeof *p);
}

void mg_loss_curve_free(mg_loss_curve *curve)
{
    if (!curve)
        return;
    points_free(&curve->train);
    points_free(&curve->validation);
    mg_loss_curve_init(curve);
}

static mg_status points_push(mg_loss_points *p, double step, double loss, mg_diag *diag)
{
    if (p->count == p->capacity) {
        size_t capacity = p->capacity ? p->capacity * 2 : 64;
        double *s = realloc(p->step, capacity * sizeof *s);
        if (!s)
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory recording the loss curve");
        p->step = s;
        double *l = realloc(p->loss, capacity * sizeof *l);
        if (!l)
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory recording the loss curve");
        p->loss = l;
        p->capacity = capacity;
    }
    p->step[p->count] = step;
    p->loss[p->count] = loss;
    p->count++;
    return MG_OK;
}

/* Halves the training points by averaging neighbours (an odd last point stays as it is). */
static void thin(mg_loss_curve *curve)
{
    mg_loss_points *p = &curve->train;
    size_t out = 0;
    for (size_t i = 0; i + 1 < p->count; i += 2, out++) {
        p->step[out] = 0.5 * (p->step[i] + p->step[i + 1]);
        p->loss[out] = 0.5 * (p->loss[i] + p->loss[i + 1]);
    }
    if (p->count % 2) {
        p->step[out] = p->step[p->count - 1];
        p->loss[out] = p->loss[p->count - 1];
        out++;
    }
    p->count = out;
    curve->group *= 2;
}

mg_status mg_loss_curve_add_train(mg_loss_curve *curve, uint64_t step, double loss, mg_diag *diag)
{
    curve->pending_steps += (double)step;
    curve->pending_loss += loss;
    curve->pending_count++;
    if (curve->pending_count < curve->group)
        return MG_OK;
    double n = (double)curve->pending_count;
    mg_status status = points_push(&curve->train, curve->pending_steps / n, curve->pending_loss / n, diag);
    curve->pending_steps = curve->pending_loss = 0.0;
    curve->pending_count = 0;
    if (status == MG_OK && curve->train.count >= MG_LOSS_CURVE_MAX_POINTS)
        thin(curve);
    return status;
}

mg_status mg_loss_curve_add_validation(mg_loss_curve *curve, uint64_t step, double loss, mg_diag *diag)
{
    if (curve->validation.count >= MG_LOSS_CURVE_MAX_POINTS) {
        /* Keep every other validation point: the picture cannot show more. */
        mg_loss_points *p = &curve->validation;
        size_t out = 0;
        for (size_t i = 0; i < p->count; i += 2, out++) {
            p->step[out] = p->step[i];
            p->loss[out] = p->loss[i];
        }
        p->count = out;
    }
    return points_push(&curve->validation, (double)step, loss, diag);
}

static cJSON *points_json(const mg_loss_points *p)
{
    cJSON *array = cJSON_CreateArray();
    for (size_t i = 0; array && i < p->count; i++) {
        cJSON *pair = cJSON_CreateArray();
        if (!pair || !cJSON_AddItemToArray(array, pair)) {
            cJSON_Delete(pair);
            cJSON_Delete(array);
            return NULL;
        }
        cJSON *s = cJSON_CreateNumber(p->step[i]);
        if (!s || !cJSON_AddItemToArray(pair, s)) {
            cJSON_Delete(s);
            cJSON_Delete(array);
            return NULL;
        }
        cJSON *l = cJSON_CreateNumber(p->loss[i]);
        if (!l || !cJSON_AddItemToArray(pair, l)) {
            cJSON_Delete(l);
            cJSON_Delete(array);
            return NULL;
        }
    }
    return array;
}

cJSON *mg_loss_curve_to_json(const mg_loss_curve *curve)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *train = points_json(&curve->train);
    cJSON *validation = points_json(&curve->validation);
    bool ok = root && train && validation;
    if (ok) {
        ok = cJSON_AddNumberToObject(root, "group", (double)curve->group) != NULL;
        ok = ok && cJSON_AddItemToObject(root, "train", train);
        if (ok)
            train = NULL;
        ok = ok && cJSON_AddItemToObject(root, "validation", validation);
        if (ok)
            validation = NULL;
    }
    if (ok) {
        double pending[3] = {curve->pending_steps, curve->pending_loss, (double)curve->pending_count};
        cJSON *p = cJSON_CreateDoubleArray(pending, 3);
        ok = p && cJSON_AddItemToObject(root, "pending", p);
        if (!ok)
            cJSON_Delete(p);
    }
    cJSON_Delete(train);
    cJSON_Delete(validation);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static mg_status points_from_json(mg_loss_points *p, const cJSON *array, uint64_t up_to, mg_diag *diag)
{
    if (!cJSON_IsArray(array))
        return mg_fail(diag, MG_ERR_FORMAT, "the checkpoint's loss history is malformed (not a list of points)");
    const cJSON *pair;
    cJSON_ArrayForEach(pair, array) {
        const cJSON *s = cJSON_GetArrayItem(pair, 0), *l = cJSON_GetArrayItem(pair, 1);
        if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !cJSON_IsNumber(s) || !cJSON_IsNumber(l))
            return mg_fail(diag, MG_ERR_FORMAT, "the checkpoint's loss history is malformed (a point is not "
                           "[step, loss])");
        if (s->valuedouble > (double)up_to)
            break;
        mg_status status = points_push(p, s->valuedouble, l->valuedouble, diag);
        if (status != MG_OK)
            return status;
    }
    return MG_OK;
}

mg_status mg_loss_curve_from_json(mg_loss_curve *curve, const cJSON *json, uint64_t up_to, mg_diag *diag)
{
    mg_loss_curve c;
    mg_loss_curve_init(&c);
    const cJSON *group = cJSON_GetObjectItemCaseSensitive(json, "group");
    const cJSON *pending = cJSON_GetObjectItemCaseSensitive(json, "pending");
    if (!cJSON_IsObject(json) || !cJSON_IsNumber(group) || group->valuedouble < 1 || group->valuedouble > 1e15)
        return mg_fail(diag, MG_ERR_FORMAT, "the checkpoint's loss history is malformed (no valid \"group\")");
    c.group = (uint64_t)group->valuedouble;
    mg_status status = points_from_json(&c.train, cJSON_GetObjectItemCaseSensitive(json, "train"), up_to, diag);
    if (status == MG_OK)
        status = points_from_json(&c.validation, cJSON_GetObjectItemCaseSensitive(json, "validation"), up_to, diag);
    if (status == MG_OK && cJSON_IsArray(pending) && cJSON_GetArraySize(pending) == 3) {
        const cJSON *s = cJSON_GetArrayItem(pending, 0), *l = cJSON_GetArrayItem(pending, 1),
                    *n = cJSON_GetArrayItem(pending, 2);
        if (cJSON_IsNumber(s) && cJSON_IsNumber(l) && cJSON_IsNumber(n) && n->valuedouble >= 0 &&
            n->valuedouble < (double)c.group && s->valuedouble / (n->valuedouble > 0 ? n->valuedouble : 1) <=
            (double)up_to) {
            c.pending_steps = s->valuedouble;
            c.pending_loss = l->valuedouble;
            c.pending_count = (uint64_t)n->valuedouble;
        }
    }
    if (status != MG_OK) {
        mg_loss_curve_free(&c);
        return status;
    }
    mg_loss_curve_free(curve);
    *curve = c;
    return MG_OK;
}

char *mg_loss_curve_path_for(const char *checkpoint_path)
{
    size_t n = strlen(checkpoint_path);
    const char *slash = strrchr(checkpoint_path, '/');
    const char *dot = strrchr(checkpoint_path, '.');
    if (dot && (!slash || dot > slash + 1))
        n = (size_t)(dot - checkpoint_path);
    const char *suffix = ".loss.svg";
    char *out = malloc(n + strlen(suffix) + 1);
    if (out) {
        memcpy(out, checkpoint_path, n);
        strcpy(out + n, suffix);
    }
    return out;
}

/* ---- SVG ---- */

#define SVG_W 800.0
#define SVG_H 480.0
#define PLOT_L 80.0
#define PLOT_R 30.0
#define PLOT_T 40.0
#define PLOT_B 60.0

typedef struct axis {
    double lo, hi;
    bool log;
} axis;

static double axis_map(const axis *a, double v, double from, double to)
{
    double x = a->log ? log10(v) : v;
    double lo = a->log ? log10(a->lo) : a->lo, hi = a->log ? log10(a->hi) : a->hi;
    double t = hi > lo ? (x - lo) / (hi - lo) : 0.5;
    return from + t * (to - from);
}

/* A "nice" tick spacing (1, 2 or 5 times a power of ten) giving about `target` ticks over [lo, hi]. */
static double nice_step(double lo, double hi, int target)
{
    double raw = (hi - lo) / target;
    if (!(raw > 0))
        return 1.0;
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static bool finite_positive(double v)
{
    return isfinite(v) && v > 0;
}

static void write_escaped(FILE *f, const char *text)
{
    for (const char *c = text; *c; c++) {
        switch (*c) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*c, f);
        }
    }
}

static void write_polyline(FILE *f, const mg_loss_points *p, const axis *x, const axis *y, const char *colour,
                           const char *name)
{
    fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", name, colour);
    for (size_t i = 0; i < p->count; i++) {
        double v = p->loss[i];
        if (!isfinite(v) || (y->log && v <= 0))
            continue;
        if (v < y->lo)
            v = y->lo;
        fprintf(f, "%.1f,%.1f ", axis_map(x, p->step[i], PLOT_L, SVG_W - PLOT_R),
                axis_map(y, v, SVG_H - PLOT_B, PLOT_T));
    }
    fputs("\"/>\n", f);
}

static void loss_range(const mg_loss_curve *curve, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    const mg_loss_points *lists[2] = {&curve->train, &curve->validation};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < lists[k]->count; i++) {
            double v = lists[k]->loss[i];
            if (!isfinite(v))
                continue;
            *lo = v < *lo ? v : *lo;
            *hi = v > *hi ? v : *hi;
        }
    if (!isfinite(*lo)) {
        *lo = 0;
        *hi = 1;
    }
}

static void write_svg(FILE *f, const mg_loss_curve *curve, const char *title)
{
    double max_step = 1;
    const mg_loss_points *lists[2] = {&curve->train, &curve->validation};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < lists[k]->count; i++)
            max_step = lists[k]->step[i] > max_step ? lists[k]->step[i] : max_step;
    axis x = {0, max_step, false};
    double lo, hi;
    loss_range(curve, &lo, &hi);
    /* A logarithmic loss axis when the losses span more than a decade (typical of training), else linear. */
    axis y;
    if (finite_positive(lo) && hi / lo > 10.0) {
        y = (axis){pow(10.0, floor(log10(lo))), pow(10.0, ceil(log10(hi))), true};
    } else {
        double pad = hi > lo ? 0.05 * (hi - lo) : (fabs(hi) > 0 ? 0.1 * fabs(hi) : 1.0);
        double step = nice_step(lo - pad, hi + pad, 5);
        y = (axis){floor((lo - pad) / step) * step, ceil((hi + pad) / step) * step, false};
        if (lo >= 0 && y.lo < 0)
            y.lo = 0;
    }
    double left = PLOT_L, right = SVG_W - PLOT_R, top = PLOT_T, bottom = SVG_H - PLOT_B;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n",
            SVG_W, SVG_H, SVG_W, SVG_H, SVG_W, SVG_H);
    fputs("<text x=\"400\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">", f);
    write_escaped(f, title);
    fputs("</text>\n", f);
    /* Grid and ticks. */
    fputs("<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n", f);
    double xstep = nice_step(x.lo, x.hi, 8);
    for (double t = 0; t <= x.hi + 1e-9 * xstep; t += xstep) {
        double px = axis_map(&x, t, left, right);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px, top, px, bottom);
    }
    double ytick[64];
    int yticks = 0;
    if (y.log) {
        for (double t = y.lo; t <= y.hi * 1.0001 && yticks < 64; t *= 10)
            ytick[yticks++] = t;
    } else {
        double ystep = nice_step(y.lo, y.hi, 5);
        for (double t = y.lo; t <= y.hi + 1e-9 * ystep && yticks < 64; t += ystep)
            ytick[yticks++] = t;
    }
    for (int i = 0; i < yticks; i++) {
        double py = axis_map(&y, ytick[i], bottom, top);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, py, right, py);
    }
    fputs("</g>\n<g class=\"ticks\" fill=\"#333333\">\n", f);
    for (double t = 0; t <= x.hi + 1e-9 * xstep; t += xstep)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.10g</text>\n",
                axis_map(&x, t, left, right), bottom + 16, t);
    for (int i = 0; i < yticks; i++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", left - 6,
                axis_map(&y, ytick[i], bottom, top) + 4, ytick[i]);
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333333\"/>\n",
            left, top, right - left, bottom - top);
    fprintf(f, "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n",
            0.5 * (left + right), SVG_H - 18);
    fprintf(f, "<text class=\"ylabel\" x=\"20\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 20 %.1f)\">"
               "loss%s</text>\n", 0.5 * (top + bottom), 0.5 * (top + bottom), y.log ? " (log scale)" : "");
    write_polyline(f, &curve->train, &x, &y, "#1f77b4", "train");
    write_polyline(f, &curve->validation, &x, &y, "#ff7f0e", "validation");
    /* Legend. */
    fprintf(f, "<g class=\"legend\">\n"
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n"
               "<text x=\"%.1f\" y=\"%.1f\">train</text>\n"
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ff7f0e\" stroke-width=\"2\"/>\n"
               "<text x=\"%.1f\" y=\"%.1f\">validation</text>\n</g>\n",
            right - 150, top + 16, right - 130, top + 16, right - 124, top + 20,
            right - 150, top + 34, right - 130, top + 34, right - 124, top + 38);
    fputs("</svg>\n", f);
}

mg_status mg_loss_curve_write_svg(const mg_loss_curve *curve, const char *path, const char *title, mg_diag *diag)
{
    if (!curve || !path)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_loss_curve_write_svg: NULL argument");
    size_t n = strlen(path);
    char *temp = malloc(n + 9);
    if (!temp)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory writing the loss curve");
    memcpy(temp, path, n);
    strcpy(temp + n, ".partial");
    FILE *f = fopen(temp, "wb");
    if (!f) {
        mg_status status = mg_fail(diag, MG_ERR_IO, "cannot write the loss curve '%s': %s", temp, strerror(errno));
        free(temp);
        return status;
    }
    write_svg(f, curve, title ? title : "training loss");
    bool ok = !ferror(f);
    int saved_errno = errno;
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(temp, path) != 0) {
        saved_errno = errno;
        ok = false;
    }
    if (!ok) {
        remove(temp);
        free(temp);
        return mg_fail(diag, MG_ERR_IO, "cannot write the loss curve '%s': %s", path, strerror(saved_errno));
    }
    free(temp);
    return MG_OK;
}
