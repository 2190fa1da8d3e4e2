"""A provincial package opened and judged at package level (package-format.md, "What counts as broken").

:func:`open_package` runs every package-level check of the spec without a database and returns a
:class:`Package` with the parsed index, the problems found (verdict error codes), the schema
drift against the catalogue, and access to the zip's members. Row-level proving is ``bcp.py``.
"""

from __future__ import annotations

import hashlib
import stat
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from isal import isal_zlib

from dz_assets.catalog import Catalogue, load_catalogue
from dz_assets.province.reader.index import INDEX_NAME, Dataset, IndexFile, PackageIndex, Problem, parse_index

MARKER_SUFFIX = ".ok"
OBJECTS_DIR = "files/"
OBJECTS_LIST = "files.tsv"
SCAN_THREADS = 2
READ_BLOCK = 4 << 20  # 4 MiB: hashing and line counting run at memory speed above ~1 MiB


@dataclass(frozen=True)
class ObjectEntry:
    path: str
    sha256: str
    size: int


@dataclass
class Package:
    path: Path
    batch_id: str
    sha256: str
    size: int
    index: PackageIndex | None = None
    problems: list[Problem] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    objects: dict[str, ObjectEntry] = field(default_factory=dict)
    # False when opened with deep=False: the data files' SHA-256 and line counts are then checked
    # by whoever reads them next (the FULL loader, in its one pass), not yet.
    members_checked: bool = True
    # The archive, opened once and shared by every reader of the package (see archive()).
    _zip: zipfile.ZipFile | None = field(default=None, init=False, repr=False, compare=False)
    _zip_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def kind(self) -> str | None:
        return self.index.kind if self.index else None

    @property
    def source(self) -> str | None:
        return self.index.source if self.index else None

    @property
    def datasets(self) -> tuple[Dataset, ...]:
        return self.index.datasets if self.index else ()

    def archive(self) -> zipfile.ZipFile:
        """The open archive, its central directory read once for the checks, the loader and the
        object store. A package with 95 000 objects has a 54 MiB directory that takes 0.35 s to
        parse. Re-read for each data file's size and stream, the 5.5M-person city's FULL (227
        files) spent most of its 214 s of user CPU there and peaked at 1.26 GiB. Shared, the load
        took 50 s of user CPU (wall 264 → 109 s) and peaked at 0.85 GiB. Members of one
        ``ZipFile`` may be read from several threads at once: its file reads are serialised under
        its own lock; inflating is not."""
        with self._zip_lock:
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.path)
            return self._zip

    def open_member(self, name: str, *, crc: bool = True) -> IO[bytes]:
        """A zip member as a binary stream (the caller closes it), inflated by ISA-L (0.4 → 0.2 s
        per million person rows). ``crc=False`` skips the CRC-32 for a reader that checks the
        member's SHA-256 itself (``MemberCheck``)."""
        fh = self.archive().open(name)
        if fh._compress_type == zipfile.ZIP_DEFLATED:  # same interface as zlib's raw inflater
            fh._decompressor = isal_zlib.decompressobj(-15)
        if not crc:
            fh._expected_crc = None
        return fh

    def member_size(self, name: str) -> int:
        return self.archive().getinfo(name).file_size

    def close(self) -> None:
        """Release the archive (members still open keep reading until they close)."""
        with self._zip_lock:
            if self._zip is not None:
                self._zip.close()
                self._zip = None


def batch_id_of(path: Path) -> str:
    name = path.name
    return name[: -len(".zip")] if name.endswith(".zip") else name


