/*
 * The procedural shape classes of `meshgpt dataset primitives`. Every shape draws its proportions and
 * segment counts from a seeded generator (values rounded to 0.01 so labels.json holds exactly what was
 * used), builds closed parts with the shape builder, and writes a caption whose words follow fixed
 * thresholds on the drawn values (documented at each class; tests/test_dataset.c checks them).
 * Parts never share a vertex position: legs are inset from the edges they sit under, so merging
 * vertices in the tokenizer's grid cannot join two parts into a non-manifold edge.
 */
#include "core/diag.h"
#include "dataset/shape_builder.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846
/* A caption has at most two modifiers before its noun and one tail: 2^3 - 1 shorter forms. */
#define MAX_CAPTION_MODIFIERS 3
#define MAX_CAPTION_VARIANTS ((1 << MAX_CAPTION_MODIFIERS) - 1)

typedef struct shape_ctx {
    mg_shape_builder b;
    uint64_t state;
    char caption[256];
    char variants[MAX_CAPTION_VARIANTS][256]; /* the caption with some modifiers left out */
    size_t variant_count;
    char params[768];
    size_t params_len;
} shape_ctx;

static uint64_t next_u64(shape_ctx *s)
{
    /* splitmix64: tiny, and the same sequence on every platform */
    uint64_t z = (s->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A value in [lo, hi] rounded to 0.01, so the label holds exactly what was drawn. */
static double draw(shape_ctx *s, double lo, double hi)
{
    const double u = (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
    return round((lo + u * (hi - lo)) * 100.0) / 100.0;
}

static int draw_int(shape_ctx *s, int lo, int hi)
{
    return lo + (int)(next_u64(s) % (uint64_t)(hi - lo + 1));
}

static void param(shape_ctx *s, const char *name, double value)
{
    int n = snprintf(s->params + s->params_len, sizeof s->params - s->params_len, "%s\"%s\": %.10g",
                     s->params_len > 1 ? ", " : "", name, value);
    if (n > 0 && (size_t)n < sizeof s->params - s->params_len)
        s->params_len += (size_t)n;
}

/* `out` = article + the words (empty ones skipped) + tail; an over-long text is cut rather than overflowing. */
static void compose(char out[256], const char *const *words, size_t count, const char *tail)
{
    char text[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < count; i++) {
        if (!words[i] || !words[i][0])
            continue;
        int n = snprintf(text + len, sizeof text - len, "%s%s", len ? " " : "", words[i]);
        if (n > 0 && (size_t)n < sizeof text - len)
            len += (size_t)n;
    }
    const bool vowel = strchr("aeio", text[0]) != NULL;
    const char *pieces[3] = {vowel ? "an " : "a ", text, tail ? tail : ""};
    size_t at = 0;
    for (int p = 0; p < 3; p++)
        for (const char *c = pieces[p]; *c && at + 1 < 256; c++)
            out[at++] = *c;
    out[at] = '\0';
}

/*
 * The caption from words (modifiers, then the noun last) and an optional tail (" with 8 sides"); the
 * article follows the first word. Also its shorter forms, every one still true of the shape: each subset of
 * the non-empty modifiers and the tail left out, down to the bare noun ("a tube"). Training on them teaches
 * the model what a short prompt means; with only full captions, "a tube" is a text it never saw.
 */
static void caption(shape_ctx *s, const char *const *words, size_t count, const char *tail)
{
    compose(s->caption, words, count, tail);
    /* The droppable parts: non-empty modifiers, then the tail. */
    const char *parts[MAX_CAPTION_MODIFIERS];
    size_t part_count = 0;
    for (size_t i = 0; i + 1 < count && part_count < MAX_CAPTION_MODIFIERS; i++)
        if (words[i] && words[i][0])
            parts[part_count++] = words[i];
    const bool has_tail = tail && tail[0] && part_count < MAX_CAPTION_MODIFIERS;
    if (has_tail)
        parts[part_count++] = tail;
    const unsigned full = (1u << part_count) - 1;
    s->variant_count = 0;
    /* Every mask below `full` (a set bit keeps that part), in a fixed order ending with the bare noun. */
    for (unsigned keep = full; keep-- > 0;) {
        const char *kept[MAX_CAPTION_MODIFIERS + 1];
        size_t n = 0;
        for (size_t p = 0; p < part_count; p++)
            if ((keep >> p & 1u) && !(has_tail && p + 1 == part_count))
                kept[n++] = parts[p];
        kept[n++] = words[count - 1];
        const bool keep_tail = has_tail && (keep >> (part_count - 1) & 1u);
        compose(s->variants[s->variant_count++], kept, n, keep_tail ? tail : NULL);
    }
}

static const char *number_word(int n)
{
    static const char *const words[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight"};
    return n >= 0 && n <= 8 ? words[n] : "many";
}

/*
 * Height against width for upright shapes: h / w >= 1.8 "tall thin", >= 1.25 "tall", <= 0.45 "flat wide",
 * <= 0.8 "short wide", else nothing.
 */
static const char *upright_proportion(double h, double w)
{
    const double r = h / w;
    return r >= 1.8 ? "tall thin" : r >= 1.25 ? "tall" : r <= 0.45 ? "flat wide" : r <= 0.8 ? "short wide" : "";
}

static void tail_count(char *tail, size_t size, int n, const char *what)
{
    snprintf(tail, size, " with %d %s", n, what);
}

/* ---- the classes ---- */

static void make_cube(shape_ctx *s)
{
    /* size < 0.9 "small", > 1.5 "large" */
    const double a = draw(s, 0.5, 2.0);
    param(s, "size", a);
    sb_box(&s->b, -a / 2, 0, -a / 2, a / 2, a, a / 2);
    const char *w[] = {a < 0.9 ? "small" : a > 1.5 ? "large" : "", "cube"};
    caption(s, w, 2, NULL);
}

static void make_box(shape_ctx *s)
{
    /* h >= 1.6 max(w, d) "tall", h <= 0.5 min(w, d) "flat"; max(w, d) >= 2 min(w, d) "long" */
    double w, h, d, hi, lo;
    do {
        w = draw(s, 0.3, 2.5);
        h = draw(s, 0.2, 2.5);
        d = draw(s, 0.3, 2.5);
        hi = fmax(w, fmax(h, d));
        lo = fmin(w, fmin(h, d));
    } while (hi < 1.4 * lo || lo < 0.06 * hi); /* not a cube, not a sheet */
    param(s, "width", w);
    param(s, "height", h);
    param(s, "depth", d);
    sb_box(&s->b, -w / 2, 0, -d / 2, w / 2, h, d / 2);
    const char *words[] = {fmax(w, d) >= 2 * fmin(w, d) ? "long" : "",
                           h >= 1.6 * fmax(w, d) ? "tall" : h <= 0.5 * fmin(w, d) ? "flat" : "", "box"};
    caption(s, words, 3, NULL);
}

static const char *polygon_word(int sides)
{
    switch (sides) {
    case 3: return "triangular";
    case 4: return "square";
    case 5: return "pentagonal";
    case 6: return "hexagonal";
    default: return "many-sided";
    }
}

static void make_pyramid(shape_ctx *s)
{
    static const int choices[] = {3, 4, 4, 5, 6};
    const int sides = choices[draw_int(s, 0, 4)];
    const double r = draw(s, 0.4, 1.2), h = draw(s, 0.3, 2.5);
    param(s, "sides", sides);
    param(s, "base_radius", r);
    param(s, "height", h);
    const double radius[] = {r, 0}, y[] = {0, h};
    sb_revolve(&s->b, radius, y, 2, false, (size_t)sides, PI / sides, 0, 0);
    const char *words[] = {upright_proportion(h, 2 * r), polygon_word(sides), "pyramid"};
    caption(s, words, 3, NULL);
}

static void make_prism(shape_ctx *s)
{
    static const int choices[] = {3, 5, 6};
    const int sides = choices[draw_int(s, 0, 2)];
    const double r = draw(s, 0.3, 1.0), h = draw(s, 0.3, 2.5);
    param(s, "sides", sides);
    param(s, "radius", r);
    param(s, "height", h);
    const double radius[] = {r, r}, y[] = {0, h};
    sb_revolve(&s->b, radius, y, 2, false, (size_t)sides, PI / 2, 0, 0);
    const char *words[] = {upright_proportion(h, 2 * r), polygon_word(sides), "prism"};
    caption(s, words, 3, NULL);
}

static void make_cylinder(shape_ctx *s)
{
    const int n = draw_int(s, 8, 16);
    const double r = draw(s, 0.2, 1.0), h = draw(s, 0.2, 2.5);
    param(s, "segments", n);
    param(s, "radius", r);
    param(s, "height", h);
    const double radius[] = {r, r}, y[] = {0, h};
    sb_revolve(&s->b, radius, y, 2, false, (size_t)n, 0, 0, 0);
    char tail[64];
    tail_count(tail, sizeof tail, n, "sides");
    const char *words[] = {upright_proportion(h, 2 * r), "cylinder"};
    caption(s, words, 2, tail);
}

static void make_cone(shape_ctx *s)
{
    const int n = draw_int(s, 8, 16);
    const double r = draw(s, 0.3, 1.0), h = draw(s, 0.3, 2.5);
    param(s, "segments", n);
    param(s, "radius", r);
    param(s, "height", h);
    const double radius[] = {r, 0}, y[] = {0, h};
    sb_revolve(&s->b, radius, y, 2, false, (size_t)n, 0, 0, 0);
    char tail[64];
    tail_count(tail, sizeof tail, n, "sides");
    const char *words[] = {upright_proportion(h, 2 * r), "cone"};
    caption(s, words, 2, tail);
}

static void make_truncated_cone(shape_ctx *s)
{
    /* top_ratio <= 0.45 "steep": narrows to under half */
    const int n = draw_int(s, 8, 16);
    const double r = draw(s, 0.4, 1.0), ratio = draw(s, 0.3, 0.8), h = draw(s, 0.3, 2.0);
    param(s, "segments", n);
    param(s, "bottom_radius", r);
    param(s, "top_ratio", ratio);
    param(s, "height", h);
    const double radius[] = {r, r * ratio}, y[] = {0, h};
    sb_revolve(&s->b, radius, y, 2, false, (size_t)n, 0, 0, 0);
    char tail[64];
    tail_count(tail, sizeof tail, n, "sides");
    const char *words[] = {upright_proportion(h, 2 * r), ratio <= 0.45 ? "sharply narrowing" : "", "truncated cone"};
    caption(s, words, 3, tail);
}

static void make_tube(shape_ctx *s)
{
    /* wall (a fraction of the radius) < 0.25 "thin-walled", > 0.4 "thick-walled" */
    const int n = draw_int(s, 8, 16);
    const double r = draw(s, 0.4, 1.0), wall = draw(s, 0.15, 0.5), h = draw(s, 0.2, 2.0);
    param(s, "segments", n);
    param(s, "radius", r);
    param(s, "wall", wall);
    param(s, "height", h);
    const double ri = r * (1 - wall);
    const double radius[] = {r, r, ri, ri}, y[] = {0, h, h, 0};
    sb_revolve(&s->b, radius, y, 4, true, (size_t)n, 0, 0, 0);
    char tail[64];
    tail_count(tail, sizeof tail, n, "sides");
    const char *words[] = {upright_proportion(h, 2 * r), wall < 0.25 ? "thin-walled" : wall > 0.4 ? "thick-walled" : "",
                           "tube"};
    caption(s, words, 3, tail);
}

static void make_uv_sphere(shape_ctx *s)
{
    /* segments <= 9 "low-poly" */
    const int n = draw_int(s, 8, 14), rings = draw_int(s, 5, 8);
    const double r = draw(s, 0.5, 1.5);
    param(s, "segments", n);
    param(s, "rings", rings);
    param(s, "radius", r);
    double radius[16], y[16];
    for (int i = 0; i <= rings; i++) {
        const double a = -PI / 2 + PI * i / rings;
        radius[i] = (i == 0 || i == rings) ? 0.0 : r * cos(a);
        y[i] = r + r * sin(a);
    }
    sb_revolve(&s->b, radius, y, (size_t)rings + 1, false, (size_t)n, 0, 0, 0);
    char tail[64];
    snprintf(tail, sizeof tail, " with %d segments and %d rings", n, rings);
    const char *words[] = {n <= 9 ? "low-poly" : "", "uv sphere"};
    caption(s, words, 2, tail);
}

static void make_icosphere(shape_ctx *s)
{
    const int sub = draw_int(s, 0, 1);
    const double r = draw(s, 0.5, 1.5);
    param(s, "subdivisions", sub);
    param(s, "radius", r);
    sb_icosphere(&s->b, r, sub, 0, r, 0);
    char tail[64];
    tail_count(tail, sizeof tail, 20 << (2 * sub), "faces");
    const char *words[] = {sub == 0 ? "coarse" : "", "icosphere"};
    caption(s, words, 2, tail);
}

static void make_torus(shape_ctx *s)
{
    /* thickness (minor / major radius) < 0.25 "thin", > 0.35 "thick" */
    const int n = draw_int(s, 8, 14), m = draw_int(s, 4, 8);
    const double big = draw(s, 0.6, 1.2), ratio = draw(s, 0.15, 0.45);
    param(s, "segments", n);
    param(s, "tube_segments", m);
    param(s, "radius", big);
    param(s, "thickness", ratio);
    const double small = big * ratio;
    double radius[8], y[8];
    for (int i = 0; i < m; i++) {
        const double a = 2 * PI * i / m;
        radius[i] = big + small * cos(a);
        y[i] = small + small * sin(a);
    }
    sb_revolve(&s->b, radius, y, (size_t)m, true, (size_t)n, 0, 0, 0);
    char tail[64];
    tail_count(tail, sizeof tail, n, "segments");
    const char *words[] = {ratio < 0.25 ? "thin" : ratio > 0.35 ? "thick" : "", "torus"};
    caption(s, words, 2, tail);
}

static void make_capsule(shape_ctx *s)
{
    /* total height / width >= 2.2 "long", <= 1.4 "stubby" */
    const int n = draw_int(s, 8, 12), k = draw_int(s, 2, 3);
    const double r = draw(s, 0.3, 0.8), len = draw(s, 0.2, 2.0);
    param(s, "segments", n);
    param(s, "cap_rings", k);
    param(s, "radius", r);
    param(s, "length", len);
    double radius[16], y[16];
    size_t c = 0;
    for (int i = 0; i <= k; i++) { /* lower half sphere, pole to equator */
        const double a = -PI / 2 + (PI / 2) * i / k;
        radius[c] = i == 0 ? 0.0 : r * cos(a);
        y[c++] = r + r * sin(a);
    }
    for (int i = k; i >= 0; i--) { /* upper half, equator to pole */
        const double a = PI / 2 - (PI / 2) * i / k;
        radius[c] = i == 0 ? 0.0 : r * cos(a);
        y[c++] = r + len + r * sin(a);
    }
    sb_revolve(&s->b, radius, y, c, false, (size_t)n, 0, 0, 0);
    const double ratio = (2 * r + len) / (2 * r);
    const char *words[] = {ratio >= 2.2 ? "long" : ratio <= 1.4 ? "stubby" : "", "capsule"};
    caption(s, words, 2, NULL);
}

static void make_wedge(shape_ctx *s)
{
    /* height / length >= 1.2 "steep", <= 0.4 "shallow" */
    const double l = draw(s, 0.5, 2.0), h = draw(s, 0.2, 2.0), w = draw(s, 0.3, 2.0);
    param(s, "length", l);
    param(s, "height", h);
    param(s, "width", w);
    const double xy[] = {0, 0, l, 0, 0, h};
    sb_extrude(&s->b, xy, 3, -w / 2, w / 2);
    const char *words[] = {h / l >= 1.2 ? "steep" : h / l <= 0.4 ? "shallow" : "", "wedge"};
    caption(s, words, 2, NULL);
}

static void make_star_prism(shape_ctx *s)
{
    /* thickness / diameter < 0.15 "thin", > 0.3 "thick" */
    const int points = draw_int(s, 4, 8);
    const double r = draw(s, 0.6, 1.2), inner = draw(s, 0.35, 0.65), t = draw(s, 0.1, 0.8);
    param(s, "points", points);
    param(s, "radius", r);
    param(s, "inner_ratio", inner);
    param(s, "thickness", t);
    double xy[32];
    for (int i = 0; i < 2 * points; i++) {
        const double a = PI / 2 + PI * i / points, rr = (i % 2) ? r * inner : r;
        xy[2 * i] = rr * cos(a);
        xy[2 * i + 1] = r + rr * sin(a);
    }
    sb_extrude_fan(&s->b, xy, (size_t)(2 * points), 0, r, -t / 2, t / 2);
    char pointed[32];
    snprintf(pointed, sizeof pointed, "%s-pointed", number_word(points));
    const double ratio = t / (2 * r);
    const char *words[] = {ratio < 0.15 ? "thin" : ratio > 0.3 ? "thick" : "", pointed, "star"};
    caption(s, words, 3, NULL);
}

static void make_stairs(shape_ctx *s)
{
    /* rise / run >= 1.2 "steep", <= 0.6 "shallow"; width >= 1.5 x the total run "wide", <= 0.5 x "narrow" */
    const int steps = draw_int(s, 2, 6);
    const double rise = draw(s, 0.1, 0.3), run = draw(s, 0.15, 0.4), width = draw(s, 0.4, 2.0);
    param(s, "steps", steps);
    param(s, "rise", rise);
    param(s, "run", run);
    param(s, "width", width);
    double xy[2 * (2 * 6 + 2)];
    size_t c = 0;
    xy[c++] = 0, xy[c++] = 0;
    xy[c++] = steps * run, xy[c++] = 0;
    for (int i = steps - 1; i >= 0; i--) { /* the top of step i, right corner then left corner */
        xy[c++] = (i + 1) * run, xy[c++] = (i + 1) * rise;
        xy[c++] = i * run, xy[c++] = (i + 1) * rise;
    }
    sb_extrude(&s->b, xy, c / 2, -width / 2, width / 2);
    char tail[64];
    tail_count(tail, sizeof tail, steps, "steps");
    const double total = steps * run;
    const char *words[] = {width >= 1.5 * total ? "wide" : width <= 0.5 * total ? "narrow" : "",
                           rise / run >= 1.2 ? "steep" : rise / run <= 0.6 ? "shallow" : "", "staircase"};
    caption(s, words, 3, tail);
}

static void make_arch(shape_ctx *s)
{
    /* height / width >= 1.2 "tall", <= 0.7 "wide"; depth >= 0.8 x half width "thick" */
    const int segs = draw_int(s, 4, 8);
    const double half = draw(s, 0.5, 1.2), opening = draw(s, 0.5, 0.8), legs = draw(s, 0.2, 1.0),
                 top = draw(s, 0.15, 0.8), depth = draw(s, 0.2, 1.0);
    param(s, "segments", segs);
    param(s, "half_width", half);
    param(s, "opening", opening);
    param(s, "leg_height", legs);
    param(s, "top", top);
    param(s, "depth", depth);
    const double r = opening * half, lh = legs * half, height = lh + r + top * half;
    double xy[2 * 16];
    size_t c = 0;
    xy[c++] = -half, xy[c++] = 0;
    xy[c++] = -r, xy[c++] = 0;
    for (int i = 0; i <= segs; i++) { /* the opening, over the top from left to right */
        const double a = PI * (1.0 - (double)i / segs);
        xy[c++] = r * cos(a), xy[c++] = lh + r * sin(a);
    }
    xy[c++] = r, xy[c++] = 0;
    xy[c++] = half, xy[c++] = 0;
    xy[c++] = half, xy[c++] = height;
    xy[c++] = -half, xy[c++] = height;
    sb_extrude(&s->b, xy, c / 2, -depth / 2, depth / 2);
    const double ratio = height / (2 * half);
    const char *words[] = {ratio >= 1.2 ? "tall" : ratio <= 0.7 ? "wide" : "", depth >= 0.8 * half ? "thick" : "",
                           "arch"};
    caption(s, words, 3, NULL);
}

/* Four legs under a rectangle [x0, x1] x [z0, z1], inset from its edges, from y = 0 to y = top. */
static void four_legs(shape_ctx *s, double x0, double x1, double z0, double z1, double inset, double leg, double top)
{
    for (int i = 0; i < 4; i++) {
        const double x = (i & 1) ? x1 - inset - leg : x0 + inset;
        const double z = (i & 2) ? z1 - inset - leg : z0 + inset;
        sb_box(&s->b, x, 0, z, x + leg, top, z + leg);
    }
}

static void make_table(shape_ctx *s)
{
    /* height <= 0.5 x the longer side "low", >= 1.0 x "tall"; width >= 1.6 x depth "long", <= 1.15 x "square" */
    double w, d, h, e;
    do {
        w = draw(s, 0.8, 2.2);
        d = draw(s, 0.6, 1.4);
        h = draw(s, 0.4, 1.2);
        e = fmax(w, fmax(d, h));
    } while (d > w || fmin(w, d) < e / 3);
    const double t = 0.06 * e, leg = 0.06 * e, inset = 0.04 * e;
    param(s, "width", w);
    param(s, "depth", d);
    param(s, "height", h);
    param(s, "legs", 4);
    sb_box(&s->b, -w / 2, h - t, -d / 2, w / 2, h, d / 2);
    four_legs(s, -w / 2, w / 2, -d / 2, d / 2, inset, leg, h - t);
    const double side = fmax(w, d);
    const char *words[] = {h <= 0.5 * side ? "low" : h >= 1.0 * side ? "tall" : "",
                           w >= 1.6 * d ? "long" : w <= 1.15 * d ? "square" : "", "table"};
    caption(s, words, 3, " with four legs");
}

static void make_chair(shape_ctx *s)
{
    /* back height >= 1.2 x seat depth "a tall back", <= 0.6 x "a low back"; width >= 1.25 x depth "wide" */
    double w, d, sh, bh, e;
    do {
        w = draw(s, 0.4, 0.8);
        d = draw(s, 0.4, 0.7);
        sh = draw(s, 0.35, 0.6);
        bh = draw(s, 0.2, 0.8);
        e = fmax(w, fmax(d, sh + bh));
    } while (fmin(w, d) < 0.4 * e);
    const double t = 0.06 * e, leg = 0.06 * e, inset = 0.04 * e, back = 0.06 * e;
    param(s, "width", w);
    param(s, "depth", d);
    param(s, "seat_height", sh);
    param(s, "back_height", bh);
    param(s, "legs", 4);
    sb_box(&s->b, -w / 2, sh - t, -d / 2, w / 2, sh, d / 2);
    four_legs(s, -w / 2, w / 2, -d / 2, d / 2, inset, leg, sh - t);
    sb_box(&s->b, -w / 2 + inset, sh, d / 2 - inset - back, w / 2 - inset, sh + bh, d / 2 - inset);
    const char *words[] = {w >= 1.25 * d ? "wide" : "", "chair"};
    caption(s, words, 2, bh >= 1.2 * d ? " with a tall back" : bh <= 0.6 * d ? " with a low back" : " with a back");
}

static void make_stool(shape_ctx *s)
{
    /* height >= 2 x the seat's diameter "tall", <= 1.1 x "low" */
    const int legs = draw_int(s, 3, 4), n = draw_int(s, 8, 12);
    double r, h, e, leg;
    do {
        r = draw(s, 0.2, 0.45);
        h = draw(s, 0.3, 1.0);
        e = fmax(2 * r, h);
        leg = 0.06 * e;
    } while (leg > 0.3 * r);
    const double t = 0.06 * e;
    param(s, "legs", legs);
    param(s, "segments", n);
    param(s, "seat_radius", r);
    param(s, "height", h);
    const double radius[] = {r, r}, y[] = {h - t, h};
    sb_revolve(&s->b, radius, y, 2, false, (size_t)n, 0, 0, 0);
    for (int i = 0; i < legs; i++) {
        const double a = PI / 4 + 2 * PI * i / legs, cx = 0.6 * r * cos(a), cz = 0.6 * r * sin(a);
        sb_box(&s->b, cx - leg / 2, 0, cz - leg / 2, cx + leg / 2, h - t, cz + leg / 2);
    }
    char kind[32];
    snprintf(kind, sizeof kind, "%s-legged", number_word(legs));
    const char *words[] = {h >= 4 * r ? "tall" : h <= 2.2 * r ? "low" : "", kind, "stool"};
    caption(s, words, 3, NULL);
}

typedef void (*shape_fn)(shape_ctx *);

static const struct {
    const char *name;
    const char *prompt;
    shape_fn make;
} classes[] = {
    {"cube", "a cube", make_cube},
    {"box", "a box", make_box},
    {"pyramid", "a pyramid", make_pyramid},
    {"prism", "a prism", make_prism},
    {"cylinder", "a cylinder", make_cylinder},
    {"cone", "a cone", make_cone},
    {"truncated_cone", "a truncated cone", make_truncated_cone},
    {"tube", "a tube", make_tube},
    {"uv_sphere", "a uv sphere", make_uv_sphere},
    {"icosphere", "an icosphere", make_icosphere},
    {"torus", "a torus", make_torus},
    {"capsule", "a capsule", make_capsule},
    {"wedge", "a wedge", make_wedge},
    {"star_prism", "a star", make_star_prism},
    {"stairs", "a staircase", make_stairs},
    {"arch", "an arch", make_arch},
    {"table", "a table with four legs", make_table},
    {"chair", "a chair", make_chair},
    {"stool", "a stool", make_stool},
};

#define CLASS_COUNT (sizeof classes / sizeof classes[0])

size_t mg_primitive_class_count(void)
{
    return CLASS_COUNT;
}

const char *mg_primitive_class_name(size_t class_index)
{
    return class_index < CLASS_COUNT ? classes[class_index].name : NULL;
}

const char *mg_primitive_class_prompt(size_t class_index)
{
    return class_index < CLASS_COUNT ? classes[class_index].prompt : NULL;
}

int mg_primitive_class_find(const char *name)
{
    for (size_t i = 0; name && i < CLASS_COUNT; i++)
        if (strcmp(classes[i].name, name) == 0)
            return (int)i;
    return -1;
}

static char *copy_string(const char *text)
{
    size_t n = strlen(text) + 1;
    char *out = malloc(n);
    if (out)
        memcpy(out, text, n);
    return out;
}

mg_status mg_primitive_generate(size_t class_index, uint64_t seed, mg_primitive *out, char *error,
                                size_t error_size)
{
    if (!out || class_index >= CLASS_COUNT) {
        mg_format(error, error_size, "mg_primitive_generate: give an output and a class index below %zu",
                  (size_t)CLASS_COUNT);
        return MG_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    shape_ctx *s = calloc(1, sizeof *s);
    if (!s) {
        mg_format(error, error_size, "out of host memory generating a %s", classes[class_index].name);
        return MG_ERR_OUT_OF_MEMORY;
    }
    sb_init(&s->b);
    /* One stream per (class, seed): mixing the class in keeps the classes' draws independent. */
    s->state = seed ^ (0xD1B54A32D192ED03ull * (class_index + 1));
    s->params[0] = '{';
    s->params_len = 1;
    classes[class_index].make(s);
    if (s->params_len + 2 <= sizeof s->params) {
        s->params[s->params_len++] = '}';
        s->params[s->params_len] = '\0';
    }
    mg_status status = MG_OK;
    if (s->b.failed) {
        mg_format(error, error_size, "out of host memory (or a bad polygon) generating a %s", classes[class_index].name);
        status = MG_ERR_OUT_OF_MEMORY;
    } else {
        out->caption = copy_string(s->caption);
        out->parameters_json = copy_string(s->params);
        out->caption_variants = calloc(s->variant_count ? s->variant_count : 1, sizeof *out->caption_variants);
        bool copied = out->caption && out->parameters_json && out->caption_variants;
        for (size_t v = 0; copied && v < s->variant_count; v++) {
            copied = (out->caption_variants[v] = copy_string(s->variants[v])) != NULL;
            out->caption_variant_count = v + 1;
        }
        if (!copied) {
            mg_format(error, error_size, "out of host memory generating a %s", classes[class_index].name);
            status = MG_ERR_OUT_OF_MEMORY;
        }
    }
    if (status == MG_OK) {
        sb_take(&s->b, &out->mesh);
        out->class_index = class_index;
    } else {
        mg_primitive_free(out);
    }
    sb_release(&s->b);
    free(s);
    return status;
}

void mg_primitive_free(mg_primitive *primitive)
{
    if (!primitive)
        return;
    mg_mesh_free(&primitive->mesh);
    for (size_t v = 0; primitive->caption_variants && v < primitive->caption_variant_count; v++)
        free(primitive->caption_variants[v]);
    free(primitive->caption_variants);
    free(primitive->caption);
    free(primitive->parameters_json);
    memset(primitive, 0, sizeof *primitive);
}
