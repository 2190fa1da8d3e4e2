"""The change-message consumer: RabbitMQ → change log → ODS, acknowledged only after commit.

Messages are gathered into a micro-batch (``DZ_CDC_BATCH_SIZE`` changes, or whatever came within
``DZ_CDC_FLUSH_S`` of quiet). A micro-batch is one database transaction: log the changes whose
``msg_id`` is not logged yet (COPY, ``changelog.store_block``), apply them, keep the poison; only
after the commit are the good messages acknowledged (``basic_ack(multiple=True)``) and the poison
ones rejected without requeue, so the broker dead-letters them. A crash before the ack redelivers
the batch, and the unique ``msg_id`` makes the second storing a no-op. Prefetch (``DZ_CDC_PREFETCH``) bounds what is
in flight: the broker holds the rest (backpressure).

Three things run at once: this process only receives (pika) and acknowledges; a writer
*process* parses and judges the bodies of the next micro-batch in one thread while its other
thread logs, applies and commits the previous one. pika's per-message cost and the per-change
parse no longer share one GIL (with threads they did, and the writer waited for the GIL after
every database round trip). The writer hands the committed delivery tags back; only this
process touches the channel. It dies with the consumer (a SIGKILLed consumer leaves no writer
committing batches nobody acknowledges).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import psycopg

from dz_assets.catalog import load_catalogue
from dz_assets.cdc.message import parse_body, plain_changes
from dz_assets.cdc.topology import Topology, declare
from dz_assets.db import pg_dsn
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import LogBlock, copy_block, store_block
from dz_assets.ops.alerts import raise_alert, resolve_alerts
from dz_assets.settings import Settings, get_settings


@dataclass
class Summary:
    queue: str
    messages: int = 0
    changes: int = 0
    stored: int = 0
    duplicates: int = 0
    applied: int = 0
    deleted: int = 0
    ignored: int = 0
    ignored_base: int = 0
    poison: Counter = field(default_factory=Counter)
    batches: int = 0
    tables: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: float = 0.0
    max_lag_s: float = 0.0  # source commit ts → applied, over the changes applied
    received: int = 0  # changes received so far, counted before parsing (``changes``: the committed ones)
    stopped_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "messages": self.messages, "changes": self.changes,
                "stored": self.stored, "duplicates": self.duplicates, "applied": self.applied,
                "deleted": self.deleted, "ignored": self.ignored, "ignored_base": self.ignored_base,
                "poison": sum(self.poison.values()), "poison_by_reason": dict(self.poison),
                "batches": self.batches, "tables": {k: dict(v) for k, v in self.tables.items()},
                "seconds": round(self.seconds, 3), "max_lag_s": round(self.max_lag_s, 3),
                "changes_per_s": round(self.changes / self.seconds) if self.seconds else None,
                "stopped_by": self.stopped_by}

    _ADDED = ("changes", "stored", "duplicates", "applied", "deleted", "ignored", "ignored_base", "batches")

    def delta(self) -> dict[str, Any]:
        """What a committed micro-batch adds (picklable: it crosses from the writer process)."""
        return {**{k: getattr(self, k) for k in self._ADDED}, "poison": dict(self.poison),
                "tables": {k: dict(v) for k, v in self.tables.items()}, "max_lag_s": self.max_lag_s}

    def add(self, d: dict[str, Any]) -> None:
        for k in self._ADDED:
            setattr(self, k, getattr(self, k) + d[k])
        self.poison.update(d["poison"])
        for code, t in d["tables"].items():
            self.tables[code].update(t)
        self.max_lag_s = max(self.max_lag_s, d["max_lag_s"])


# A delivery as the writer gets it: (delivery tag, routing key, headers, body).
Delivery = tuple[int, str, "dict | None", bytes]


def _poison_row(queue: str, exchange: str, d: Delivery, poison) -> tuple:
    headers = json.dumps(d[2], default=str) if d[2] else None  # (NUL escaped as \u0000)
    return (queue, exchange, d[1].replace("\x00", "\\x00"), headers, d[3], poison.element, poison.msg_id,
            poison.table, poison.code, poison.reason)


def queue_drained(ok, received: int = 0, waiting: int = 0) -> bool:
    """Whether a passive ``Queue.DeclareOk`` of the queue this consumer reads says it is empty;
    ``received``: messages delivered to this consumer so far, ``waiting``: ready when it attached.

    A quorum queue whose leader does not answer the count in time says 0 messages *and 0
    consumers* (RabbitMQ's fallback); under load a ``--drain`` then stopped on a full queue with
    nothing consumed (4 drains in 5 of 50 000 messages on a loaded machine). A true answer counts
    this consumer. And the count is of *ready* messages: those the broker has already handed to
    this consumer but that have not arrived yet are not in it, so the first quiet interval of a
    slow start read 0 (a 1M-change bench drain of 10 501 large messages stopped with none); as
    the only consumer, it must first have received what was waiting when it attached."""
    return ok.message_count == 0 and ok.consumer_count > 0 and (received >= waiting or ok.consumer_count > 1)


def _size(body: bytes) -> int:
    """Changes in a body, for sizing micro-batches before it is parsed (the writer parses): one
    per ``"msg_id"`` key, at least one."""
    return body.count(b'"msg_id"') or 1


@dataclass
class _Prepared:
    """A micro-batch parsed and judged, its rows in COPY form: all that is left is the database."""

    blocks: dict[str, LogBlock]  # table code -> its changes in COPY form
    poison_rows: list[tuple]
    poison_tags: list[int]
    good_tags: list[int]
    latest_ts: float | None  # newest source commit time (epoch seconds) among the changes


class Consumer:
    """One consumer of dz-hub's queue; ``stop()`` (e.g. from SIGTERM) ends it after the batch."""

    def __init__(self, *, dsn: str | None = None, settings: Settings | None = None) -> None:
        self.s = settings or get_settings()
        self.dsn = dsn or pg_dsn()
        self.topo = Topology.from_settings(self.s)
        self.cat = load_catalogue()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, drain: bool = False, max_changes: int | None = None,
            max_seconds: float | None = None) -> Summary:
        """Consume (see ``_consume``). A consumer that dies alerts ``consumer_stopped`` itself, with
        no daemon needed; one that ends cleanly resolves that alert."""
        try:
            summary = self._consume(drain=drain, max_changes=max_changes, max_seconds=max_seconds)
        except Exception as exc:
            with contextlib.suppress(psycopg.Error), psycopg.connect(self.dsn, autocommit=True) as db:
                # The database itself gone: nothing to record in; the run's failure alerts later.
                raise_alert(db, severity="error", source="cdc", code="consumer_stopped", subject=self.topo.queue,
                            message=f"增量消费进程异常退出（队列 {self.topo.queue}）：{type(exc).__name__}: {exc}"[:2000],
                            details={"queue": self.topo.queue, "error": repr(exc)[:2000]})
            raise
        with psycopg.connect(self.dsn, autocommit=True) as db:
            resolve_alerts(db, "consumer_stopped", self.topo.queue)
        return summary

    def _consume(self, *, drain: bool = False, max_changes: int | None = None,
                 max_seconds: float | None = None) -> Summary:
        """Consume until stopped; ``drain``: until the queue is empty. Bounds end it earlier.

        This thread only receives and acknowledges; the writer process parses, logs, applies and
        commits (see the module's docstring) and hands the acks back.
        """
        import pika

        s, t0 = self.s, time.monotonic()
        summary = Summary(self.topo.queue)
        params = pika.URLParameters(s.amqp_url)
        params.heartbeat = 60
        amqp = pika.BlockingConnection(params)
        writer = _Writer(self, amqp, summary)
        try:
            ch = amqp.channel()
            waiting = declare(ch, self.topo)  # ready before this consumer attached
            ch.basic_qos(prefetch_count=s.cdc_prefetch)
            writer.channel = ch
            writer.start()
            batch: list[Delivery] = []
            n_batch, batch_t0 = 0, 0.0
            for method, props, body in ch.consume(self.topo.queue, inactivity_timeout=s.cdc_flush_s):
                writer.raise_failure()
                if method is not None:
                    if not batch:
                        batch_t0 = time.monotonic()
                    batch.append((method.delivery_tag, method.routing_key, props.headers, body))
                    n = _size(body)
                    n_batch += n
                    summary.messages += 1
                    summary.received += n
                # Full, quiet, or as old as the flush interval: under a steady trickle the queue
                # is never quiet, and a change must not wait for 2 000 others to be queryable.
                if batch and (method is None or n_batch >= s.cdc_batch_size
                              or time.monotonic() - batch_t0 >= s.cdc_flush_s):
                    writer.put(batch)
                    batch, n_batch = [], 0
                if self._stop.is_set():
                    summary.stopped_by = "signal"
                elif max_changes is not None and summary.received >= max_changes:
                    summary.stopped_by = "max_changes"
                elif max_seconds is not None and time.monotonic() - t0 >= max_seconds:
                    summary.stopped_by = "max_seconds"
                elif drain and method is None and not batch and writer.idle() and \
                        queue_drained(ch.queue_declare(self.topo.queue, passive=True).method,
                                      summary.messages, waiting):
                    summary.stopped_by = "drained"
                if summary.stopped_by:
                    if batch:
                        writer.put(batch)
                    break
            writer.finish()  # every batch committed and its acks sent before the channel closes
            ch.cancel()  # anything prefetched and not flushed goes back to the queue
        finally:
            writer.finish()
            if amqp.is_open:
                amqp.close()
        writer.raise_failure()
        summary.seconds = time.monotonic() - t0
        return summary

    def _prepare(self, batch: list[Delivery]) -> _Prepared:
        by_table: dict[str, list] = defaultdict(list)
        poison_rows, poison_tags, good_tags = [], [], []
        latest = None
        cat = self.cat
        for d in batch:
            changes, poison = plain_changes(d[3], cat), ()
            if changes is None:  # some change is not plainly good: the full verdict, with reasons
                parsed = parse_body(d[3], cat)
                changes, poison = parsed.changes, parsed.poison
                poison_rows += [_poison_row(self.topo.queue, self.topo.exchange, d, x) for x in poison]
            (poison_tags if poison else good_tags).append(d[0])
            for c in changes:
                by_table[c.table].append(c)
                if latest is None or c.ts > latest:
                    latest = c.ts
        blocks = {code: copy_block(self.cat.tables[code], cs) for code, cs in by_table.items()}
        return _Prepared(blocks, poison_rows, poison_tags, good_tags,
                         latest.timestamp() if latest is not None else None)

    def _commit(self, db: psycopg.Connection, p: _Prepared, summary: Summary) -> None:
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


