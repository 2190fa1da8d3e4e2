"""Rejected rows of a delivery, read back from ``meta.reject`` (``dzhub rejects``, the asset's
rejects file under ``DZ_REJECT_DIR``). While a load runs they are held by
``province.reader.reject_spool``.

The raw line is kept as delivered (bytes): the CSV gives it as text (UTF-8, else GB18030, the two
encodings a package may use) and always as hex too, so nothing is lost even for a line whose
bytes were the very reason it was rejected.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import psycopg

COLUMNS = ("batch_id", "delivery_id", "table", "file", "line", "field", "reason", "raw_line", "raw_hex")


def delivery_of(conn: psycopg.Connection, batch_id: str) -> int | None:
    """The delivery whose rejects speak for the batch: the loaded one, else the latest."""
    row = conn.execute(
        "select delivery_id from meta.batch where batch_id = %s "
        "order by (status in ('loaded', 'applied', 'pending_apply', 'waiting')) desc, delivery_id desc "
        "limit 1", (batch_id,)).fetchone()
    return row[0] if row else None


def raw_text(raw: bytes) -> str:
    """A raw line as text: UTF-8, else GB18030, else UTF-8 with the bad bytes escaped."""
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="backslashreplace")


def iter_rejects(conn: psycopg.Connection, batch_id: str) -> Iterator[dict[str, Any]]:
    """The batch's rejected rows in file and line order, streamed from the server (a batch may
    hold millions)."""
    delivery = delivery_of(conn, batch_id)
    if delivery is None:
        return
    cur = conn.cursor()
    for d, t, f, n, fld, r, raw in cur.stream(
            "select delivery_id, table_code, file_name, line, field, reason, raw_line from meta.reject "
            "where delivery_id = %s order by file_name, line, field nulls first", (delivery,), size=5000):
        yield {"batch_id": batch_id, "delivery_id": d, "table": t, "file": f, "line": n, "field": fld,
               "reason": r, "raw_line": raw_text(bytes(raw)), "raw_hex": bytes(raw).hex()}


def write_rejects_csv(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """The CSV of ``rows`` written as they come; returns how many."""
    w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    n = 0
    for row in rows:
        w.writerow(row)
        n += 1
    return n


def write_rejects_file(conn: psycopg.Connection, batch_id: str, folder: Path) -> Path | None:
    """``<folder>/<batch_id>.rejects.csv`` (UTF-8 with BOM, so spreadsheet tools read Chinese),
    written as the rows stream in; None when the batch rejected nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{batch_id}.rejects.csv"
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
        n = write_rejects_csv(iter_rejects(conn, batch_id), fh)
    if not n:
        tmp.unlink()
        return None
    tmp.replace(path)
    return path
