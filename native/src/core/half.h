/* IEEE 754 binary16 <-> binary32 conversion, round to nearest even, as the GPU's
 * packHalf2x16 / unpackHalf2x16 and PyTorch's .half() do. */
#ifndef MG_CORE_HALF_H
#define MG_CORE_HALF_H

#include <stddef.h>
#include <stdint.h>

float mg_half_to_float(uint16_t h);
uint16_t mg_float_to_half(float f);
void mg_half_to_float_array(const uint16_t *src, float *dst, size_t count);
void mg_float_to_half_array(const float *src, uint16_t *dst, size_t count);

#endif
