"""The numpy mask chooser gives segno's own codes, bit for bit, at every size the e-code URLs and
longer contents give (versions 2 to 10), and leaves Micro QR and explicit masks to segno."""

from __future__ import annotations

import random

import segno

from dz_assets.ecode import mask


def _matrix(content: str, **kw) -> tuple[int, tuple]:
    code = segno.make_qr(content, error="m", **kw)
    return code.mask, tuple(bytes(r) for r in code.matrix)


def test_same_mask_and_modules_as_segno():
    rng = random.Random(20261207)
    contents = [f"https://ema.example.invalid/a?c={rng.randrange(10**19):019d}" for _ in range(150)]
    contents += ["".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789/:.?=-") for _ in range(n))
                 for n in rng.choices(range(20, 180), k=150)]
    mask.uninstall()
    expected = [_matrix(c) for c in contents]
    mask.install()
    try:
        got = [_matrix(c) for c in contents]
    finally:
        mask.uninstall()
    versions = {len(m[1]) for m in expected}
    assert len(versions) >= 5, versions  # several sizes, alignment patterns and version info included
    assert {m[0] for m in expected} == set(range(8))  # every mask was chosen somewhere
    assert got == expected


def test_explicit_mask_and_micro_qr_stay_segno_s():
    mask.install()
    try:
        assert segno.make_qr("https://ema.example.invalid/a?c=1", mask=3).mask == 3
        assert segno.make_micro("12345").is_micro
    finally:
        mask.uninstall()
