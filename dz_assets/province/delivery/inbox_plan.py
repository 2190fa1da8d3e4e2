"""Which inbox packages to load now: the scheduling policy of provincial deliveries.

Batches of one source apply in order (package-format.md, "Delivery"), so one load per source is
asked for at a time: the oldest package of the source in the inbox (the next one follows once
that one has left the inbox). A package is keyed by its SHA-256, so one delivery runs once
however often the inbox is looked at; the same bytes delivered again after their delivery
finished get ``<sha256>.<n>``. A package whose load failed stays in the inbox and is not asked for
again (its run already retried; re-running its partition retries it), and the source's later
batches wait behind it. Each complete package is registered (``meta.batch``, status
``received``) so that a wait is visible before its load starts.

The Dagster inbox sensor turns a plan into run requests; nothing here knows of Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from dz_assets.db.named_sql import NamedSql
from dz_assets.province.delivery.inbox import scan_inbox, sha256_file
from dz_assets.province.delivery.registry import BatchName, BatchRegistry

query = NamedSql(__file__)


@dataclass(frozen=True)
class PlannedLoad:
    """A package to load now."""

    batch_id: str
    zip_path: Path
    sha256: str
    run_key: str  # the SHA-256, with ``.<n>`` for the n-th re-delivery of the same bytes
    stat: str  # "size:mtime_ns" of the file that was hashed


@dataclass
class InboxPlan:
    loads: list[PlannedLoad] = field(default_factory=list)
    batch_ids: list[str] = field(default_factory=list)  # every complete package's batch id, in order
    waiting: dict[str, str] = field(default_factory=dict)  # batch id -> the batch of its source it waits on
    failed: list[str] = field(default_factory=list)  # failed loads left in the inbox
    # file name -> [size, mtime_ns, sha256]: a package is hashed once, not on every look
    hashes: dict[str, list] = field(default_factory=dict)


def plan_inbox(conn: psycopg.Connection, inbox: Path, known: dict[str, list] | None = None) -> InboxPlan:
    """Register the complete packages in ``inbox`` and say which to load now (one per source)."""
    known = known or {}
    plan = InboxPlan()
    reg = BatchRegistry(conn)
    started: dict[str, str] = {}  # source -> the batch its loads wait on
    for p in scan_inbox(inbox):  # per source in BATCH_ID order
        name = BatchName.parse(p.batch_id)
        source = name.source if name else p.batch_id
        st = p.zip_path.stat()
        seen = known.get(p.zip_path.name)
        sha = seen[2] if seen and seen[:2] == [st.st_size, st.st_mtime_ns] else sha256_file(p.zip_path)[0]
        plan.hashes[p.zip_path.name] = [st.st_size, st.st_mtime_ns, sha]
        before = [r[0] for r in conn.execute(query("inbox_plan", "deliveries_of"), (sha, p.batch_id))]
        if p.batch_id not in plan.batch_ids:
            plan.batch_ids.append(p.batch_id)
        if before and before[0] == "failed":
            plan.failed.append(p.batch_id)
            started.setdefault(source, p.batch_id)
            continue
        if name is not None and not (before and before[0] in ("received", "loading")):
            # registered once; a long load is 'loading' across many looks and needs no new row
            reg.register(name, file_name=p.zip_path.name, size=st.st_size, sha256=sha)
        if source in started:
            plan.waiting[p.batch_id] = started[source]
            continue
        started[source] = p.batch_id
        earlier = sum(1 for status in before if status not in ("received", "loading"))
        plan.loads.append(PlannedLoad(batch_id=p.batch_id, zip_path=p.zip_path, sha256=sha,
                                      run_key=f"{sha}.{earlier}" if earlier else sha,
                                      stat=f"{st.st_size}:{st.st_mtime_ns}"))
    return plan
