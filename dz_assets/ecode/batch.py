"""The QR deliveries: day D's batch (T+1), a reprint of single codes, the first issue.

Every code is verified (decoded by zxing-cpp and compared with its URL) before its zip is written
and registered: a mismatch stops the batch with the address named, and nothing is delivered.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg

from dz_assets.db.named_sql import NamedSql
from dz_assets.ecode import history
from dz_assets.ecode.package import BatchAddress, write_zip
from dz_assets.ecode.print_sheet import write_print_sheet
from dz_assets.ecode.render import RenderedCode, Renderer, find_font
from dz_assets.ecode.workers import RenderPool
from dz_assets.settings import QrSettings, get_qr_settings, get_settings

query = NamedSql(__file__)


class DayOutOfRange(ValueError):
    """A day after tomorrow: its D-1 has not even begun."""


@dataclass(frozen=True)
class QrFigures:
    """How a batch went: counts, verification and speed (materialization metadata)."""

    new: int = 0
    changed: int = 0
    verified: int = 0
    mismatched: int = 0
    render_s: float = 0.0
    codes_per_s: float = 0.0
    workers: int = 1
    zip_bytes: int = 0
    pdf_pages: int = 0
    history_states_added: int = 0
    url_template: str = ""
    addresses_sha256: str = ""  # digest of the dzbm list: a first-issue chunk is resumed only if equal

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class QrBatch:
    """One delivered zip, as registered in ``meta.qr_batch``."""

    id: int
    kind: str
    day: date | None
    path: Path
    count: int
    sha256: str
    provisional: bool
    verified: int
    pdf_path: Path
    pdf_sha256: str
    figures: QrFigures = field(default_factory=QrFigures)
    dzbm: tuple[str, ...] = ()  # the addresses it holds, in manifest order

    def as_json(self) -> dict:
        """The contract's object for ``dzhub qr --day D --json``."""
        return {"day": self.day.isoformat() if self.day else None, "path": str(self.path), "count": self.count,
                "sha256": self.sha256, "provisional": self.provisional}


def parse_day(text: str) -> date:
    """``YYYYMMDD`` or ``YYYY-MM-DD``."""
    text = text.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"day {text!r}: expected YYYYMMDD or YYYY-MM-DD") from exc


def renderer(qs: QrSettings | None = None) -> Renderer:
    qs = qs or get_qr_settings()
    return Renderer(qs.url_template, find_font(qs.font), qs.scale)


def _render(addresses: list[BatchAddress], pool: RenderPool) -> tuple[list[tuple[BatchAddress, RenderedCode]], float]:
    t0 = time.perf_counter()
    rows = list(zip(addresses, pool.render([(a.dzbm, a.dzmc) for a in addresses]), strict=True))
    return rows, time.perf_counter() - t0


def _figures(rows, seconds: float, workers: int, zip_path: Path, pages: int, synced: int, template: str,
             **extra) -> QrFigures:
    return QrFigures(
        new=sum(a.change == "new" for a, _ in rows), changed=sum(a.change == "changed" for a, _ in rows),
        verified=len(rows), mismatched=0, render_s=round(seconds, 3),
        codes_per_s=round(len(rows) / seconds, 1) if seconds > 0 and rows else 0.0, workers=workers,
        zip_bytes=zip_path.stat().st_size, pdf_pages=pages, history_states_added=synced, url_template=template,
        **extra)


# A print page is ~40 ms of drawing: below this many codes (~12 pages) spawning processes for
# the sheet costs more than it saves.
PARALLEL_SHEET_CODES = 200


def _deliver(rows, zip_path: Path, pdf_path: Path, stamp: date, title: str, pool: RenderPool,
             qs: QrSettings) -> tuple[str, str, int]:
    sha = write_zip(zip_path, rows, stamp)
    pages = write_print_sheet(pdf_path, rows, stamp, title, pool.renderer.font_path, qs.print_mm,
                              pool.map if len(rows) >= PARALLEL_SHEET_CODES else None)
    return sha, hashlib.sha256(pdf_path.read_bytes()).hexdigest(), pages