def not_regular(path: Path) -> str | None:
    """Why ``path`` cannot be read as a package file, or None. A FIFO would block its reader
    forever and a directory or device is no package; a symlink is judged by what it points at."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a file")
    return f"{path}: {kind}, not a regular file"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(READ_BLOCK):
            h.update(block)
    return h.hexdigest()


class MemberCheck:
    """A member stream that hashes and counts what is read through it: the package checks of a
    data file (SHA-256, records = data lines, a last line without LF counting), made in the
    pass that reads it anyway."""

    def __init__(self, stream: IO[bytes], *, count_lines: bool = True) -> None:
        self.stream = stream
        self.count_lines = count_lines  # False: the reader counts them (``problems(lines=…)``)
        self._hash = hashlib.sha256()
        self._lines = self.size = 0
        self._last = b"\n"

    def read(self, n: int = -1) -> bytes:
        block = self.stream.read(n)
        if block:
            self._hash.update(block)
            if self.count_lines:
                self._lines += block.count(b"\n")
            self.size += len(block)
            self._last = block[-1:]
        return block

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    @property
    def lines(self) -> int:
        return self._lines + (self._last != b"\n")

    def problems(self, name: str, f: IndexFile, *, lines: int | None = None) -> list[Problem]:
        """The spec's ``file_checksum`` / ``file_records`` verdicts, once the stream is read out.
        ``lines``: the reader's own count (``bcp.prove_stream``'s line totals are exactly these
        data lines), when the check was told not to count."""
        lines = self.lines if lines is None else lines
        out = []
        if self.sha256 != f.sha256:
            out.append(Problem("file_checksum", f"{name}: SHA-256 is {self.sha256}, the index says {f.sha256}", name))
        if lines != f.records:
            out.append(Problem("file_records", f"{name}: {lines} data lines, the index says "
                               f"records={f.records}", name))
        return out


class MemberCheckFailed(Exception):
    """A data file read by the loader is not what the index declares (a deferred package check)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def scan_member(pkg: Package, name: str, f: IndexFile) -> list[Problem]:
    with pkg.open_member(name, crc=False) as fh:
        check = MemberCheck(fh)
        while check.read(READ_BLOCK):
            pass
    return check.problems(name, f)


def drift_of(ds: Dataset, cat: Catalogue) -> dict | None:
    table = cat.tables.get(ds.table)
    if table is None or not table.fields:
        return None
    declared = [f.code for f in ds.fields]
    known = [f.code for f in table.fields]
    missing = [c for c in known if c not in declared]
    extra = [c for c in declared if c not in known]
    common_declared = [c for c in declared if c in known]
    reordered = common_declared != [c for c in known if c in declared]
    if not (missing or extra or reordered):
        return None
    return {"table": ds.table, "missing": missing, "extra": extra,
            "reordered": common_declared if reordered else []}


def _check_marker(path: Path, marker: Path, sha: str) -> list[Problem]:
    if not marker.exists():
        return [Problem("marker_missing", f"no marker {marker.name} beside the package", marker.name)]
    if why := not_regular(marker):
        return [Problem("marker_mismatch", why, marker.name)]
    try:
        with marker.open("rb") as fh:  # a marker holds 64 hex digits: more is not read
            text = fh.read(4096).decode("ascii", "replace").strip().lower()
    except OSError as exc:
        return [Problem("marker_mismatch", f"{marker}: cannot be read ({exc.strerror})", marker.name)]
    if text != sha:
        return [Problem("marker_mismatch", f"{marker.name} holds {text[:64]!r}, the zip's SHA-256 is {sha}",
                        marker.name)]
    return []


def _check_datasets(pkg: Package, zf: zipfile.ZipFile, cat: Catalogue, deep: bool) -> None:
    idx = pkg.index
    assert idx is not None
    members = {n for n in zf.namelist() if not n.endswith("/")}
    for ds in idx.datasets:
        table = cat.tables.get(ds.table)
        if table is None:
            pkg.problems.append(Problem("unknown_table", f"DATASET table={ds.table!r} is not in the catalogue",
                                        INDEX_NAME))
        else:
            declared = {f.code for f in ds.fields}
            for k in table.key:
                if k not in declared:
                    pkg.problems.append(Problem(
                        "missing_key_field", f"DATASET {ds.table} declares no FIELD {k}, a key field of "
                        f"the table (catalogue key {','.join(table.key)})", INDEX_NAME))
            if d := drift_of(ds, cat):
                pkg.drift.append(d)
        for p in ds.pk:
            if p not in {f.code for f in ds.fields}:
                pkg.problems.append(Problem("missing_key_field",
                                            f"DATASET {ds.table} pk names {p}, which it does not declare", INDEX_NAME))
    for rc in idx.recons:
        if rc.table not in cat.tables:
            pkg.problems.append(Problem("unknown_table", f"RECON table={rc.table!r} is not in the catalogue",
                                        INDEX_NAME))
    listed = idx.files
    present = [n for n in listed if n in members] if deep else []
    # Inflating and hashing release the GIL: two threads use both cores (10 M rows: 6 s -> 3 s).
    with ThreadPoolExecutor(max_workers=SCAN_THREADS) as pool:
        scans = dict(zip(present, pool.map(lambda n: scan_member(pkg, n, listed[n][1]), present), strict=True))
    for name in listed:
        if name not in members:
            pkg.problems.append(Problem("file_missing", f"{name} is listed in the index but not in the zip", name))
        else:
            pkg.problems += scans.get(name, [])
    objects = sorted(n for n in members if n.startswith(OBJECTS_DIR))
    for name in sorted(members - set(listed) - {INDEX_NAME, OBJECTS_LIST} - set(objects)):
        pkg.problems.append(Problem("file_unlisted", f"{name} is in the zip but not listed in the index", name))
    _check_objects(pkg, zf, members, objects)


