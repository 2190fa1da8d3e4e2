"""The inbox and where packages go from it: quarantine (with a reason file) and backup.

A package is complete only when its marker ``<BATCH_ID>.zip.ok`` sits beside the zip
(package-format.md, "Delivery"); a zip without its marker is still being uploaded and is never
touched. Packages leave the inbox by ``os.replace`` (atomic within one file system; a copy then
rename across file systems), and nothing here ever deletes one: a name already taken in the
target folder gets a ``.<n>`` suffix instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dz_assets.province.delivery.registry import BatchName

MARKER_SUFFIX = ".ok"
HASH_CHUNK = 1 << 20  # 1 MiB reads: hashing runs at disk speed, memory flat


@dataclass(frozen=True)
class InboxPackage:
    """A complete package in the inbox: zip and marker."""

    zip_path: Path
    marker_path: Path

    @property
    def batch_id(self) -> str:
        return self.zip_path.name[: -len(".zip")]


def marker_of(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.name + MARKER_SUFFIX)


def apply_order(p: InboxPackage) -> tuple:
    """Per source, BATCH_ID order (date, then NNNN); names that are no batch id come last."""
    n = BatchName.parse(p.batch_id)
    return (0, n.source, n.day, n.no) if n else (1, p.batch_id)


def scan_inbox(inbox: Path) -> list[InboxPackage]:
    """Complete packages (zip + marker) in the inbox, in apply order. Zips without a marker are left."""
    if not inbox.is_dir():
        return []
    found = [InboxPackage(p, marker_of(p)) for p in inbox.iterdir()
             if p.is_file() and p.name.endswith(".zip") and marker_of(p).is_file()]
    return sorted(found, key=apply_order)


def sha256_file(path: Path) -> tuple[str, int]:
    """(lowercase hex SHA-256, size in bytes) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def copy_hashed(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst`` and return the SHA-256 of the bytes copied (one read, not two)."""
    h = hashlib.sha256()
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(HASH_CHUNK):
            h.update(chunk)
            fout.write(chunk)
    shutil.copystat(src, dst)
    return h.hexdigest()


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists() or target.with_name(target.name + MARKER_SUFFIX).exists():
        target = folder / f"{name}.{n}"
        n += 1
    return target


def _move(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError:  # another file system: copy beside the target, then rename into place
        tmp = dst.with_name(dst.name + ".part")
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)
        src.unlink()


def move_package(zip_path: Path, folder: Path) -> Path:
    """Move the zip and its marker (if any) into ``folder``; returns the zip's new path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, zip_path.name)
    marker = marker_of(zip_path)
    _move(zip_path, target)
    if marker.exists():
        _move(marker, target.with_name(target.name + MARKER_SUFFIX))
    return target


def quarantine(zip_path: Path, folder: Path, *, batch_id: str | None, errors: list[dict[str, Any]],
               reason: str) -> Path:
    """Set a package aside with ``<zip>.reason.json`` beside it (what was wrong, and when)."""
    target = move_package(zip_path, folder)
    body = {"batch_id": batch_id, "reason": reason, "errors": errors,
            "quarantined_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "from": str(zip_path)}
    target.with_name(target.name + ".reason.json").write_text(
        json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return target


def backup(zip_path: Path, folder: Path) -> Path:
    """Keep a processed package in the backup folder, under ``<YYYYMMDD>/`` of its batch date."""
    name = zip_path.name
    day = name.split("-")[2] if name.count("-") >= 3 else "other"
    return move_package(zip_path, folder / day)
