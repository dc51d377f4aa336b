/*
 * Mesh-validity constraints on generation: an accept callback for mg_tf_generate that refuses a vertex's
 * last token when the vertex would make its face degenerate (a repeated or collinear corner) or a copy of an
 * earlier face, or one of its edges shared by a third face or run twice in the same direction (which would
 * make the surface non-manifold or inconsistently oriented). Vertices are compared by the discrete
 * coordinates the autoencoder decodes them to, face by face, as mg_decode does: exact for an autoencoder
 * whose decoder reads each face on its own (the coordinate code); for one whose decoder mixes neighbouring
 * faces it is the vertex as it decodes alone, a close guide rather than a guarantee.
 */
#ifndef MG_API_GENERATE_CONSTRAINT_H
#define MG_API_GENERATE_CONSTRAINT_H

#include "model/model.h"
#include "model/tf_generate.h"

typedef struct mg_gen_constraint mg_gen_constraint;

/*
 * State for `rows` generated rows of the model's faces. refuse_invalid: the accept callback refuses as above
 * (false: it takes every token). vertex_reuse >= 1: the adjust callback multiplies the probability of each
 * token that continues the codes of a vertex the row already has by this (1: no change), since most of a
 * mesh's vertex mentions repeat a vertex, and a transformer that misses one code of a repeat by a little
 * leaves a loose triangle.
 */
mg_status mg_gen_constraint_create(mg_model *model, size_t rows, bool refuse_invalid, float vertex_reuse,
                                   mg_gen_constraint **out);
void mg_gen_constraint_free(mg_gen_constraint *constraint);

/* The mg_tf_adjust_fn; `user` is the mg_gen_constraint. */
mg_status mg_gen_constraint_adjust(void *user, size_t row, const int32_t *tokens, size_t length, float *logits);

/* The mg_tf_accept_fn; `user` is the mg_gen_constraint. */
mg_status mg_gen_constraint_accept(void *user, size_t row, const int32_t *tokens, size_t length, int32_t token,
                                   bool *accept);

/* How many tokens the constraint refused, over all rows so far. */
size_t mg_gen_constraint_refusals(const mg_gen_constraint *constraint);

#endif
