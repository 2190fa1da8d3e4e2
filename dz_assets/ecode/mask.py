"""segno's choice of data mask, computed with numpy: the same mask, in a tenth of the time.

ISO/IEC 18004 has an encoder try all eight data masks and keep the one with the lowest penalty
(runs of one colour, 2×2 blocks, finder-like patterns, dark proportion). segno does this in pure
Python, module by module: 6.8 of the 8.7 ms a code took (a whole-city first issue of 1M codes
spent ~1.6 h of CPU on it). Here the masked candidates are one numpy array and the penalties are
array sums; only the finder-like pattern search stays a byte search, as in segno, because its
skip rule decides which overlapping matches count.

The result is segno's, not an approximation: ``install()`` replaces segno's
``find_and_apply_best_mask`` for full-size QR codes only (Micro QR and an explicit mask go to
segno's own), and tests/unit/test_qr_mask.py compares both on codes of every size the template
can give. segno is pinned to its 1.6 line for that reason.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import segno.encoder as enc

_N3_PATTERN = bytes((1, 0, 1, 1, 1, 0, 1))
_segno_find_and_apply_best_mask = enc.find_and_apply_best_mask


@cache
def _layout(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(encoding region as bool, the eight masks restricted to it as uint8) of a size."""
    fm = enc.make_matrix(size, size)
    enc.add_finder_patterns(fm, size, size)
    enc.add_alignment_patterns(fm, size, size)
    fm[-8][8] = 0x1  # the dark module is a function module
    region = np.frombuffer(b"".join(fm), dtype=np.uint8).reshape(size, size) > 1
    i, j = np.indices((size, size))
    masks = np.stack([np.vectorize(fn)(i, j) for fn in enc.get_data_mask_functions(False)])
    return region, (masks & region).astype(np.uint8)


def _run_penalty(a: np.ndarray) -> np.ndarray:
    """N1 per candidate: each run of 5 or more same-coloured modules along a row costs its length
    minus 2. ``a`` is (candidates, rows, cols); a sentinel column keeps runs inside their row."""
    k, h, w = a.shape
    padded = np.full((k, h, w + 1), 255, dtype=np.uint8)
    padded[:, :, :w] = a
    flat = padded.reshape(-1)
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    lengths = np.diff(np.append(starts, flat.size))
    long = lengths >= 5
    return np.bincount(starts[long] // (h * (w + 1)), weights=lengths[long] - 2, minlength=k).astype(np.int64)


def _n3(seq: bytes, size: int) -> int:
    """segno's finder-like pattern count of one row or column, with its skip rule."""
    count = 0
    idx = seq.find(_N3_PATTERN)
    while idx != -1:
        offset = idx + 7
        if idx in (0, size - 7) or not any(seq[max(idx - 4, 0):min(idx, size)]) \
                or not any(seq[max(offset, 0):min(offset + 4, size)]):
            count += 40
        else:
            offset = idx + 4
        idx = seq.find(_N3_PATTERN, offset)
    return count


def penalties(candidates: np.ndarray) -> list[int]:
    """The ISO penalty of each candidate matrix (candidates, size, size), as segno scores it."""
    k, size, _ = candidates.shape
    n1 = _run_penalty(candidates) + _run_penalty(candidates.transpose(0, 2, 1).copy())
    c = candidates
    same = (c[:, :-1, :-1] == c[:, 1:, :-1]) & (c[:, :-1, :-1] == c[:, :-1, 1:]) & (c[:, :-1, :-1] == c[:, 1:, 1:])
    n2 = same.sum(axis=(1, 2)) * 3
    dark = c.sum(axis=(1, 2), dtype=np.int64)
    out = []
    for m in range(k):
        rows = c[m]
        cols = np.ascontiguousarray(rows.T)
        n3 = sum(_n3(rows[r].tobytes(), size) + _n3(cols[r].tobytes(), size) for r in range(size))
        percent = float(dark[m]) / (size ** 2)
        n4 = 10 * int(abs(percent * 100 - 50) / 5)
        out.append(int(n1[m]) + int(n2[m]) + n3 + n4)
    return out


def find_and_apply_best_mask(matrix, width, height, proposed_mask=None):
    """Drop-in for segno's function of the same name (same arguments, same result)."""
    if proposed_mask is not None or width != height or width < 21:
        return _segno_find_and_apply_best_mask(matrix, width, height, proposed_mask)
    region, masks = _layout(width)
    base = np.frombuffer(b"".join(matrix), dtype=np.uint8).reshape(height, width)
    candidates = base[None, :, :] ^ masks
    scores = penalties(candidates)
    best = scores.index(min(scores))  # the first of equal scores, as segno keeps
    return best, tuple(bytearray(row.tobytes()) for row in candidates[best])


def install() -> None:
    """Make segno choose masks with this module (idempotent; full-size QR codes only)."""
    enc.find_and_apply_best_mask = find_and_apply_best_mask


def uninstall() -> None:
    enc.find_and_apply_best_mask = _segno_find_and_apply_best_mask
