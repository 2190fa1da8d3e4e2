"""Provincial packages of package-format.md from the synthetic city: FULL (the city as of a
day), INCR (one day of changes, ``_OP``/``_TS`` leading) and RECON (bucket figures).

Rows stream from the city into per-table spool files (hashed and counted on the fly), then the
zip is assembled in a fixed order with fixed timestamps: data files, ``files/`` objects,
``files.tsv``, and the index last (it must list what was written). Same arguments, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date as _date
from datetime import timedelta
from pathlib import Path

from dz_assets.catalog import load_catalogue
from dz_assets.catalog.bucket_figures import ReconFigures

from .changes import day_changes, seq_base
from .city import DEFAULT_DATE, OBJECT, City, all_table_codes
from .defects import Plan
from .index_xml import index_xml
from .objects import photo_png
from .spool import TableSpool, _NeedsEscaping

DIVISION = "511700"
RECORDS_PER_FILE = 500_000  # as in the spec's example; tests use small values to get several files
PROGRESS_SECONDS = 5.0


@dataclass
class PackageInfo:
    batch_id: str
    kind: str
    zip_path: Path
    marker_path: Path
    sha256: str
    tables: dict[str, int]  # rows per table (as declared in the index)
    objects: int = 0
    planted: list[dict] = field(default_factory=list)
    planted_path: Path | None = None
    prev: str | None = None
    seq: int | None = None
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def as_json(self) -> dict:
        return {"batch_id": self.batch_id, "kind": self.kind, "zip": str(self.zip_path),
                "marker": str(self.marker_path), "sha256": self.sha256, "rows": self.rows,
                "tables": self.tables, "objects": self.objects, "prev": self.prev, "seq": self.seq,
                "planted": self.planted, "planted_file": str(self.planted_path) if self.planted_path else None,
                "seconds": round(self.seconds, 3)}


def next_day(d: str, n: int = 1) -> str:
    return (_date(int(d[:4]), int(d[4:6]), int(d[6:])) + timedelta(days=n)).strftime("%Y%m%d")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _Objects:
    """files/ objects spooled to disk; files.tsv lines beside them (flat memory)."""

    def __init__(self, tmp: Path) -> None:
        self.data_path, self.tsv_path = tmp / "objects.bin", tmp / "objects.tsv"
        self.data, self.tsv, self.count = self.data_path.open("wb"), self.tsv_path.open("w", encoding="utf-8"), 0

    def add(self, path: str, data: bytes) -> None:
        self.data.write(data)
        self.tsv.write(f"{path}\t{hashlib.sha256(data).hexdigest()}\t{len(data)}\n")
        self.count += 1

    def close(self) -> None:
        self.data.close()
        self.tsv.close()


def write_package(out_dir, *, persons: int, seed: int, kind: str = "FULL", date: str | None = None,
                  nnnn: int = 1, source: str = "SCGA", tables=None, defects=(), encoding: str = "UTF-8",
                  crlf: bool = False, records_per_file: int = RECORDS_PER_FILE, prev: str = "",
                  base_date: str = DEFAULT_DATE, progress: Callable[[str], None] | None = _stderr) -> PackageInfo:
    """Write ``<BATCH_ID>.zip`` and ``<BATCH_ID>.zip.ok`` (and ``<BATCH_ID>.planted.json`` when
    defects are asked for) into ``out_dir``; see the module docstring of ``dz_assets.synth``."""
    started = time.monotonic()
    kind = kind.upper()
    if kind not in ("FULL", "INCR", "RECON"):
        raise ValueError(f"kind must be FULL, INCR or RECON, not {kind!r}")
    date = date or (next_day(base_date) if kind == "INCR" else base_date)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    batch_id = f"{source}-{kind}-{date}-{int(nnnn):04d}"
    cat = load_catalogue()
    want = [c for c in (all_table_codes() if tables is None else
                        [t.upper() for t in tables]) if c in cat.tables]
    plan = Plan(defects, kind, want, date, encoding)
    created = f"{date[:4]}-{date[4:6]}-{date[6:]}T{'23:59:59' if kind == 'INCR' else '02:00:00'}+08:00"
    batch = {"id": batch_id, "kind": kind, "source": source, "division": DIVISION, "created": created}
    if kind == "FULL":
        batch["seq"] = seq_base(date)
    if kind == "INCR":
        batch["prev"] = prev or ""
    tmp = Path(tempfile.mkdtemp(prefix=f".{batch_id}.", dir=out))
    try:
        ticker = _Ticker(progress, batch_id)
        if kind == "RECON":
            datasets, objects = _recon(tmp, persons, seed, date, want, ticker), None
        else:
            datasets, objects = _spool(tmp, kind, persons, seed, date, base_date, want, plan, encoding,
                                       crlf, records_per_file, ticker, tables)
        plan.check_applied()
        text = index_xml(batch, plan.index_datasets(datasets), recon=kind == "RECON")
        zip_path = out / f"{batch_id}.zip"
        _assemble(zip_path, date, datasets, objects, plan, plan.index_text(text, batch_id))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sha = plan.finish_zip(zip_path)
    marker = out / f"{batch_id}.zip.ok"
    plan.write_marker(marker, sha)
    info = PackageInfo(batch_id, kind, zip_path, marker, sha,
                       {ds["table"]: ds.get("rows", sum(r for _, r, _ in ds["files"])) for ds in datasets},
                       objects.count if objects else 0, plan.planted, None,
                       batch.get("prev"), batch.get("seq"), time.monotonic() - started)
    if plan.names:
        info.planted_path = out / f"{batch_id}.planted.json"
        info.planted_path.write_text(json.dumps({"batch_id": batch_id, "defects": plan.names,
                                                 "planted": plan.planted}, ensure_ascii=False, indent=1) + "\n",
                                     encoding="utf-8")
    if progress:
        progress(f"{batch_id}: {info.rows} rows in {len(datasets)} tables, {info.seconds:.1f}s")
    return info


class _Ticker:
    def __init__(self, progress, label: str) -> None:
        self.progress, self.label = progress, label
        self.t0 = self.last = time.monotonic()

    def tick(self, rows: int, persons: int) -> None:
        now = time.monotonic()
        if self.progress and now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.progress(f"{self.label}: {persons} persons, {rows} rows, {rows / (now - self.t0):,.0f} rows/s")


def _spool(tmp, kind, persons, seed, date, base_date, want, plan, encoding, crlf, rpf, ticker, tables):
    cat = load_catalogue()
    wanted = set(want)
    spools: dict[str, TableSpool] = {}
    layouts = {}
    objects = _Objects(tmp)
    for code in want:
        layouts[code] = plan.layout(cat.tables[code])
        spools[code] = TableSpool(code, tmp, encoding, crlf, rpf, plan.mutations(code, layouts[code]))
    n = 0
    if kind == "FULL":
        city = City(persons, seed, date, tables=wanted)
        slots = {c: (spools[c], layouts[c][1], layouts[c][2], len(layouts[c][1])) for c in want}
        for table, row in city.rows():
            slot = slots.get(table)
            if slot is None:  # OBJECT
                objects.add(*row)
                continue
            sp, codes, extra, nfields = slot
            if extra:
                row[extra] = "扩展值"
            get = row.get
            if sp.mutations:
                sp.add([get(c) for c in codes])
            else:
                try:
                    sp.add_joined("\t".join([get(c) or "" for c in codes]), nfields)
                except _NeedsEscaping:
                    sp.add([get(c) for c in codes])
            n += 1
            if not n & 0xFFFF:
                ticker.tick(n, city.generated_persons)
    else:
        sent: set[str] = set()  # one day's photos: a few per thousand persons
        for ch in day_changes(persons, seed, date, base_date):
            if ch.table not in wanted:
                continue
            fields, codes, extra = layouts[ch.table]
            if extra:
                ch.row[extra] = "扩展值"
            photo = ch.row.get("XP") if ch.op != "D" and ch.table == "HZ_HJRKJBXX" else None
            if photo and photo not in sent:  # an INCR carries the objects its rows name (once)
                sent.add(photo)
                objects.add(photo, photo_png(photo[len("files/XP/"):-len(".png")]))
            spools[ch.table].add([ch.op, ch.ts] + [ch.row.get(c) for c in codes])
            n += 1
            if not n & 0xFFFF:
                ticker.tick(n, 0)
    if plan.needs_object and objects.count == 0:
        objects.add("files/XP/SYNTH000000.png", photo_png("SYNTH000000"))
    objects.close()
    datasets = []
    for code in want:
        t = cat.tables[code]
        if kind == "INCR" and spools[code].rows == 0 and (tables is None or code not in tables):
            continue  # an INCR names only the tables it changes (unless asked for by name)
        files = spools[code].close()
        plan.record_lines(code, spools[code].mutated)
        datasets.append({"table": code, "name": t.name, "encoding": encoding.upper(), "pk": ",".join(t.key),
                         "fields": layouts[code][0], "files": [(f.name, f.records, f.sha256) for f in files],
                         "paths": [f.path for f in files]})
    for extra in plan.extra_datasets(tmp, encoding, crlf):
        datasets.append(extra)
    return datasets, objects


def _recon(tmp, persons, seed, date, want, ticker):
    cat = load_catalogue()
    figs = {c: ReconFigures() for c in want}
    plans = {c: ([f.code for f in cat.tables[c].fields], list(cat.tables[c].key)) for c in want}
    city = City(persons, seed, date, tables=set(want))
    n = 0
    for table, row in city.rows():
        if table == OBJECT:
            continue
        codes, key = plans[table]
        figs[table].add([row.get(k) for k in key], [row.get(c) for c in codes])
        n += 1
        if not n & 0xFFFF:
            ticker.tick(n, city.generated_persons)
    datasets = []
    for code in want:
        t = cat.tables[code]
        name = f"{code}.recon.tsv"
        data = "".join(figs[code].lines()).encode("utf-8")
        (tmp / name).write_bytes(data)
        datasets.append({"table": code, "pk": ",".join(t.key), "rows": figs[code].total,
                         "as_of": f"{date}020000", "fields": list(t.fields),
                         "files": [(name, data.count(b"\n"), hashlib.sha256(data).hexdigest())],
                         "paths": [tmp / name]})
    return datasets


def _zinfo(name: str, date: str, compress: int) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=(int(date[:4]), int(date[4:6]), int(date[6:]), 2, 0, 0))
    zi.compress_type = compress
    zi.create_system = 3
    zi.external_attr = 0o644 << 16
    zi._compresslevel = 1  # deflate level 1: ~3× faster than 6 on BCP text, ~15% larger
    return zi


def _assemble(zip_path: Path, date: str, datasets, objects, plan, index_bytes: bytes | None) -> None:
    members = [(name, path) for ds in datasets for (name, _, _), path in zip(ds["files"], ds["paths"], strict=True)]
    members = plan.members(members)
    with zipfile.ZipFile(zip_path, "w", allowZip64=True) as zf:
        for name, src in members:
            with zf.open(_zinfo(name, date, zipfile.ZIP_DEFLATED), "w", force_zip64=True) as dst:
                if isinstance(src, bytes):
                    dst.write(src)
                else:
                    with open(src, "rb") as fh:
                        shutil.copyfileobj(fh, dst, 1 << 20)
        if objects is not None and objects.count:
            listed = objects.tsv_path.with_suffix(".listed")  # files.tsv as delivered (defects applied)
            with objects.data_path.open("rb") as data, objects.tsv_path.open(encoding="utf-8") as tsv, \
                    listed.open("w", encoding="utf-8", newline="\n") as out:
                for i, line in enumerate(tsv):
                    path, sha, size = line.rstrip("\n").split("\t")
                    blob = data.read(int(size))
                    out.write(plan.tsv_line(i, path, sha, size))
                    if plan.keep_object(i):
                        zf.writestr(_zinfo(path, date, zipfile.ZIP_STORED), blob)
            for path, blob in plan.extra_objects():
                zf.writestr(_zinfo(path, date, zipfile.ZIP_STORED), blob)
            with listed.open("rb") as fh, zf.open(_zinfo("files.tsv", date, zipfile.ZIP_DEFLATED), "w") as dst:
                shutil.copyfileobj(fh, dst, 1 << 20)
        if index_bytes is not None:
            zf.writestr(_zinfo("GAB_ZIP_INDEX.xml", date, zipfile.ZIP_DEFLATED), index_bytes)
