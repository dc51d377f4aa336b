/* Synthetic inputs of the text tests: a small BERT folder with random weights (config.json, vocab.txt,
 * model.safetensors) and a small text-conditioned model. */
#ifndef MG_TEST_SYNTHETIC_BERT_H
#define MG_TEST_SYNTHETIC_BERT_H

#include <stddef.h>

/* Vocabulary ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, "a" 5, "chair" 6, "table" 7. */
#define TEST_BERT_VOCAB 8
#define TEST_BERT_INTER 16
#define TEST_BERT_POSITIONS 16

/* Writes the folder (which must exist): `hidden` wide (a multiple of 8: 8 heads), `layers` layers (0 allowed). */
void test_write_synthetic_bert(const char *folder, size_t hidden, size_t layers);

/* A small random model (autoencoder + transformer conditioned on text through a 'clip' conditioner: dim_text
 * 512) written to `path`, weights uniform in [-scale, scale). */
void test_write_clip_conditioned_model(const char *path, unsigned seed, float scale);

#endif
