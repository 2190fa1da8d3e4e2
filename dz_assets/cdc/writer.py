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
                    prepared.put(consumer._prepare(batch))
            except BaseException as exc:
                failed.append(exc)
            prepared.put(None)

        threading.Thread(target=parse, name="cdc-parse", daemon=True).start()
        with connect(dsn) as db:
            # Plans here are small and run several times a second: JIT compiling one (the refill's
            # row estimate crosses jit_above_cost) cost more than running it.
            db.execute("set jit = off")
            db.commit()
            while (p := prepared.get()) is not None:
                summary = Summary(consumer.topo.queue)
                consumer._commit(db, p, summary)
                results.send(("done", p.poison_tags, p.good_tags, summary.delta()))
        if failed:
            raise failed[0]
        results.send(("finished",))
    except BaseException:
        results.send(("failed", traceback.format_exc()))


if __name__ == "__main__":
    follow_parent(int(sys.argv[3]))
    main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
