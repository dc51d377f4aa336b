#!/usr/bin/env python3
"""Writes native/src/text/unicode_tables.c: the Unicode facts BERT's tokenizer needs, from Python's unicodedata.

BERT's reference tokenizer (Hugging Face's slow BertTokenizer) classifies characters with Python's unicodedata
and str methods; this script stores exactly those facts, compactly:

  * character classes as ranges (start code point << 8 | flags): category C* (removed as control), Zs (a space),
    punctuation (category P* or BERT's ASCII symbol rule), Mn (dropped when accents are stripped), canonical
    combining class != 0 (takes part in canonical reordering) and Python's str.isspace (str.split() splits there);
  * lower-casing (str.lower() of one character) as ranges with a constant delta, plus the one-to-many mappings;
  * canonical decompositions (NFD, fully recursive) with the Mn marks already removed, i.e. what
    "NFD, then drop Mn" leaves of each character that can still be there then (not of upper-case letters,
    controls and spaces: the text was lower-cased and cleaned before); a removed mark of combining class 0
    leaves a run-break marker (0x110000), because it ends a reordering run; Hangul syllables are decomposed
    algorithmically in C;
  * the combining classes of the characters that survive accent stripping yet still reorder (a few Mc marks).

The generated tables match the Unicode version of the Python that runs this script; the reference bundle used
Python 3.11 (Unicode 14.0.0) and the script refuses another version unless --any-version is given.

Usage: scripts/make_unicode_tables.py [--any-version] [OUTPUT]   (default native/src/text/unicode_tables.c)
"""
import os
import sys
import unicodedata as ud

MAX_CP = 0x110000
FLAG_CONTROL, FLAG_ZS, FLAG_PUNCT, FLAG_MN, FLAG_CCC, FLAG_PYSPACE = 1, 2, 4, 8, 16, 32
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def flags_of(cp):
    ch = chr(cp)
    cat = ud.category(ch)
    flags = 0
    if cat.startswith("C"):
        flags |= FLAG_CONTROL
    if cat == "Zs":
        flags |= FLAG_ZS
    # BERT's _is_punctuation: every non-alphanumeric ASCII symbol, and every Unicode P* category.
    if cat.startswith("P") or 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        flags |= FLAG_PUNCT
    if cat == "Mn":
        flags |= FLAG_MN
    if ud.combining(ch):
        flags |= FLAG_CCC
    if ch.isspace():
        flags |= FLAG_PYSPACE
    return flags


RUN_BREAK = 0x110000  # in the pool: a dropped Mn of combining class 0 stood here (it ends a reordering run)


def nfd_without_marks(cp):
    """NFD of one character with every Mn removed (the decomposition is in canonical order already); a removed
    mark of combining class 0 leaves RUN_BREAK behind."""
    out = []
    for c in ud.normalize("NFD", chr(cp)):
        if ud.category(c) != "Mn":
            out.append(ord(c))
        elif ud.combining(c) == 0:
            out.append(RUN_BREAK)
    return out


