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
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from isal import isal_zlib

from dz_assets.catalog import Catalogue, load_catalogue
from dz_assets.catalog.bucket_figures import BUCKETS
from dz_assets.province.reader.index import INDEX_NAME, Dataset, IndexFile, PackageIndex, Problem, parse_index
from dz_assets.settings import PackageLimits, get_package_limits

MARKER_SUFFIX = ".ok"
OBJECTS_DIR = "files/"
OBJECTS_LIST = "files.tsv"
SCAN_THREADS = 2
READ_BLOCK = 4 << 20  # 4 MiB: hashing and line counting run at memory speed above ~1 MiB
INFLATE_ERRORS = (OSError, isal_zlib.error, zlib.error)
RATIO_SLACK = 1 << 20  # bytes any entry may inflate to whatever its ratio: tiny files deflate oddly
DIRECTORY_ENTRY_BYTES = 1024  # a central directory may hold this much per allowed entry
LOCAL_HEADER = 30  # bytes of a local file header before its name and extra field
# A RECON file has one line per non-empty bucket (bucket, rows, 16 hex digits): read whole.
RECON_MAX_BYTES = BUCKETS * 64


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
    limits: PackageLimits = field(default_factory=get_package_limits)
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

    def open_member(self, name: str, *, crc: bool = True) -> MemberStream:
        """A zip member as a binary stream (the caller closes it), inflated by ISA-L (0.4 → 0.2 s
        per million person rows). ``crc=False`` skips the CRC-32 for a reader that checks the
        member's SHA-256 itself (``MemberCheck``). It never yields more than the size the zip
        declares for the member (which ``open_package`` bounded), and raises
        ``MemberCheckFailed`` where the member's data is longer or shorter than that."""
        zf = self.archive()
        info = zf.getinfo(name)
        fh = zf.open(info)
        if fh._compress_type == zipfile.ZIP_DEFLATED:  # same interface as zlib's raw inflater
            fh._decompressor = CountingInflater(isal_zlib.decompressobj(-15))
        if not crc:
            fh._expected_crc = None
        return MemberStream(fh, name, info.file_size)

    def member_size(self, name: str) -> int:
        return self.archive().getinfo(name).file_size

    def close(self) -> None:
        """Release the archive (members still open keep reading until they close)."""
        with self._zip_lock:
            if self._zip is not None:
                self._zip.close()
                self._zip = None


class CountingInflater:
    """A raw inflater that counts what it produced: ``zipfile`` cuts an entry's output at its
    declared size and drops the rest of a read, which this still sees."""

    def __init__(self, inflater) -> None:
        self._d = inflater
        self.produced = 0

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = self._d.decompress(data, max_length)
        self.produced += len(out)
        return out

    def flush(self, *args: int) -> bytes:
        out = self._d.flush(*args)
        self.produced += len(out)
        return out

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unconsumed_tail(self) -> bytes:
        return self._d.unconsumed_tail

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data


