"""The content-addressed object store for a package's unstructured objects (photos, scans).

Each object listed in ``files.tsv`` is stored once under ``DZ_OBJECT_STORE`` as
``<sha256[0:2]>/<sha256[2:4]>/<sha256>``, its hash verified while it streams out of the zip
(package checks verified it already; the store re-checks because it is what it keeps). Metadata
goes to ``meta.object``, and each row that references an object (the loader's ``file_refs``) to
``meta.object_ref``. Storing is idempotent: a re-run or another batch with the same bytes adds
references, never a second copy.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import psycopg

from dz_assets.province.reader.package import Package

COPY_CHUNK = 1 << 20


class ObjectHashMismatch(ValueError):
    pass


def store_path(store: Path, sha256: str) -> Path:
    return store / sha256[:2] / sha256[2:4] / sha256


def put_object(zf: zipfile.ZipFile, member: str, sha256: str, store: Path) -> Path:
    """Copy one member into the store (verifying its hash); a no-op when already stored."""
    target = store_path(store, sha256)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    h = hashlib.sha256()
    with zf.open(member) as src, tmp.open("wb") as dst:
        while chunk := src.read(COPY_CHUNK):
            h.update(chunk)
            dst.write(chunk)
    if h.hexdigest() != sha256:
        tmp.unlink()
        raise ObjectHashMismatch(f"{member}: sha256 {h.hexdigest()}, files.tsv says {sha256}")
    os.replace(tmp, target)
    return target


def store_objects(conn: psycopg.Connection, package: Package, *, batch_id: str, store: Path,
                  refs: Iterable[tuple[str, str, str, str]]) -> int:
    """Store every object of the package (``files.tsv``, as the package checks read it) and link
    the rows that reference it, reading the package's open archive.

    ``refs``: (table_code, row_key, field, member). Returns the number of objects listed.
    """
    listed = {m: (o.sha256, o.size) for m, o in package.objects.items()}
    zf = package.archive()
    stored = [(sha, size, str(put_object(zf, m, sha, store))) for m, (sha, size) in listed.items()]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "insert into meta.object (sha256, bytes, store_path, first_batch) values (%s, %s, %s, %s) "
            "on conflict (sha256) do nothing",
            [(sha, size, path, batch_id) for sha, size, path in stored])
        cur.executemany(
            "insert into meta.object_ref (sha256, batch_id, table_code, row_key, field, member) "
            "values (%s, %s, %s, %s, %s, %s) on conflict (batch_id, table_code, row_key, field) "
            "do update set sha256 = excluded.sha256, member = excluded.member",
            [(listed[m][0], batch_id, t, k, f, m) for t, k, f, m in refs if m in listed])
    return len(listed)
