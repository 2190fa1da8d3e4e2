"""The consumer's writer process (``python -m dz_assets.cdc.writer JOBS_FD RESULTS_FD PARENT``).

It reads ``(dsn, settings)`` and then micro-batches of deliveries from the ``JOBS_FD`` pipe; a
parse thread judges micro-batch N+1 and builds its COPY text while the main thread stores,
applies and commits micro-batch N (psycopg waits for PostgreSQL without the GIL). After each
commit the batch's delivery tags and figures go back on ``RESULTS_FD``; the consumer, which alone
talks to the broker, acknowledges them. ``None`` ends it once everything sent is committed.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import traceback
from multiprocessing.connection import Connection


def follow_parent(parent: int) -> None:
    """Die with the consumer (a SIGKILLed consumer must not leave a writer committing batches
    nobody acknowledges), and leave SIGINT/SIGTERM to it: it stops after its batch, then ends us."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the consumer died before the line above
        os._exit(1)


def _infrastructure(exc: BaseException, db) -> bool:
    """Whether ``exc`` is the database's or the connection's fault rather than one message's:
    then nothing is poisoned, the writer fails and the consumer's restart redelivers."""
    import psycopg

    return db.closed or db.broken or isinstance(exc, psycopg.OperationalError)


def _commit(consumer, db, prepared, summary) -> None:
    """``consumer._commit`` whose figures count only once it committed (it adds them as it goes)."""
    from dz_assets.cdc.consumer import Summary

    trial = Summary(summary.queue)
    consumer._commit(db, prepared, trial)
    summary.add(trial.delta())


def commit_batch(consumer, db, batch: list, prepared, summary) -> tuple[list[int], list[int]]:
    """Commit one micro-batch; returns its (poison tags, good tags).

    ``prepared`` is the batch judged, or the exception judging it raised. If preparing or
    committing the whole fails for a reason that is not the database's, each delivery is tried
    in a transaction of its own and one that still fails is kept as ``write_failed`` poison (and
    dead-lettered). Else one bad message would fail its batch at every redelivery: the writer
    would crash, the consumer exit, and each restart fail again on it, the good messages with it.
    """
    if not isinstance(prepared, BaseException):
        try:
            _commit(consumer, db, prepared, summary)
            return prepared.poison_tags, prepared.good_tags
        except Exception as exc:
            if _infrastructure(exc, db):
                raise
            prepared = exc
    poison_tags, good_tags = [], []
    for d in batch:
        try:
            one = consumer._prepare([d])
            _commit(consumer, db, one, summary)
        except Exception as exc:
            if _infrastructure(exc, db):
                raise
            try:
                one = consumer._rejected(d, exc)
                _commit(consumer, db, one, summary)
            except Exception as again:  # its headers or ids were what the database refused
                if _infrastructure(again, db):
                    raise
                one = consumer._rejected(d, exc, bare=True)
                _commit(consumer, db, one, summary)  # a body and a reason: fails only with the database
        poison_tags += one.poison_tags
        good_tags += one.good_tags
    return poison_tags, good_tags


def main(jobs: Connection, results: Connection) -> None:
    from dz_assets.cdc.consumer import Consumer, Summary
    from dz_assets.db import connect

    try:
        dsn, settings = jobs.recv()
        consumer = Consumer(dsn=dsn, settings=settings)
        prepared: queue.Queue = queue.Queue(maxsize=1)
        failed: list[BaseException] = []

        def parse() -> None:
            try:
                while (batch := jobs.recv()) is not None:
                    try:
                        p = consumer._prepare(batch)
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
                summary = Summary(consumer.topo.queue)
                poison_tags, good_tags = commit_batch(consumer, db, item[0], item[1], summary)
                results.send(("done", poison_tags, good_tags, summary.delta()))
        if failed:
            raise failed[0]
        results.send(("finished",))
    except BaseException:
        results.send(("failed", traceback.format_exc()))


if __name__ == "__main__":
    follow_parent(int(sys.argv[3]))
    main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