class MemberStream:
    """A member's bytes, at most the uncompressed size the zip declares for it. ``zipfile``
    already stops there; this says so when the data goes on (an entry that lies about its size,
    the way a decompression bomb slips past a size check), or ends early, and turns a damaged
    entry's errors into a package-level problem naming the member (``MemberCheckFailed``)."""

    def __init__(self, fh: zipfile.ZipExtFile, name: str, declared: int) -> None:
        self._fh, self.name, self.declared = fh, name, declared
        self.size = 0
        self._done = False

    def __enter__(self) -> MemberStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    def _refuse(self, message: str) -> MemberCheckFailed:
        return MemberCheckFailed([Problem("not_zip", f"{self.name}: {message}", self.name)])

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = max(self.declared - self.size, 0) + 1  # whole, as declared: one block, bounded
        try:
            block = self._fh.read(n)
        except (zipfile.BadZipFile, EOFError, ValueError, *INFLATE_ERRORS) as exc:
            raise self._refuse(f"damaged zip entry: {exc}") from exc
        self.size += len(block)
        if not block and n and not self._done:
            self._done = True
            if self.size != self.declared:
                raise self._refuse(f"the entry's data ends after {self.size} bytes; the zip declares "
                                   f"{self.declared}")
            if self._overflows():
                raise self._refuse(f"the entry's data goes on past the {self.declared} bytes the zip "
                                   "declares (refused: a size that lies is how a zip bomb passes a check)")
        return block

    def _overflows(self) -> bool:
        """Whether the inflater still yields bytes past the declared end (it is asked for one
        byte at a time of what remains: memory stays flat whatever the entry holds)."""
        fh = self._fh
        dec = fh._decompressor
        if not isinstance(dec, CountingInflater):
            return False  # stored: its sizes are checked in the directory
        if dec.produced > self.declared:
            return True
        if dec.eof:
            return False
        tail = dec.unconsumed_tail
        while True:
            if not tail:
                if fh._compress_left <= 0:
                    return False
                tail = fh._read2(min(fh._compress_left, 1 << 16))
                if not tail:
                    return False
            try:
                if dec.decompress(tail, 1):
                    return True
            except INFLATE_ERRORS:  # not deflate past the declared end: still more data than declared
                return True
            if dec.eof:
                return False
            tail = dec.unconsumed_tail


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
    try:
        with pkg.open_member(name, crc=False) as fh:
            check = MemberCheck(fh)
            while check.read(READ_BLOCK):
                pass
    except MemberCheckFailed as exc:
        return exc.problems
    return check.problems(name, f)


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def _check_directory_size(path: Path, limits: PackageLimits) -> list[Problem]:
    """The end record's entry count and directory size, before ``ZipFile`` reads the directory
    into memory (~600 bytes per entry): a zip of millions of empty entries is refused unread."""
    with path.open("rb") as fh:
        end = zipfile._EndRecData(fh)
    if not end:
        return []  # is_zipfile decided already; ZipFile reports what is wrong
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > limits.max_members:
        return [Problem("not_zip", f"{path.name} declares {entries} entries, more than the {limits.max_members} "
                        "a package may hold (DZ_PKG_MAX_MEMBERS); not read", path.name)]
    if size > limits.max_members * DIRECTORY_ENTRY_BYTES:
        return [Problem("not_zip", f"{path.name}: its central directory is {_human(size)}, more than "
                        f"{_human(limits.max_members * DIRECTORY_ENTRY_BYTES)} (DZ_PKG_MAX_MEMBERS entries); "
                        "not read", path.name)]
    return []


def _name_bytes(info: zipfile.ZipInfo) -> int:
    return len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace"))


def _check_entries(zf: zipfile.ZipFile, path: Path, limits: PackageLimits) -> list[Problem]:
    """What the directory says each entry inflates to, against the limits, and whether entries
    share bytes: refused before a byte of any entry is inflated. Overlapping entries (one entry's
    data holding another's header and data) are how a small zip inflates to petabytes; an entry
    is never larger than its ratio allows nor its sizes allow more than its data."""
    out: list[Problem] = []
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        return [Problem("not_zip", f"{path.name} holds {len(infos)} entries, more than the {limits.max_members} "
                        "a package may hold (DZ_PKG_MAX_MEMBERS)", path.name)]
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if name in seen:
            out.append(Problem("not_zip", f"{name} is in the zip more than once", name))
        seen.add(name)
        size, packed = info.file_size, info.compress_size
        total += size
        if size > limits.max_member_bytes:
            out.append(Problem("not_zip", f"{name}: inflates to {_human(size)}, more than the "
                               f"{_human(limits.max_member_bytes)} one entry may (DZ_PKG_MAX_MEMBER_BYTES)", name))
        elif size > limits.max_ratio * packed + RATIO_SLACK:
            out.append(Problem("not_zip", f"{name}: inflates to {_human(size)} from {_human(packed)} "
                               f"({size / max(packed, 1):.0f}:1), above the {limits.max_ratio:g}:1 an entry may "
                               "(DZ_PKG_MAX_RATIO); refused as a decompression bomb", name))
        elif info.compress_type == zipfile.ZIP_STORED and size != packed:
            out.append(Problem("not_zip", f"{name}: a stored entry of {packed} bytes that declares {size}", name))
        elif info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # zipfile inflates bzip2 and LZMA without an output bound per read
            out.append(Problem("not_zip", f"{name}: compression method {info.compress_type}; a package's "
                               "entries are stored or deflated", name))
    if total > limits.max_total_bytes:
        out.append(Problem("not_zip", f"{path.name}: its entries inflate to {_human(total)}, more than the "
                           f"{_human(limits.max_total_bytes)} a package may (DZ_PKG_MAX_TOTAL_BYTES)", path.name))
    # Each entry's local header, name and data (at least this long) must end before the next
    # entry's header and before the central directory.
    spans = sorted((i.header_offset, i.header_offset + LOCAL_HEADER + _name_bytes(i) + i.compress_size, i.filename)
                   for i in infos)
    for (start, end, name), nxt in zip(spans, [*spans[1:], None], strict=True):
        if nxt is not None and end > nxt[0]:
            out.append(Problem("not_zip", f"{name}: its data (bytes {start}-{end}) overlaps the entry {nxt[2]} "
                               f"at byte {nxt[0]}; refused (overlapping entries are a zip bomb)", name))
        elif nxt is None and end > zf.start_dir:
            out.append(Problem("not_zip", f"{name}: its data (bytes {start}-{end}) runs into the central "
                               f"directory at byte {zf.start_dir}", name))
    return out


