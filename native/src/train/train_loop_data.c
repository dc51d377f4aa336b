/* The training loop's data order (train/train_loop.h): the held-out split and the items of each micro-batch,
 * both pure functions of the run's base RNG so that a resumed run sees the same batches. */
#include "train/train_loop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_STREAM 0x7ffffffffffffff1ull

static int compare_sizes(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

mg_status mg_train_split(size_t count, const mg_rng *base, double val_fraction, size_t val_max, size_t **out_train,
                         size_t *out_train_count, size_t **out_val, size_t *out_val_count, mg_diag *diag)
{
    *out_train = *out_val = NULL;
    *out_train_count = *out_val_count = 0;
    if (count == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "training: the data set has no meshes");
    if (!(val_fraction >= 0.0 && val_fraction < 1.0))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "training: the validation share must lie in [0, 1); got %g",
                       val_fraction);
    size_t val = 0;
    if (val_fraction > 0.0 && count >= 2) {
        val = (size_t)ceil(val_fraction * (double)count);
        if (val < 1)
            val = 1;
        if (val_max && val > val_max)
            val = val_max;
        if (val > count - 1)
            val = count - 1; /* at least one item to train on */
    }
    size_t *order = malloc(count * sizeof *order);
    size_t *train = malloc((count - val) * sizeof *train);
    size_t *held = val ? malloc(val * sizeof *held) : NULL;
    if (!order || !train || (val && !held)) {
        free(order);
        free(train);
        free(held);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory splitting the data set");
    }
    for (size_t i = 0; i < count; i++)
        order[i] = i;
    mg_rng rng = mg_rng_fork(base, SPLIT_STREAM);
    mg_rng_shuffle_sizes(&rng, order, count);
    if (val)
        memcpy(held, order, val * sizeof *held);
    memcpy(train, order + val, (count - val) * sizeof *train);
    free(order);
    qsort(train, count - val, sizeof *train, compare_sizes);
    if (val)
        qsort(held, val, sizeof *held, compare_sizes);
    *out_train = train;
    *out_train_count = count - val;
    *out_val = held;
    *out_val_count = val;
    return MG_OK;
}

/* Items sorted by length within a chunk; ties keep their shuffled order, so the result is the same on every
 * platform (qsort is not stable). */
typedef struct {
    size_t length, position, item;
} length_key;

static int compare_length_keys(const void *a, const void *b)
{
    const length_key *x = a, *y = b;
    if (x->length != y->length)
        return x->length < y->length ? -1 : 1;
    return x->position < y->position ? -1 : x->position > y->position;
}

/* Rearranges one epoch's shuffled items (the first per_epoch * batch of them) into batches of similar length:
 * chunks of MG_TRAIN_LENGTH_GROUP_BATCHES batches are sorted by length and cut into batches, then the order of
 * all the epoch's batches is shuffled with `rng`, so that an epoch does not run short-to-long chunk by chunk. */
static mg_status group_by_length(size_t *order, size_t per_epoch, size_t batch, const size_t *lengths, mg_rng *rng,
                                 mg_diag *diag)
{
    size_t used = per_epoch * batch, chunk = MG_TRAIN_LENGTH_GROUP_BATCHES * batch;
    length_key *keys = malloc(used * sizeof *keys);
    size_t *batch_order = malloc(per_epoch * sizeof *batch_order);
    if (!keys || !batch_order) {
        free(keys);
        free(batch_order);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory ordering an epoch");
    }
    for (size_t i = 0; i < used; i++)
        keys[i] = (length_key){lengths[order[i]], i, order[i]};
    for (size_t first = 0; first < used; first += chunk)
        qsort(keys + first, (used - first < chunk ? used - first : chunk), sizeof *keys, compare_length_keys);
    for (size_t b = 0; b < per_epoch; b++)
        batch_order[b] = b;
    mg_rng_shuffle_sizes(rng, batch_order, per_epoch);
    for (size_t b = 0; b < per_epoch; b++)
        for (size_t j = 0; j < batch; j++)
            order[b * batch + j] = keys[batch_order[b] * batch + j].item; /* keys hold their own copy */
    free(keys);
    free(batch_order);
    return MG_OK;
}

mg_status mg_train_microbatch_items(const size_t *train, size_t train_count, size_t batch, const size_t *lengths,
                                    const mg_rng *base, uint64_t m, size_t *out_indices, uint64_t *out_epoch,
                                    mg_diag *diag)
{
    if (batch == 0 || batch > train_count)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "training: a batch of %zu meshes needs at least that many "
                       "training meshes; there are %zu (lower --batch)", batch, train_count);
    uint64_t per_epoch = train_count / batch;
    uint64_t epoch = m / per_epoch, first = (m % per_epoch) * batch;
    size_t *order = malloc(train_count * sizeof *order);
    if (!order)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory ordering an epoch");
    memcpy(order, train, train_count * sizeof *order);
    mg_rng rng = mg_rng_fork(base, epoch);
    mg_rng_shuffle_sizes(&rng, order, train_count);
    mg_status status = lengths ? group_by_length(order, (size_t)per_epoch, batch, lengths, &rng, diag) : MG_OK;
    if (status == MG_OK)
        memcpy(out_indices, order + first, batch * sizeof *out_indices);
    free(order);
    if (status == MG_OK && out_epoch)
        *out_epoch = epoch;
    return status;
}