class _Writer:
    """The consumer's side of the writer process (``python -m dz_assets.cdc.writer``): hands
    micro-batches over, at most three in flight (one committing, one being parsed, one waiting),
    and acknowledges what the writer committed.

    A plain child process on two pipes, not ``multiprocessing``: spawn would re-import the
    caller's main module (a script without a main guard would run again) and fork is unsafe in
    a threaded caller (Dagster, the bench)."""

    MAX_IN_FLIGHT = 3

    def __init__(self, consumer: Consumer, amqp, summary: Summary) -> None:
        self.consumer, self.amqp, self.summary = consumer, amqp, summary
        self.channel = None
        self.proc: subprocess.Popen | None = None
        self.in_flight = 0  # handed over and not yet acknowledged (only the pika thread counts)
        self.failure: BaseException | None = None
        self.ended = threading.Event()  # the writer finished, failed or died
        self.outbox: queue.Queue = queue.Queue()  # batches for the sender thread (never blocks pika)
        self._finished = False

    def start(self) -> None:
        jobs_r, jobs_w = os.pipe()
        results_r, results_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dz_assets.cdc.writer", str(jobs_r), str(results_w), str(os.getpid())],
                pass_fds=(jobs_r, results_w), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL)  # stdout is the CLI's JSON summary
        finally:
            os.close(jobs_r)
            os.close(results_w)
        self.jobs, self.results = Connection(jobs_w, readable=False), Connection(results_r, writable=False)
        self.outbox.put((self.consumer.dsn, self.consumer.s))
        threading.Thread(target=self._send, name="cdc-send", daemon=True).start()
        threading.Thread(target=self._read, name="cdc-acks", daemon=True).start()

    def put(self, batch: list[Delivery]) -> None:
        while self.in_flight >= self.MAX_IN_FLIGHT:
            self.raise_failure()
            self.amqp.process_data_events(0.05)  # runs the acks of committed batches meanwhile
        self.in_flight += 1
        self.outbox.put(batch)

    def idle(self) -> bool:
        return self.in_flight == 0

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise RuntimeError("change writer failed; unacknowledged messages will be redelivered") \
                from self.failure

    def _send(self) -> None:
        while True:
            item = self.outbox.get()
            try:
                self.jobs.send(item)
            except OSError:  # the writer is gone: _read reports why
                return
            if item is None:
                return

    def _read(self) -> None:
        """Results of the writer, turned into acks on the pika thread (which alone may touch the
        channel)."""
        while True:
            try:
                msg = self.results.recv()
            except (EOFError, OSError):
                msg = ("failed", f"the writer process ended (exit code {self.proc.wait()})")
            if msg[0] == "done":
                try:
                    self.amqp.add_callback_threadsafe(lambda m=msg: self._ack(m[1], m[2], m[3]))
                except Exception as exc:  # connection gone: the batch is committed, its acks are lost
                    self.failure = self.failure or exc  # (redelivered, and stored as duplicates)
                    self.ended.set()
                    return
                continue
            if msg[0] == "failed":
                self.failure = RuntimeError(msg[1])
            self.ended.set()
            return

    def _ack(self, poison_tags: list[int], good_tags: list[int], delta: dict[str, Any]) -> None:
        # Committed: now the broker may forget them. Poison first (each on its own: dead-lettered),
        # then the good ones in one multiple-ack up to the highest good tag.
        for tag in poison_tags:
            self.channel.basic_nack(tag, requeue=False)
        if good_tags:
            self.channel.basic_ack(max(good_tags), multiple=True)
        self.summary.add(delta)
        self.in_flight -= 1

    def finish(self) -> None:
        """Every batch handed over committed and acknowledged, then the writer ends."""
        if self._finished or self.proc is None:
            return
        self._finished = True
        self.outbox.put(None)
        while not (self.ended.is_set() and (self.in_flight == 0 or self.failure or not self.amqp.is_open)):
            if self.amqp.is_open:
                self.amqp.process_data_events(0.05)
            else:
                self.ended.wait(0.05)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.amqp.is_open:
            self.amqp.process_data_events(0)  # the last acks
        self.jobs.close()
        self.results.close()


def consume(*, drain: bool = False, max_changes: int | None = None, max_seconds: float | None = None,
            dsn: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    return Consumer(dsn=dsn, settings=settings).run(drain=drain, max_changes=max_changes,
                                                   max_seconds=max_seconds).as_dict()
