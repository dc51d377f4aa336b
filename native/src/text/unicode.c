/* Lookups in the generated Unicode tables, and strict UTF-8 decoding. */
#include "text/unicode.h"

bool mg_utf8_decode(const uint8_t *bytes, size_t size, uint32_t *out, size_t *count, size_t *bad_offset)
{
    size_t n = 0, i = 0;
    while (i < size) {
        uint8_t b = bytes[i];
        uint32_t cp;
        size_t length;
        uint32_t min;
        if (b < 0x80) {
            out[n++] = b;
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            cp = b & 0x1F, length = 2, min = 0x80;
        } else if (b >= 0xE0 && b <= 0xEF) {
            cp = b & 0x0F, length = 3, min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF4) {
            cp = b & 0x07, length = 4, min = 0x10000;
        } else {
            *bad_offset = i; /* a continuation byte, an overlong lead (C0, C1) or a lead above U+10FFFF */
            return false;
        }
        for (size_t k = 1; k < length; k++) {
            if (i + k >= size || (bytes[i + k] & 0xC0) != 0x80) {
                *bad_offset = i + k >= size ? i : i + k;
                return false;
            }
            cp = cp << 6 | (bytes[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            *bad_offset = i;
            return false;
        }
        out[n++] = cp;
        i += length;
    }
    *count = n;
    return true;
}

size_t mg_utf8_encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

unsigned mg_uc_flags(uint32_t cp)
{
    /* The last range starting at or before cp. */
    size_t lo = 0, hi = mg_uc_class_range_count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((mg_uc_class_ranges[mid] >> 8) <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return mg_uc_class_ranges[lo] & 0xFF;
}

size_t mg_uc_lower(uint32_t cp, uint32_t out[MG_UC_MAX_EXPANSION])
{
    if (cp < 0x80) {
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }
    for (size_t i = 0; i < mg_uc_lower_multi_count; i++) {
        if (mg_uc_lower_multis[i].code_point == cp) {
            for (size_t k = 0; k < mg_uc_lower_multis[i].length; k++)
                out[k] = mg_uc_lower_multis[i].lower[k];
            return mg_uc_lower_multis[i].length;
        }
    }
    size_t lo = 0, hi = mg_uc_lower_range_count;
    while (lo < hi) { /* the first range whose last >= cp */
        size_t mid = lo + (hi - lo) / 2;
        if (mg_uc_lower_ranges[mid].last < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    out[0] = cp;
    if (lo < mg_uc_lower_range_count) {
        const mg_uc_lower_range *r = &mg_uc_lower_ranges[lo];
        if (cp >= r->first && (cp - r->first) % r->stride == 0)
            out[0] = (uint32_t)((int64_t)cp + r->delta);
    }
    return 1;
}

/* Hangul syllables decompose by formula (Unicode 14, section 3.12). */
#define HANGUL_S_BASE 0xAC00u
#define HANGUL_L_BASE 0x1100u
#define HANGUL_V_BASE 0x1161u
#define HANGUL_T_BASE 0x11A7u
#define HANGUL_V_COUNT 21u
#define HANGUL_T_COUNT 28u
#define HANGUL_S_COUNT 11172u

size_t mg_uc_strip_accents(uint32_t cp, uint32_t out[MG_UC_MAX_EXPANSION])
{
    if (cp < 0xC0) {
        out[0] = cp;
        return 1;
    }
    if (cp >= HANGUL_S_BASE && cp < HANGUL_S_BASE + HANGUL_S_COUNT) {
        uint32_t s = cp - HANGUL_S_BASE;
        out[0] = HANGUL_L_BASE + s / (HANGUL_V_COUNT * HANGUL_T_COUNT);
        out[1] = HANGUL_V_BASE + (s % (HANGUL_V_COUNT * HANGUL_T_COUNT)) / HANGUL_T_COUNT;
        if (s % HANGUL_T_COUNT == 0)
            return 2;
        out[2] = HANGUL_T_BASE + s % HANGUL_T_COUNT;
        return 3;
    }
    size_t lo = 0, hi = mg_uc_decomposition_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mg_uc_decompositions[mid].code_point < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < mg_uc_decomposition_count && mg_uc_decompositions[lo].code_point == cp) {
        const mg_uc_decomposition *d = &mg_uc_decompositions[lo];
        for (size_t k = 0; k < d->length; k++)
            out[k] = mg_uc_decomposition_pool[d->offset + k];
        return d->length;
    }
    out[0] = cp;
    return 1;
}

unsigned mg_uc_kept_combining_class(uint32_t cp)
{
    for (size_t i = 0; i < mg_uc_kept_combining_class_count; i++) {
        if (mg_uc_kept_combining_classes[i].code_point == cp)
            return mg_uc_kept_combining_classes[i].combining_class;
    }
    return 0;
}

bool mg_uc_is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}
