/*
 * A small software rasterizer for mesh previews: orthographic views, a depth
 * buffer, Lambert shading from a head light, back faces in a warning colour
 * (so flipped winding shows), and face edges drawn darker. Pure C, no GPU: a
 * preview must work wherever the library runs.
 */
#ifndef MG_RENDER_RASTER_H
#define MG_RENDER_RASTER_H

#include "core/diag.h"
#include "meshgpt.h"

#include <stdint.h>

typedef struct mg_view {
    float azimuth_deg;   /* around the up axis, 0 = looking along -forward (the front view) */
    float elevation_deg; /* above the horizon, 90 = looking straight down */
} mg_view;

/* The mesh's placement shared by every view, so that views of one mesh have one scale. */
typedef struct mg_raster_frame {
    float center[3];
    float radius;        /* of the bounding sphere around center; > 0 */
    int up_axis;         /* 1 (y) or 2 (z) */
} mg_raster_frame;

/* The frame of a mesh: checks indices and coordinates (finite) first. */
mg_status mg_raster_frame_of(const mg_mesh *mesh, int up_axis, mg_raster_frame *frame, mg_diag *diag);

/*
 * Renders one view into the size x size RGBA block of `image` (row stride
 * `stride` pixels) at (x0, y0), supersampled `samples` x `samples` per pixel.
 */
mg_status mg_raster_view(const mg_mesh *mesh, const mg_raster_frame *frame, mg_view view, bool edges,
                         uint32_t size, uint32_t samples, uint8_t *image, uint32_t stride, uint32_t x0, uint32_t y0,
                         mg_diag *diag);

/* Colours (RGB, 0-255) of the background, front faces and back faces. */
extern const uint8_t mg_raster_background[3];
extern const uint8_t mg_raster_front[3];
extern const uint8_t mg_raster_back[3];

#endif
