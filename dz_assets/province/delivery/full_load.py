"""FULL load: a valid package's tables proven, COPYed into fresh typed tables and swapped in.

Steps 1–3 are the COPY engine's (``full_load_copy``), the figures are ``full_load_figures``.

1. two prover threads (the machine's two cores) prove the files, largest table first, chunk by
   chunk: the compiled fast path (``fastpath``) where it applies, else ``bcp.prove_stream``.
   The same pass checks each file's SHA-256 and line count against the index (``MemberCheck``:
   the package was opened with ``deep=False``); a mismatch aborts the load;
2. per DATASET, one connection creates ``ods.<table>__load`` without its key (an index built
   once after the load is ~2× faster than one maintained per row), with the batch's lineage as
   column defaults, and in the same transaction takes every file's proven rows in one
   ``COPY … FROM STDIN (FREEZE)`` (binary, see ``copy_payload``);
3. then, still in that transaction, the primary key; when a query finds a key delivered twice
   (asked, not learnt from a failing key: its error would log the key's values) the duplicates
   are first deleted, the last occurrence (FILE order, then line) kept, and
   counted per file; COPY's row count is checked against the rows sent, and the per-file
   balance declared = loaded + rejected + duplicate. The build is committed.

Then one transaction swaps every table in (``ods.swap``: the old renamed ``__old``, the new to its
name, comments and dependent views re-created) and writes ``meta.batch_file``, ``meta.reject`` and
``meta.batch_flag`` of the delivery (``full_load_record``); the retired tables are dropped after its
commit. A crash before that commit leaves every previous ``ods`` table as it was; a re-run drops
any leftover ``__load`` or ``__old`` tables and converges. ``meta.batch`` status is the registry's: the
``meta.batch_file`` rows committed with the swap are what tells it, after a crash, that the
swap happened (``pipeline.recover_swapped``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from dz_assets.catalog import Table, load_catalogue
from dz_assets.ods.swap import create_load_table, drop_tables, swap_all
from dz_assets.province.delivery.full_load_copy import MAX_COPIERS, Loader, TableBuild, finish_table
from dz_assets.province.delivery.full_load_figures import FileLoad, FullLoadResult, LoadCheckFailed, TableLoad
from dz_assets.province.delivery.full_load_record import record_table
from dz_assets.province.reader.bcp import CHUNK_BYTES
from dz_assets.province.reader.copy_payload import Payload
from dz_assets.province.reader.fastpath import FastPath
from dz_assets.province.reader.package import Package
from dz_assets.province.reader.quality import flag_rules
from dz_assets.province.reader.reject_spool import RejectSpool

__all__ = ["MAX_COPIERS", "FileLoad", "FullLoadResult", "LoadCheckFailed", "TableLoad", "load_full"]

# The machine has 2 cores: two prover threads and the tables' COPY backends keep both busy.
PARALLEL_FILES = 2


def load_full(dsn: str, package: Package, *, delivery_id: int | None, batch_id: str,
              chunk_bytes: int = CHUNK_BYTES, parallel: int = PARALLEL_FILES,
              before_swap: Callable[[dict[str, TableLoad]], None] | None = None) -> FullLoadResult:
    """Load every DATASET of a valid FULL package; see the module docstring for the steps.

    ``before_swap``: called with the built tables' figures once every build is committed and
    before the swap (the pipeline stores the package's objects there, so that nothing the
    batch needs is left to do by the time its rows are live); when it raises, nothing is
    swapped."""
    if not package.valid or package.index is None:
        raise ValueError(f"{batch_id}: package is not valid: {[p.code for p in package.problems]}")
    if package.index.kind != "FULL":
        raise ValueError(f"{batch_id}: load_full takes FULL packages, not {package.index.kind}")
    t0 = time.monotonic()
    cat = load_catalogue()
    builds = []
    for ds in package.index.datasets:
        payload, rules = Payload(ds, cat.table(ds.table)), flag_rules(ds, cat, package.index.created)
        builds.append(TableBuild(ds, cat.table(ds.table), TableLoad(ds.table), payload, rules,
                                 FastPath.for_dataset(ds, payload, rules)))
    # Largest first: the long table's COPY starts at once, the small ones fill in beside it.
    builds.sort(key=lambda b: -sum(f.records for f in b.ds.files))
    try:
        with psycopg.connect(dsn) as conn:
            for b in builds:
                if not b.ds.files:  # nothing to COPY: an empty table, swapped in like the others
                    create_load_table(conn, b.table, batch_id, package.index.created)
                    finish_table(conn, b)
        Loader(dsn, package, builds, batch_id=batch_id, chunk_bytes=chunk_bytes).run(parallel)
        if before_swap is not None:
            before_swap({b.table.code: b.load for b in builds})
    except BaseException:
        drop_tables(dsn, [b.name for b in builds])  # a failed load leaves no half-built tables
        for b in builds:
            for res in b.results.values():
                res.rejects.close()
        raise
    by_code = {b.table.code: b for b in builds}

    def record(conn: psycopg.Connection, table: Table) -> None:
        b = by_code[table.code]
        record_table(conn, table.code, b.load.files, b.rejects, b.flags, delivery_id=delivery_id,
                     batch_id=batch_id)

    swap_all(dsn, [b.table for b in builds], record if delivery_id is not None else None)
    tables = {b.table.code: b.load for b in sorted(builds, key=lambda b: b.table.seq)}
    rejects = RejectSpool()
    for b in builds:
        rejects.adopt(b.rejects)
    return FullLoadResult(batch_id=batch_id, delivery_id=delivery_id, tables=tables,
                          duration_s=round(time.monotonic() - t0, 3), rejects=rejects)
