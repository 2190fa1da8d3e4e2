"""Hostile packages: members streamed into the zip (a 200 MB line costs no 200 MB here), members
whose zip sizes lie, and entries that overlap. Each is otherwise a valid FULL package of
HZ_HJRKJBXX, so the one planted defect is what a verdict must name.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from dz_assets.catalog import load_catalogue
from support.province_builder import Dataset, bcp_line, build_package, person_rows

TABLE = "HZ_HJRKJBXX"
MEMBER = f"{TABLE}_0001.bcp"
INDEX = "GAB_ZIP_INDEX.xml"


def _index(batch_id: str, files: list[tuple[str, int, str]]) -> bytes:
    t = load_catalogue().table(TABLE)
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<MESSAGE version="1">',
           f'  <BATCH id="{batch_id}" kind="FULL" source="{batch_id.split("-")[0]}" division="511700" '
           'created="2026-11-20T02:00:00+08:00"/>',
           f'  <DATASET table="{TABLE}" name="x" encoding="UTF-8" pk="{",".join(t.key)}">']
    for f in t.fields:
        a = f'code="{f.code}" type="{f.type}"' + (f' length="{f.length}"' if f.length else "")
        a += ' required="true"' if f.required else ""
        xml.append(f"    <FIELD {a}/>")
    xml += [f'    <FILE name="{n}" records="{r}" sha256="{s}"/>' for n, r, s in files]
    xml += ["  </DATASET>", "</MESSAGE>"]
    return "\n".join(xml).encode()


def _seal(zip_path: Path) -> Path:
    sha = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    marker = zip_path.with_name(zip_path.name + ".ok")
    marker.write_text(sha + "\n")
    return marker


def _pieces(line_bytes: int, noise: bool) -> Iterator[bytes]:
    """``line_bytes`` of one line's text (no LF), in 1 MiB pieces. ``noise``: bytes that deflate
    only ~2:1, for a line that a compression-ratio limit lets through."""
    piece = 1 << 20
    seed = hashlib.sha256(b"noise").digest()
    done = 0
    while done < line_bytes:
        n = min(piece, line_bytes - done)
        if noise:
            block = hashlib.shake_256(seed + done.to_bytes(8, "big")).hexdigest(n // 2 + 1).encode()[:n]
        else:
            block = b"x" * n
        yield block
        done += n


def long_line_package(out: Path, batch_id: str, line_bytes: int, *, noise: bool = False,
                      line_no: int = 3, rows: int = 5) -> Path:
    """A FULL package whose one data file has ``rows`` good person rows and, at ``line_no``, one
    line of ``line_bytes`` bytes without a line break (the XM field made that long)."""
    out.mkdir(parents=True, exist_ok=True)
    good = [(bcp_line(r) + "\n").encode() for r in person_rows(rows)]
    zip_path = out / f"{batch_id}.zip"
    h = hashlib.sha256()
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(MEMBER, "w", force_zip64=True) as fh:
            def put(b: bytes) -> None:
                h.update(b)
                fh.write(b)
            for line in good[: line_no - 1]:
                put(line)
            put(b"R99999999\t511702195001010011\t")  # key, ID number, then XM without end
            for block in _pieces(line_bytes, noise):
                put(block)
            put(b"\n")
            for line in good[line_no - 1:]:
                put(line)
        zf.writestr(INDEX, _index(batch_id, [(MEMBER, rows + 1, h.hexdigest())]))
    _seal(zip_path)
    return zip_path


def _patch_sizes(zip_path: Path, member: str, *, file_size: int) -> None:
    """Rewrite ``member``'s uncompressed size in its local header and central directory entry
    (CRC and the data left as they are): a member that lies about its size."""
    with zipfile.ZipFile(zip_path) as zf:
        info = zf.getinfo(member)
        entries = zf.infolist()
    assert info.file_size < 0xFFFFFFFF and not info.flag_bits & 0x08, "plain 32-bit sizes, no descriptor"
    data = bytearray(zip_path.read_bytes())
    struct.pack_into("<I", data, info.header_offset + 22, file_size)
    eocd = data.rfind(b"PK\x05\x06")
    (start,) = struct.unpack_from("<I", data, eocd + 16)
    pos = start
    for _ in entries:
        n, m, k = struct.unpack_from("<HHH", data, pos + 28)
        if data[pos + 46: pos + 46 + n].decode() == member:
            struct.pack_into("<I", data, pos + 24, file_size)
        pos += 46 + n + m + k
    zip_path.write_bytes(bytes(data))


def lying_size_package(out: Path, batch_id: str, *, actual: int, declared: int) -> Path:
    """A FULL package whose data file holds ``actual`` bytes of good rows but whose zip entry
    declares ``declared``; the index gives the real file's SHA-256 and line count."""
    rows = person_rows(max(1, actual // 150))
    data = "".join(bcp_line(r) + "\n" for r in rows).encode()
    out.mkdir(parents=True, exist_ok=True)
    zip_path = out / f"{batch_id}.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MEMBER, data)
        zf.writestr(INDEX, _index(batch_id, [(MEMBER, len(rows), hashlib.sha256(data).hexdigest())]))
    _patch_sizes(zip_path, MEMBER, file_size=declared)
    _seal(zip_path)
    return zip_path


def overlapping_package(out: Path, batch_id: str) -> Path:
    """Two data files whose entries overlap: the first (stored) member's bytes are the second's
    local header and data, the construction of non-recursive zip bombs. Both read correctly."""
    rows = person_rows(4)
    second = "".join(bcp_line(r) + "\n" for r in rows[2:]).encode()
    names = (f"{TABLE}_0001.bcp", f"{TABLE}_0002.bcp")

    def local(name: str, body: bytes) -> bytes:
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, zlib.crc32(body), len(body), len(body),
                           len(name), 0) + name.encode()

    lh2 = local(names[1], second)
    first = lh2 + second  # what member 1 reads: not BCP rows, which the index then says
    lh1 = local(names[0], first)
    blob = lh1 + first
    offsets = (0, len(lh1))
    bodies = (first, second)
    cd = b""
    for name, off, body in zip(names, offsets, bodies, strict=True):
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, zlib.crc32(body), len(body),
                          len(body), len(name), 0, 0, 0, 0, 0, off) + name.encode()
    index = _index(batch_id, [(n, b.count(b"\n"), hashlib.sha256(b).hexdigest()) for n, b in zip(names, bodies,
                                                                                                  strict=True)])
    lh_index = local(INDEX, index)
    idx_off = len(blob)
    blob += lh_index + index
    cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, zlib.crc32(index), len(index),
                      len(index), len(INDEX), 0, 0, 0, 0, 0, idx_off) + INDEX.encode()
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 3, 3, len(cd), len(blob), 0)
    out.mkdir(parents=True, exist_ok=True)
    zip_path = out / f"{batch_id}.zip"
    zip_path.write_bytes(blob + cd + eocd)
    _seal(zip_path)
    return zip_path


def plain_package(out: Path, batch_id: str, rows: int = 5):
    """A valid package to compare with."""
    return build_package(out, batch_id, [Dataset(TABLE, person_rows(rows))])