def read_small(pkg: Package, name: str, what: str) -> tuple[bytes | None, list[Problem]]:
    """A member read whole (the index, files.tsv): at most ``max_index_bytes``."""
    size = pkg.member_size(name)
    limit = pkg.limits.max_index_bytes
    if size > limit:
        return None, [Problem("index_invalid", f"{name}: {_human(size)}, more than the {_human(limit)} {what} may "
                              "be (DZ_PKG_MAX_INDEX_BYTES); not read", name)]
    try:
        with pkg.open_member(name) as fh:
            return fh.read(), []
    except MemberCheckFailed as exc:
        return None, exc.problems


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
    for rc in idx.recons:
        for f in rc.files:
            if f.name in members and (size := pkg.member_size(f.name)) > RECON_MAX_BYTES:
                # read whole by the reconciliation: more than 1024 bucket lines can take is refused
                pkg.problems.append(Problem("file_records", f"{f.name}: {_human(size)}, more than the "
                                            f"{BUCKETS} bucket lines of a RECON file can be", f.name))
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
    listing, problems = read_small(pkg, OBJECTS_LIST, "an object list")
    if listing is None:
        pkg.problems += problems
        return
    for n, line in enumerate(listing.decode("utf-8", "replace").splitlines(), 1):
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
        if (size := pkg.member_size(name)) != obj.size:  # no need to inflate it to know
            pkg.problems.append(Problem("object_checksum", f"{name}: {size} bytes; {OBJECTS_LIST} says "
                                        f"{obj.size} bytes", name))
            continue
        h = hashlib.sha256()
        try:
            with pkg.open_member(name, crc=False) as fh:  # streamed: an object may be large
                while block := fh.read(READ_BLOCK):
                    h.update(block)
        except MemberCheckFailed as exc:
            pkg.problems += exc.problems
            continue
        if (sha := h.hexdigest()) != obj.sha256:
            pkg.problems.append(Problem("object_checksum", f"{name}: {size} bytes, SHA-256 {sha}; "
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
        if refused := _check_directory_size(path, pkg.limits):
            pkg.problems += refused
            return pkg
        zf = pkg.archive()  # kept open: the loader and the object store read the same directory
        if refused := _check_entries(zf, path, pkg.limits):
            pkg.problems += refused  # nothing of a bomb is inflated, not even its index
            return pkg
        if INDEX_NAME not in zf.namelist():
            pkg.problems.append(Problem("index_missing", f"{path.name} holds no {INDEX_NAME}", INDEX_NAME))
            return pkg
        data, problems = read_small(pkg, INDEX_NAME, "an index")
        if data is None:
            pkg.problems += problems
            return pkg
        pkg.index, problems = parse_index(data, expected_batch_id=pkg.batch_id)
        pkg.problems += problems
        if pkg.index is not None:
            _check_datasets(pkg, zf, catalogue or load_catalogue(), deep)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a damaged archive that is_zipfile let through
        pkg.problems.append(Problem("not_zip", f"{path.name} cannot be read as a zip: {exc}", path.name))
    return pkg
