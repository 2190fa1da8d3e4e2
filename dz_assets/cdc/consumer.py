"""The change-message consumer: RabbitMQ → change log → ODS, acknowledged only after commit.

Messages are gathered into a micro-batch (``DZ_CDC_BATCH_SIZE`` changes, or whatever came within
``DZ_CDC_FLUSH_S`` of quiet; ``microbatch.py`` judges and commits one); only after its commit are
the good messages acknowledged (``basic_ack(multiple=True)``) and the poison ones rejected
without requeue, so the broker dead-letters them. A crash before the ack redelivers
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
import threading
import time

import pika
import psycopg

from dz_assets.cdc.microbatch import Delivery
from dz_assets.cdc.summary import Summary
from dz_assets.cdc.topology import Topology, declare
from dz_assets.cdc.writer import WriterProcess
from dz_assets.db import pg_dsn
from dz_assets.ops.alerts import raise_alert, resolve_alerts
from dz_assets.settings import Settings, get_settings


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


def drain_empty(ok) -> bool:
    """Whether a passive ``Queue.DeclareOk`` reads as an empty queue at all (0 ready, and a
    true answer: RabbitMQ's fallback for a leader that did not answer counts no consumers)."""
    return ok.message_count == 0 and ok.consumer_count > 0


def _size(body: bytes) -> int:
    """Changes in a body, for sizing micro-batches before it is parsed (the writer parses): one
    per ``"msg_id"`` key, at least one."""
    return body.count(b'"msg_id"') or 1


class Consumer:
    """One consumer of dz-hub's queue; ``stop()`` (e.g. from SIGTERM) ends it after the batch."""

    def __init__(self, *, dsn: str | None = None, settings: Settings | None = None) -> None:
        self.s = settings or get_settings()
        self.dsn = dsn or pg_dsn()
        self.topo = Topology.from_settings(self.s)
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
        s, t0 = self.s, time.monotonic()
        summary = Summary(self.topo.queue)
        params = pika.URLParameters(s.amqp_url)
        params.heartbeat = 60
        amqp = pika.BlockingConnection(params)
        writer = WriterProcess(self.dsn, self.s, amqp, summary)
        try:
            ch = amqp.channel()
            waiting = declare(ch, self.topo)  # ready before this consumer attached
            ch.basic_qos(prefetch_count=s.cdc_prefetch)
            writer.channel = ch
            writer.start()
            batch: list[Delivery] = []
            n_batch, batch_bytes, batch_t0 = 0, 0, 0.0
            # Since when the queue has said "0 ready" with nothing delivered: what was waiting at
            # attach may have gone to another consumer that has since left (then queue_drained's
            # "received what was waiting" never comes true), so a quiet bound ends the drain.
            empty_since: float | None = None
            for method, props, body in ch.consume(self.topo.queue, inactivity_timeout=s.cdc_flush_s):
                writer.raise_failure()
                if method is not None:
                    empty_since = None
                    if not batch:
                        batch_t0 = time.monotonic()
                    batch.append((method.delivery_tag, method.routing_key, props.headers, body))
                    n = _size(body)
                    n_batch += n
                    batch_bytes += len(body)
                    summary.messages += 1
                    summary.received += n
                # Full, quiet, or as old as the flush interval: under a steady trickle the queue
                # is never quiet, and a change must not wait for 2 000 others to be queryable.
                if batch and (method is None or n_batch >= s.cdc_batch_size or batch_bytes >= s.cdc_batch_bytes
                              or time.monotonic() - batch_t0 >= s.cdc_flush_s):
                    writer.put(batch)
                    batch, n_batch, batch_bytes = [], 0, 0
                if self._stop.is_set():
                    summary.stopped_by = "signal"
                elif max_changes is not None and summary.received >= max_changes:
                    summary.stopped_by = "max_changes"
                elif max_seconds is not None and time.monotonic() - t0 >= max_seconds:
                    summary.stopped_by = "max_seconds"
                elif drain and method is None and not batch and writer.idle():
                    ok = ch.queue_declare(self.topo.queue, passive=True).method
                    empty_since = (empty_since or time.monotonic()) if drain_empty(ok) else None
                    if queue_drained(ok, summary.messages, waiting) or (
                            empty_since is not None and time.monotonic() - empty_since >= s.cdc_drain_idle_s):
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
            if writer.failure is not None:
                self._alert_failure(writer.failure)
        writer.raise_failure()
        summary.seconds = time.monotonic() - t0
        return summary

    def _alert_failure(self, failure: BaseException) -> None:
        """The stream stopped (the database failed, not a message: those are poison): say so."""
        try:
            with psycopg.connect(self.dsn, autocommit=True) as db:
                raise_alert(db, severity="error", source="cdc", code="writer_failed", subject=self.topo.queue,
                            message="变更消息写入失败，消费已停止；未确认的消息将在重启后重新投递："
                            + str(failure)[-300:], details={"queue": self.topo.queue})
        except Exception:  # noqa: BLE001 - the database is likely why it failed; the exit says it too
            pass


def consume(*, drain: bool = False, max_changes: int | None = None, max_seconds: float | None = None,
            dsn: str | None = None, settings: Settings | None = None) -> Summary:
    return Consumer(dsn=dsn, settings=settings).run(drain=drain, max_changes=max_changes, max_seconds=max_seconds)