def make_day_batch(dsn: str, day: date, *, now: datetime | None = None, workers: int | None = None,
                   outbox: Path | None = None) -> QrBatch:
    """Day D's batch: bring the history up to date, select D's addresses, render and verify
    them, write ``qr_<YYYYMMDD>.zip`` and its print sheet to the outbox, register the batch
    (replacing D's earlier one). Provisional when D-1 has not ended yet."""
    now = (now or datetime.now(history.BEIJING)).astimezone(history.BEIJING)
    if day > history.beijing_today(now) + timedelta(days=1):
        raise DayOutOfRange(f"day {day}: a batch can be made for any day up to tomorrow "
                            f"({history.beijing_today(now) + timedelta(days=1)})")
    qs = get_qr_settings()
    rend = renderer(qs)
    workers = workers or qs.workers
    outbox = outbox or get_settings().outbox
    with psycopg.connect(dsn) as conn:
        synced = history.sync(conn)
        conn.commit()
        addresses = history.day_addresses(conn, day)
    provisional = now < history.day_start(day)
    zip_path = outbox / f"qr_{day:%Y%m%d}.zip"
    pdf_path = outbox / f"qr_{day:%Y%m%d}_print.pdf"
    with RenderPool(rend, workers) as pool:
        rows, seconds = _render(addresses, pool)
        sha, pdf_sha, pages = _deliver(rows, zip_path, pdf_path, day, f"{day:%Y-%m-%d} 二维码门牌批次", pool, qs)
    figures = _figures(rows, seconds, workers, zip_path, pages, synced, qs.url_template)
    with psycopg.connect(dsn) as conn:
        batch_id = conn.execute(query("batch", "register_daily"), {
            "day": day, "count": len(rows), "sha256": sha, "path": str(zip_path), "provisional": provisional,
            "verified": figures.verified, "figures": json.dumps(figures.as_json()), "pdf_path": str(pdf_path),
            "pdf_sha256": pdf_sha}).fetchone()[0]
    return QrBatch(batch_id, "daily", day, zip_path, len(rows), sha, provisional, figures.verified, pdf_path,
                   pdf_sha, figures, tuple(a.dzbm for a, _ in rows))


class UnknownAddresses(ValueError):
    def __init__(self, codes: list[str]) -> None:
        super().__init__(f"no such standard address (or deleted): {', '.join(codes)}")
        self.codes = codes


def reprint(dsn: str, codes: list[str], *, now: datetime | None = None, outbox: Path | None = None) -> QrBatch:
    """Render these addresses' codes again (a damaged plate), outside the daily batches, and
    record it. Every code must name a known, not deleted address."""
    now = (now or datetime.now(history.BEIJING)).astimezone(history.BEIJING)
    qs = get_qr_settings()
    rend = renderer(qs)
    outbox = outbox or get_settings().outbox
    with psycopg.connect(dsn) as conn:
        synced = history.sync(conn)
        conn.commit()
        addresses, unknown = history.addresses_by_code(conn, list(dict.fromkeys(codes)))
    if unknown:
        raise UnknownAddresses(unknown)
    stem = f"qr_reprint_{now:%Y%m%dT%H%M%S}"
    zip_path, pdf_path = outbox / f"{stem}.zip", outbox / f"{stem}_print.pdf"
    with RenderPool(rend, 1) as pool:
        rows, seconds = _render(addresses, pool)
        sha, pdf_sha, pages = _deliver(rows, zip_path, pdf_path, now.date(), f"{now:%Y-%m-%d} 补打二维码", pool, qs)
    figures = _figures(rows, seconds, 1, zip_path, pages, synced, qs.url_template)
    with psycopg.connect(dsn) as conn:
        batch_id = conn.execute(query("batch", "register_reprint"), {
            "count": len(rows), "sha256": sha, "path": str(zip_path), "verified": figures.verified,
            "figures": json.dumps(figures.as_json()), "pdf_path": str(pdf_path), "pdf_sha256": pdf_sha,
            "codes": [a.dzbm for a in addresses]}).fetchone()[0]
    return QrBatch(batch_id, "reprint", None, zip_path, len(rows), sha, False, figures.verified, pdf_path, pdf_sha,
                   figures, tuple(a.dzbm for a, _ in rows))


