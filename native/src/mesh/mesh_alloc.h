/* Releasing the arrays of an mg_mesh the library allocated (mg_mesh_free calls this). */
#ifndef MG_MESH_ALLOC_H
#define MG_MESH_ALLOC_H

#include "meshgpt.h"

/* Frees vertices, faces and face_mask (all malloc'ed) and zeroes the struct. NULL is ignored. */
void mg_mesh_release(mg_mesh *mesh);

#endif
