"""The synthetic city of Dazhou: deterministic from a seed, from a few thousand persons (tests)
to the real 5.5 million (benchmarks), written as provincial packages and change messages.

Public API (stable; the CLI ``dzhub synth`` and the benchmarks are thin over it):

``write_package(out_dir, *, persons, seed, kind="FULL", date=None, nnnn=1, source="SCGA",
tables=None, defects=(), encoding="UTF-8", crlf=False, records_per_file=500_000, prev="",
base_date="20261120", progress=<stderr>) -> PackageInfo``
    Writes ``<BATCH_ID>.zip`` + ``<BATCH_ID>.zip.ok`` (and ``<BATCH_ID>.planted.json`` when
    ``defects`` are given) per spec/package-format.md. FULL: the city as of ``date`` (default
    ``base_date``), ``BATCH@seq`` = the change-log position at that day's start. INCR: the changes
    of ``date`` (default the day after ``base_date``) on top of the ``base_date`` city, ``_OP``/``_TS``
    leading, ``BATCH@prev`` = ``prev``. RECON: bucket figures of the FULL city as of ``date``.
    ``defects``: names from ``defects.ALL_DEFECTS``; ``PackageInfo.planted`` says where each went.

``write_packages(out_dir, *, persons, seed, days=2, ...) -> list[PackageInfo]``
    A FULL of ``base_date`` then one INCR per following day, each naming the one before (prev).

``iter_rows(table_code, persons, seed, date="20261120") -> Iterator[dict]``
    One table's rows (field code → BCP text value, None = NULL).

``publish_messages(amqp_url, *, persons, seed, date=None, count=None, batch_size=1, poison=(),
tables=None) -> dict`` / ``iter_messages(...)``
    The same day of changes as the INCR of that day, as spec/change-messages.md messages on the
    change-stream topic exchange (``exchange``, default ``DZ_CDC_EXCHANGE``; declared durable),
    routing key = table code.

Also reusable: ``idcard`` (GB 11643 check digit and validity), ``recon`` (RECON buckets/xor).
"""

from __future__ import annotations

from .city import DEFAULT_DATE, City, iter_rows
from .defects import ALL_DEFECTS
from .messages import POISON_KINDS, iter_messages, publish_messages
from .package_writer import PackageInfo, next_day, write_package


def write_packages(out_dir, *, persons: int, seed: int, days: int = 2, base_date: str = DEFAULT_DATE,
                   source: str = "SCGA", **kw) -> list[PackageInfo]:
    """A FULL of ``base_date`` and ``days`` INCR packages of the following days, chained by prev."""
    out = [write_package(out_dir, persons=persons, seed=seed, kind="FULL", date=base_date,
                         base_date=base_date, source=source, **kw)]
    prev = ""
    for k in range(1, days + 1):
        info = write_package(out_dir, persons=persons, seed=seed, kind="INCR", date=next_day(base_date, k),
                             base_date=base_date, source=source, prev=prev, **kw)
        prev = info.batch_id
        out.append(info)
    return out


__all__ = ["ALL_DEFECTS", "DEFAULT_DATE", "POISON_KINDS", "City", "PackageInfo", "iter_messages",
           "iter_rows", "publish_messages", "write_package", "write_packages"]