def _check_objects(pkg: Package, zf: zipfile.ZipFile, members: set[str], objects: list[str]) -> None:
    if OBJECTS_LIST not in members:
        if objects:
            pkg.problems.append(Problem("file_missing", f"{len(objects)} objects under files/ but no "
                                        f"{OBJECTS_LIST} lists them", OBJECTS_LIST))
        return
    for n, line in enumerate(zf.read(OBJECTS_LIST).decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rstrip("\r").split("\t")
        if len(parts) != 3 or not parts[2].isdigit() or not parts[0].startswith(OBJECTS_DIR):
            pkg.problems.append(Problem("index_invalid", f"{OBJECTS_LIST} line {n}: expected "
                                        "files/…<TAB>sha256<TAB>bytes", OBJECTS_LIST))
            continue
        pkg.objects[parts[0]] = ObjectEntry(parts[0], parts[1].lower(), int(parts[2]))
    for name, obj in pkg.objects.items():
        if name not in members:
            pkg.problems.append(Problem("object_missing", f"{name} is listed in {OBJECTS_LIST} but not in the zip",
                                        name))
            continue
        data = zf.read(name)
        sha = hashlib.sha256(data).hexdigest()
        if sha != obj.sha256 or len(data) != obj.size:
            pkg.problems.append(Problem("object_checksum", f"{name}: {len(data)} bytes, SHA-256 {sha}; "
                                        f"{OBJECTS_LIST} says {obj.size} bytes, {obj.sha256}", name))
    for name in objects:
        if name not in pkg.objects:
            pkg.problems.append(Problem("file_unlisted", f"{name} is under files/ but not listed in {OBJECTS_LIST}",
                                        name))


def open_package(zip_path: str | Path, marker_path: str | Path | None = None, *,
                 catalogue: Catalogue | None = None, deep: bool = True, sha256: str | None = None) -> Package:
    """Open ``zip_path`` and run every package-level check (reads every member once).

    ``deep=False`` leaves the data files' SHA-256 and line counts to the one pass that reads them
    (``MemberCheck``; the FULL loader raises ``MemberCheckFailed``, and nothing is swapped in):
    for 10 M rows that saves inflating 1.6 GB a second time. ``sha256``: the zip's, when the
    caller has just hashed it.
    """
    path = Path(zip_path)
    marker = Path(marker_path) if marker_path else path.with_name(path.name + MARKER_SUFFIX)
    why = not_regular(path)
    if why is None and sha256 is None:
        try:
            sha256 = file_sha256(path)
        except OSError as exc:  # e.g. EIO from a /proc file that stat calls regular
            why = f"{path}: cannot be read ({exc.strerror or exc})"
    if why is not None:
        pkg = Package(path=path, batch_id=batch_id_of(path), sha256="", size=0, members_checked=deep)
        pkg.problems.append(Problem("not_zip", why, path.name))
        return pkg
    sha = sha256
    assert sha is not None
    pkg = Package(path=path, batch_id=batch_id_of(path), sha256=sha, size=path.stat().st_size,
                  members_checked=deep)
    pkg.problems += _check_marker(path, marker, sha)
    if not zipfile.is_zipfile(path):
        pkg.problems.append(Problem("not_zip", f"{path.name} is not a zip archive", path.name))
        return pkg
    try:
        zf = pkg.archive()  # kept open: the loader and the object store read the same directory
        if INDEX_NAME not in zf.namelist():
            pkg.problems.append(Problem("index_missing", f"{path.name} holds no {INDEX_NAME}", INDEX_NAME))
            return pkg
        pkg.index, problems = parse_index(zf.read(INDEX_NAME), expected_batch_id=pkg.batch_id)
        pkg.problems += problems
        if pkg.index is not None:
            _check_datasets(pkg, zf, catalogue or load_catalogue(), deep)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a damaged archive that is_zipfile let through
        pkg.problems.append(Problem("not_zip", f"{path.name} cannot be read as a zip: {exc}", path.name))
    return pkg