@dataclass(frozen=True)
class FirstIssue:
    """The first issue's outcome: every chunk, and which of them this run made or found done."""

    scope: str
    addresses: int
    chunks: list[QrBatch]
    made: int
    skipped: int
    seconds: float

    def as_json(self) -> dict:
        return {"scope": self.scope, "addresses": self.addresses, "chunks": len(self.chunks), "made": self.made,
                "skipped": self.skipped, "seconds": round(self.seconds, 1),
                "paths": [str(c.path) for c in self.chunks if c.path]}


def _digest(addresses: list[BatchAddress]) -> str:
    return hashlib.sha256("\n".join(a.dzbm for a in addresses).encode()).hexdigest()


def first_issue(dsn: str, division: str = "", *, workers: int | None = None, chunk: int | None = None,
                outbox: Path | None = None, now: datetime | None = None,
                progress: Callable[[int, int], None] | None = None) -> FirstIssue:
    """Codes for every active Dazhou address (under ``division`` when given), once, for the initial
    mounting campaign: chunks of ``chunk`` addresses in code order, each a zip and print sheet of
    the daily shape (``qr_first_<scope>_<NNNN>.zip``), registered as it completes. A run after an
    interruption skips the chunks already registered with the same addresses and file present.
    ``progress(done, total)`` is called as codes complete."""
    t0 = time.perf_counter()
    now = (now or datetime.now(history.BEIJING)).astimezone(history.BEIJING)
    qs = get_qr_settings()
    rend = renderer(qs)
    workers = workers or qs.workers
    size = chunk or qs.chunk
    outbox = outbox or get_settings().outbox
    scope = division or ""
    with psycopg.connect(dsn) as conn:
        synced = history.sync(conn)
        conn.commit()
        addresses = history.active_addresses(conn, scope)
        done = {c: (digest, path) for c, digest, path in conn.execute(query("batch", "done_chunks"), {"scope": scope})}
    parts = [addresses[i:i + size] for i in range(0, len(addresses), size)]
    total, completed = len(addresses), 0
    chunks: list[QrBatch] = []
    made = skipped = 0
    label = scope or "5117"
    with RenderPool(rend, workers) as pool:
        for n, part in enumerate(parts, start=1):
            digest = _digest(part)
            prior = done.get(n)
            if prior and prior[0] == digest and Path(prior[1]).is_file():
                skipped += 1
                completed += len(part)
                if progress:
                    progress(completed, total)
                chunks.append(QrBatch(0, "first_issue", None, Path(prior[1]), len(part), "", False, len(part),
                                      Path(), ""))
                continue
            c0 = time.perf_counter()
            rows = []
            for a, code in zip(part, pool.render([(a.dzbm, a.dzmc) for a in part]), strict=True):
                rows.append((a, code))
                completed += 1
                if progress and completed % 100 == 0:
                    progress(completed, total)
            seconds = time.perf_counter() - c0
            stem = f"qr_first_{label}_{n:04d}"
            zip_path, pdf_path = outbox / f"{stem}.zip", outbox / f"{stem}_print.pdf"
            sha, pdf_sha, pages = _deliver(rows, zip_path, pdf_path, now.date(),
                                           f"首次发码 {label} 第 {n}/{len(parts)} 批", pool, qs)
            figures = _figures(rows, seconds, workers, zip_path, pages, synced, qs.url_template,
                               addresses_sha256=digest)
            with psycopg.connect(dsn) as conn:
                batch_id = conn.execute(query("batch", "register_chunk"), {
                    "day": now.date(), "count": len(rows), "sha256": sha, "path": str(zip_path),
                    "verified": figures.verified, "figures": json.dumps(figures.as_json()), "chunk": n,
                    "scope": scope, "pdf_path": str(pdf_path), "pdf_sha256": pdf_sha}).fetchone()[0]
            chunks.append(QrBatch(batch_id, "first_issue", None, zip_path, len(rows), sha, False, figures.verified,
                                  pdf_path, pdf_sha, figures))
            made += 1
            if progress:
                progress(completed, total)
    return FirstIssue(scope, total, chunks, made, skipped, time.perf_counter() - t0)

