/* mg_render_image / mg_render_png: previews of a mesh, one view or four (three-quarter, front, side, top). */
#include "render/png_write.h"
#include "render/raster.h"

#include <stdlib.h>
#include <string.h>

#define MAX_VIEW_PIXELS 4096
#define SUPERSAMPLING 3

mg_render_params mg_render_default_params(void)
{
    mg_render_params params = {.size = 256, .views = 4, .up = 'y', .edges = true};
    return params;
}

/* Views in reading order: the three-quarter view first, as the single view. */
static const mg_view views[4] = {{35.0f, 25.0f}, {0.0f, 0.0f}, {90.0f, 0.0f}, {0.0f, 90.0f}};

static mg_status render(const mg_mesh *mesh, const mg_render_params *given, uint8_t **out_rgba, uint32_t *out_width,
                        uint32_t *out_height, mg_diag *diag)
{
    mg_render_params p = given ? *given : mg_render_default_params();
    if (p.size < 16 || p.size > MAX_VIEW_PIXELS)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "render: size %u is out of range: use 16 to %d pixels per view",
                       p.size, MAX_VIEW_PIXELS);
    if (p.views != 1 && p.views != 4)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "render: %u views: use 1 (three-quarter) or 4 (three-quarter, "
                       "front, side, top)", p.views);
    if (p.up != 'y' && p.up != 'z')
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "render: the up axis must be 'y' or 'z'");
    mg_raster_frame frame;
    mg_status status = mg_raster_frame_of(mesh, p.up == 'z' ? 2 : 1, &frame, diag);
    if (status != MG_OK)
        return status;
    const uint32_t columns = p.views == 4 ? 2 : 1;
    const uint32_t width = columns * p.size, height = columns * p.size;
    uint8_t *image = calloc((size_t)width * height, 4);
    if (!image)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory for a %ux%u preview", width, height);
    for (uint32_t v = 0; v < p.views && status == MG_OK; v++)
        status = mg_raster_view(mesh, &frame, views[v], p.edges, p.size, SUPERSAMPLING, image, width,
                                (v % columns) * p.size, (v / columns) * p.size, diag);
    if (status != MG_OK) {
        free(image);
        return status;
    }
    /* A thin grey line between the views. */
    for (uint32_t i = 0; columns == 2 && i < width; i++)
        for (int c = 0; c < 3; c++) {
            image[((size_t)p.size * width + i) * 4 + c] = 200;
            image[((size_t)i * width + p.size) * 4 + c] = 200;
        }
    *out_rgba = image;
    *out_width = width;
    *out_height = height;
    return MG_OK;
}

/* The public entry points report through a local diag into the caller's buffer, like mg_mesh_read. */
static void finish(mg_diag *diag, mg_status status, char *error, size_t error_size)
{
    if (status != MG_OK)
        mg_diag_copy_error(diag, error, error_size);
    mg_diag_destroy(diag);
}

mg_status mg_render_image(const mg_mesh *mesh, const mg_render_params *params, uint8_t **out_rgba,
                          uint32_t *out_width, uint32_t *out_height, char *error, size_t error_size)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    if (error && error_size)
        error[0] = '\0';
    mg_status status;
    if (!out_rgba || !out_width || !out_height)
        status = mg_fail(&diag, MG_ERR_INVALID_ARGUMENT, "mg_render_image: the outputs must not be NULL");
    else {
        *out_rgba = NULL;
        status = render(mesh, params, out_rgba, out_width, out_height, &diag);
    }
    finish(&diag, status, error, error_size);
    return status;
}

mg_status mg_render_png(const mg_mesh *mesh, const mg_render_params *params, const char *path, char *error,
                        size_t error_size)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    if (error && error_size)
        error[0] = '\0';
    uint8_t *image = NULL;
    uint32_t width = 0, height = 0;
    mg_status status = path ? render(mesh, params, &image, &width, &height, &diag)
                            : mg_fail(&diag, MG_ERR_INVALID_ARGUMENT, "mg_render_png: path must not be NULL");
    if (status == MG_OK)
        status = mg_png_write(path, image, width, height, &diag);
    free(image);
    finish(&diag, status, error, error_size);
    return status;
}

void mg_image_free(uint8_t *rgba)
{
    free(rgba);
}
