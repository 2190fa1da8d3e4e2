"""One micro-batch of change messages: judged into COPY blocks and poison (the writer's parse
thread), then logged, applied and committed in one transaction (its main thread).

A micro-batch is one database transaction: log the changes whose ``msg_id`` is not logged yet
(COPY, ``changelog.store_block``), apply them, keep the poison. Only after the commit does the
consumer acknowledge the good messages and reject the poison ones, so the broker dead-letters them.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import psycopg

from dz_assets.catalog import Catalogue
from dz_assets.cdc.message import Poison, parse_body, plain_changes, unjudgeable
from dz_assets.cdc.summary import Summary
from dz_assets.cdc.topology import Topology
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import LogBlock, copy_block, store_block
from dz_assets.ops.alerts import raise_alert
from dz_assets.settings import Settings

# A delivery as the writer gets it: (delivery tag, routing key, headers, body).
Delivery = tuple[int, str, "dict | None", bytes]


def _poison_row(queue: str, exchange: str, d: Delivery, poison) -> tuple:
    headers = json.dumps(d[2], default=str) if d[2] else None  # (NUL escaped as \u0000)
    return (queue, exchange, d[1].replace("\x00", "\\x00"), headers, d[3], poison.element, poison.msg_id,
            poison.table, poison.code, poison.reason)


@dataclass
class MicroBatch:
    """A micro-batch parsed and judged, its rows in COPY form: all that is left is the database."""

    blocks: dict[str, LogBlock]  # table code -> its changes in COPY form
    poison_rows: list[tuple]
    poison_tags: list[int]
    good_tags: list[int]
    latest_ts: float | None  # newest source commit time (epoch seconds) among the changes


class MicroBatcher:
    """Judges deliveries into micro-batches and commits them, for one queue and catalogue."""

    def __init__(self, cat: Catalogue, topo: Topology, settings: Settings) -> None:
        self.cat, self.topo, self.s = cat, topo, settings

    def judge(self, batch: list[Delivery]) -> MicroBatch:
        by_table: dict[str, list] = defaultdict(list)
        poison_rows, poison_tags, good_tags = [], [], []
        latest = None
        cat = self.cat
        for d in batch:
            if len(d[3]) > self.s.cdc_max_body_bytes:
                # Parsing a body costs a multiple of its size: one that no honest batch of changes
                # reaches is kept as it came, unparsed, and the stream goes on.
                poison_rows.append(self.poison_row(d, Poison(
                    "too_large", f"body of {len(d[3]):,} bytes is longer than DZ_CDC_MAX_BODY_BYTES "
                                  f"({self.s.cdc_max_body_bytes:,}); not parsed")))
                poison_tags.append(d[0])
                continue
            try:
                changes, poison = plain_changes(d[3], cat), ()
                if changes is None:  # some change is not plainly good: the full verdict, with reasons
                    parsed = parse_body(d[3], cat)
                    changes, poison = parsed.changes, parsed.poison
            except Exception as exc:  # noqa: BLE001 - one message must never fail its micro-batch
                changes, poison = [], [unjudgeable(exc, None)]
            poison_rows += [self.poison_row(d, x) for x in poison]
            (poison_tags if poison else good_tags).append(d[0])
            for c in changes:
                by_table[c.table].append(c)
                if latest is None or c.ts > latest:
                    latest = c.ts
        blocks = {code: copy_block(self.cat.tables[code], cs) for code, cs in by_table.items()}
        return MicroBatch(blocks, poison_rows, poison_tags, good_tags,
                         latest.timestamp() if latest is not None else None)

    def poison_row(self, d: Delivery, poison: Poison) -> tuple:
        try:
            return _poison_row(self.topo.queue, self.topo.exchange, d, poison)
        except Exception:  # noqa: BLE001 - headers that do not serialise: keep the body and reason
            return _poison_row(self.topo.queue, self.topo.exchange, (d[0], str(d[1]), None, d[3]), poison)

    def refused(self, d: Delivery, exc: BaseException, *, bare: bool = False) -> MicroBatch:
        """The delivery ``d`` as poison alone: the database refused it on its own (see the writer).
        ``bare``: without its headers and ids, for when the poison row itself was refused."""
        reason = f"the database refused it: {type(exc).__name__}: {exc}".replace("\x00", "\\x00")[:500]
        ids = {}
        if bare:
            d = (d[0], "", None, d[3])
        else:
            try:
                cs = parse_body(d[3], self.cat).changes
                ids = {"msg_id": cs[0].msg_id, "table": cs[0].table} if len(cs) == 1 else {}
            except Exception:  # noqa: BLE001 - the poison row is kept without them
                pass
        return MicroBatch({}, [self.poison_row(d, Poison("write_failed", reason, **ids))], [d[0]], [], None)

    def commit(self, db: psycopg.Connection, p: MicroBatch, summary: Summary) -> None:
        for row in p.poison_rows:
            summary.poison[row[8]] += 1
        with db.transaction():
            for code in sorted(p.blocks):  # one lock order for every consumer
                block = p.blocks[code]
                new = store_block(db, self.cat.tables[code], block)
                summary.changes += block.changes
                summary.stored += new
                summary.duplicates += block.changes - new
            if self.s.cdc_throttle_s:  # crash tests: a window in which the batch is logged, not committed
                time.sleep(self.s.cdc_throttle_s)
            for code in sorted(p.blocks):
                r = apply_changes(db, self.cat.tables[code])
                t = summary.tables[code]
                for k in ("applied", "deleted", "ignored", "ignored_base"):
                    t[k] += getattr(r, k)
                    setattr(summary, k, getattr(summary, k) + getattr(r, k))
                t["changes"] += p.blocks[code].changes
            if p.poison_rows:
                with db.cursor() as cur, cur.copy(
                        "copy meta.cdc_poison (queue, exchange, routing_key, headers, body, element, msg_id, "
                        "table_code, reason_code, reason) from stdin") as cp:
                    for row in p.poison_rows:
                        cp.write_row(row)
                kinds = Counter(r[8] for r in p.poison_rows)
                # One alert per micro-batch, not per message: a poisoned publisher must not flood.
                raise_alert(db, severity="warning", source="cdc", code="poison_messages",
                            subject=self.topo.queue, message=f"{len(p.poison_rows)} poison change(s) kept in "
                            f"meta.cdc_poison and dead-lettered: " + ", ".join(f"{k} {n}" for k, n in kinds.items()),
                            details={"by_reason": dict(kinds), "queue": self.topo.queue})
        if p.latest_ts is not None:
            summary.max_lag_s = max(summary.max_lag_s, time.time() - p.latest_ts)
        summary.batches += 1
