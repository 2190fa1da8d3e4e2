"""Tiny deterministic photos (相片) for the ``files/`` part of a package: a 16×16 grey PNG whose
pattern comes from the person number, so the same city always has the same bytes."""

from __future__ import annotations

import hashlib
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def photo_png(key: str) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()  # 32 bytes → 16 rows of 2 bytes of pattern
    rows = b"".join(b"\x00" + bytes((seed[y * 2 + (x >> 3)] >> (x & 7) & 1) * 200 + 30 for x in range(16))
                    for y in range(16))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b""))
