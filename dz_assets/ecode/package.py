"""The delivered zip of a QR batch: ``manifest.csv`` and one ``<dzbm>.png`` per address
(spec/ecode-redirect.md, "Daily QR batch (T+1)").

Byte-identical on re-run: entries in a fixed order (the manifest, then the PNGs by ``dzbm`` in
byte order), every entry stamped with the same fixed time and mode, PNGs stored (already
deflated; deflating them again gains <1 %), the manifest deflated. The zip is written beside its
final name as ``.part`` and renamed when complete, so a reader (and retention) never sees half a
batch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dz_assets.ecode.render import RenderedCode

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("dzbm", "dzmc", "xzqh", "gajg", "change", "file", "sha256")
BOM = "\ufeff"  # so that Excel opens the UTF-8 manifest as such


@dataclass(frozen=True)
class BatchAddress:
    """One address a batch holds: what the manifest says of it, and its station for the sheet."""

    dzbm: str
    dzmc: str
    xzqh: str  # the county-level division, 6 digits
    gajg: str
    change: str  # new | changed (a reprint or first issue: "reprint" / "first_issue")
    gajgmc: str | None = None


def byte_order(addresses: Iterable[BatchAddress]) -> list[BatchAddress]:
    return sorted(addresses, key=lambda a: a.dzbm.encode("utf-8"))


def manifest_bytes(rows: list[tuple[BatchAddress, RenderedCode]]) -> bytes:
    """RFC 4180 (CRLF line ends, a field quoted only when it must be), UTF-8 with BOM."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(MANIFEST_COLUMNS)
    for a, code in rows:
        w.writerow((a.dzbm, a.dzmc, a.xzqh, a.gajg, a.change, f"{a.dzbm}.png", code.sha256))
    return (BOM + out.getvalue()).encode("utf-8")


def _entry(name: str, stamp: date, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(max(stamp.year, 1980), stamp.month, stamp.day, 0, 0, 0))
    info.compress_type = compress
    info.create_system = 3  # unix, whatever the platform writing it
    info.external_attr = 0o100644 << 16
    return info


def write_zip(path: Path, rows: list[tuple[BatchAddress, RenderedCode]], stamp: date) -> str:
    """Write the batch's zip to ``path`` (atomically); its SHA-256. ``rows`` in byte order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with zipfile.ZipFile(part, "w") as zf:
        zf.writestr(_entry(MANIFEST, stamp, zipfile.ZIP_DEFLATED), manifest_bytes(rows))
        for a, code in rows:
            zf.writestr(_entry(f"{a.dzbm}.png", stamp, zipfile.ZIP_STORED), code.png)
    digest = file_sha256(part)
    os.replace(part, path)
    return digest


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