def main():
    args = [a for a in sys.argv[1:] if a != "--any-version"]
    if ud.unidata_version != "14.0.0" and "--any-version" not in sys.argv:
        sys.exit(f"unicodedata is version {ud.unidata_version}; the reference used 14.0.0 (pass --any-version)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = args[0] if args else os.path.join(root, "native", "src", "text", "unicode_tables.c")

    flags = [flags_of(cp) for cp in range(MAX_CP)]
    ranges = []
    for cp in range(MAX_CP):
        if not ranges or ranges[-1][1] != flags[cp]:
            ranges.append((cp, flags[cp]))

    lower_single, lower_multi = [], []
    for cp in range(MAX_CP):
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        # The C code relies on these: lower-casing is idempotent and never makes a control, space or CJK character.
        assert low.lower() == low, hex(cp)
        for c in low:
            assert not (flags[ord(c)] & (FLAG_CONTROL | FLAG_ZS | FLAG_PYSPACE)), hex(cp)
        if len(low) == 1:
            lower_single.append((cp, ord(low) - cp))
        else:
            lower_multi.append((cp, [ord(c) for c in low]))
    lower_ranges = []  # [first, last, stride, delta]
    for cp, delta in lower_single:
        last = lower_ranges[-1] if lower_ranges else None
        if last and last[3] == delta and cp - last[1] in (1, 2) and (last[2] in (0, cp - last[1])):
            last[2] = cp - last[1]
            last[1] = cp
        else:
            lower_ranges.append([cp, cp, 0, delta])
    for r in lower_ranges:
        r[2] = r[2] or 1

    decomp, pool = [], []
    kept_ccc = {}
    for cp in range(MAX_CP):
        if HANGUL_FIRST <= cp <= HANGUL_LAST:
            continue
        full = ud.normalize("NFD", chr(cp))
        if full == chr(cp):
            continue
        if flags[cp] & (FLAG_CONTROL | FLAG_ZS | FLAG_PYSPACE):
            continue  # removed or a space before accents are stripped (U+2000 -> U+2002 is never needed)
        if chr(cp).lower() != chr(cp):
            continue  # lower-cased before accents are stripped: only its lower case is ever decomposed
        kept = nfd_without_marks(cp)
        if flags[cp] & FLAG_MN:
            # A mark decomposes to marks only: the C code drops Mn characters without looking them up.
            assert not [c for c in kept if c != RUN_BREAK], hex(cp)
            continue
        for c in full:
            # A decomposition never yields a control character or a space.
            assert not (flags[ord(c)] & (FLAG_CONTROL | FLAG_ZS | FLAG_PYSPACE)), hex(cp)
        decomp.append((cp, len(pool), len(kept)))
        pool.extend(kept)
    for cp in range(MAX_CP):
        if flags[cp] & FLAG_CCC and not flags[cp] & FLAG_MN:
            kept_ccc[cp] = ud.combining(chr(cp))
    assert len(pool) < 65536 and max(d[2] for d in decomp) < 256

    lines = []
    w = lines.append
    w("/* Generated by scripts/make_unicode_tables.py from Python's unicodedata "
      f"(Unicode {ud.unidata_version}): do not edit. */")
    w('#include "text/unicode_tables.h"')
    w("")
    w(f"const uint32_t mg_uc_class_ranges[{len(ranges)}] = {{")
    for i in range(0, len(ranges), 8):
        w("    " + " ".join(f"0x{(cp << 8) | f:08x}u," for cp, f in ranges[i:i + 8]))
    w("};")
    w(f"const size_t mg_uc_class_range_count = {len(ranges)};")
    w("")
    w(f"const mg_uc_lower_range mg_uc_lower_ranges[{len(lower_ranges)}] = {{")
    for i in range(0, len(lower_ranges), 4):
        w("    " + " ".join(f"{{0x{a:05x}, 0x{b:05x}, {s}, {d}}}," for a, b, s, d in lower_ranges[i:i + 4]))
    w("};")
    w(f"const size_t mg_uc_lower_range_count = {len(lower_ranges)};")
    w("")
    w(f"const mg_uc_lower_multi mg_uc_lower_multis[{len(lower_multi)}] = {{")
    for cp, seq in lower_multi:
        assert len(seq) <= 3
        w(f"    {{0x{cp:05x}, {len(seq)}, {{" + ", ".join(f"0x{c:05x}" for c in seq) + "}},")
    w("};")
    w(f"const size_t mg_uc_lower_multi_count = {len(lower_multi)};")
    w("")
    w(f"const mg_uc_decomposition mg_uc_decompositions[{len(decomp)}] = {{")
    for i in range(0, len(decomp), 6):
        w("    " + " ".join(f"{{0x{cp:05x}, {off}, {n}}}," for cp, off, n in decomp[i:i + 6]))
    w("};")
    w(f"const size_t mg_uc_decomposition_count = {len(decomp)};")
    w("")
    w(f"const uint32_t mg_uc_decomposition_pool[{len(pool)}] = {{")
    for i in range(0, len(pool), 10):
        w("    " + " ".join(f"0x{c:05x}," for c in pool[i:i + 10]))
    w("};")
    w("")
    w(f"const mg_uc_combining_class mg_uc_kept_combining_classes[{len(kept_ccc)}] = {{")
    items = sorted(kept_ccc.items())
    for i in range(0, len(items), 6):
        w("    " + " ".join(f"{{0x{cp:05x}, {c}}}," for cp, c in items[i:i + 6]))
    w("};")
    w(f"const size_t mg_uc_kept_combining_class_count = {len(kept_ccc)};")
    with open(out_path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out_path}: {len(ranges)} class ranges, {len(lower_ranges)} lower-case ranges, "
          f"{len(decomp)} decompositions ({len(pool)} code points), {len(kept_ccc)} kept combining classes")


if __name__ == "__main__":
    main()
