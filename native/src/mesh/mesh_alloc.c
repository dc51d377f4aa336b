#include "mesh/mesh_alloc.h"

#include <stdlib.h>
#include <string.h>

void mg_mesh_release(mg_mesh *mesh)
{
    if (!mesh)
        return;
    free(mesh->vertices);
    free(mesh->faces);
    free(mesh->face_mask);
    memset(mesh, 0, sizeof *mesh);
}
