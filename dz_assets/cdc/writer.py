"""The consumer's writer process (``python -m dz_assets.cdc.writer JOBS_FD RESULTS_FD PARENT``),
and :class:`WriterProcess`, the consumer's side of it.

It reads ``(dsn, settings)`` and then micro-batches of deliveries from the ``JOBS_FD`` pipe; a
parse thread judges micro-batch N+1 and builds its COPY text while the main thread stores,
applies and commits micro-batch N (psycopg waits for PostgreSQL without the GIL). After each
commit the batch's delivery tags and figures go back on ``RESULTS_FD``; the consumer, which alone
talks to the broker, acknowledges them. ``None`` ends it once everything sent is committed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

import psycopg

from dz_assets.catalog import load_catalogue
from dz_assets.cdc.microbatch import Delivery, MicroBatch, MicroBatcher
from dz_assets.cdc.summary import Summary
from dz_assets.cdc.topology import Topology
from dz_assets.db import connect


def follow_parent(parent: int) -> None:
    """Die with the consumer (a SIGKILLed consumer must not leave a writer committing batches
    nobody acknowledges), and leave SIGINT/SIGTERM to it: it stops after its batch, then ends us."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the pipe's EOF still ends us
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    if os.getppid() != parent:  # the consumer died before the line above
        os._exit(1)


def _infrastructure(exc: BaseException, db) -> bool:
    """Whether ``exc`` is the database's or the connection's fault rather than one message's:
    then nothing is poisoned, the writer fails and the consumer's restart redelivers."""
    return db.closed or db.broken or isinstance(exc, psycopg.OperationalError)


def _commit(batcher: MicroBatcher, db, prepared: MicroBatch, summary: Summary) -> None:
    """``batcher.commit`` whose figures count only once it committed (it adds them as it goes)."""
    trial = Summary(summary.queue)
    batcher.commit(db, prepared, trial)
    summary.add(trial.delta())


def commit_batch(batcher: MicroBatcher, db, batch: list[Delivery], prepared: MicroBatch | BaseException,
                 summary: Summary) -> tuple[list[int], list[int]]:
    """Commit one micro-batch; returns its (poison tags, good tags).

    ``prepared`` is the batch judged, or the exception judging it raised. If preparing or
    committing the whole fails for a reason that is not the database's, each delivery is tried
    in a transaction of its own and one that still fails is kept as ``write_failed`` poison (and
    dead-lettered). Else one bad message would fail its batch at every redelivery: the writer
    would crash, the consumer exit, and each restart fail again on it, the good messages with it.
    """
    if not isinstance(prepared, BaseException):
        try:
            _commit(batcher, db, prepared, summary)
            return prepared.poison_tags, prepared.good_tags
        except Exception as exc:
            if _infrastructure(exc, db):
                raise
            prepared = exc
    poison_tags, good_tags = [], []
    for d in batch:
        try:
            one = batcher.judge([d])
            _commit(batcher, db, one, summary)
        except Exception as exc:
            if _infrastructure(exc, db):
                raise
            try:
                one = batcher.refused(d, exc)
                _commit(batcher, db, one, summary)
            except Exception as again:  # its headers or ids were what the database refused
                if _infrastructure(again, db):
                    raise
                one = batcher.refused(d, exc, bare=True)
                _commit(batcher, db, one, summary)  # a body and a reason: fails only with the database
        poison_tags += one.poison_tags
        good_tags += one.good_tags
    return poison_tags, good_tags


def main(jobs: Connection, results: Connection) -> None:
    try:
        dsn, settings = jobs.recv()
        topo = Topology.from_settings(settings)
        batcher = MicroBatcher(load_catalogue(), topo, settings)
        prepared: queue.Queue = queue.Queue(maxsize=1)
        failed: list[BaseException] = []

        def parse() -> None:
            try:
                while (batch := jobs.recv()) is not None:
                    try:
                        p = batcher.judge(batch)
                    except Exception as exc:  # noqa: BLE001 - commit_batch takes it message by message
                        p = exc
                    prepared.put((batch, p))
            except BaseException as exc:
                failed.append(exc)
            prepared.put(None)

        threading.Thread(target=parse, name="cdc-parse", daemon=True).start()
        with connect(dsn) as db:
            # Plans here are small and run several times a second: JIT compiling one (the refill's
            # row estimate crosses jit_above_cost) cost more than running it.
            db.execute("set jit = off")
            db.commit()
            while (item := prepared.get()) is not None:
                summary = Summary(topo.queue)
                poison_tags, good_tags = commit_batch(batcher, db, item[0], item[1], summary)
                results.send(("done", poison_tags, good_tags, summary.delta()))
        if failed:
            raise failed[0]
        results.send(("finished",))
    except BaseException:
        results.send(("failed", traceback.format_exc()))



class WriterProcess:
    """The consumer's side of the writer process (``python -m dz_assets.cdc.writer``): hands
    micro-batches over, at most three in flight (one committing, one being parsed, one waiting),
    and acknowledges what the writer committed.

    A plain child process on two pipes, not ``multiprocessing``: spawn would re-import the
    caller's main module (a script without a main guard would run again) and fork is unsafe in
    a threaded caller (Dagster, the bench)."""

    MAX_IN_FLIGHT = 3

    def __init__(self, dsn: str, settings: Any, amqp, summary: Summary) -> None:
        self.dsn, self.settings, self.amqp, self.summary = dsn, settings, amqp, summary
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
        self.outbox.put((self.dsn, self.settings))
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


if __name__ == "__main__":
    follow_parent(int(sys.argv[3]))
    main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
