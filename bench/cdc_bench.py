"""Incremental-sync benchmark: dz-hub's consumer against the broker's own raw rates, same run.

    .venv/bin/python bench/cdc_bench.py [--changes 1000000] [--keys 1000000] [--latency-seconds 30]

Changes are I/U/D (60/30/10 %) over a ``--keys``-key smart-community access table
(ZHXQ_ZHXQRYJCJLXX: key, two strings, an ID number, a datetime, a code), with 5 % duplicates (the
same message sent again) and 5 % out of order (swapped with a change a few hundred places later).
In one run, on its own uuid-named exchange and queues and its own database:

(a) broker raw: publish the messages (persistent, quorum queue) and consume them with a bare
    pika consumer (ack every 1000, no parsing) — the broker's own publish and consume rates;
(b) dz-hub, one change per message: the same messages published to dz-hub's queue, then
    ``Consumer.run(drain=True)``: parse, validate, log, apply, commit, ack — applied changes/s;
(c) dz-hub, 100 changes per message (JSON arrays): applied changes/s;
(d) latency: a publisher at a steady 2 000 changes/s while the consumer runs; each change's
    publish time against the moment its micro-batch is visible (the table's watermark, committed
    in the same transaction as the ODS rows): p50/p95/p99 publish→queryable.

Goals: (b) ≥ 50 % of (a)'s consume rate; (c) ≥ 20 k changes/s; (d) p99 ≤ 5 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import threading
import time
import uuid

import pika
import psycopg

from dz_assets.cdc.consumer import Consumer
from dz_assets.cdc.topology import Topology, declare
from dz_assets.db import pg_dsn, with_database
from dz_assets.db.init import init_database
from dz_assets.settings import get_settings

TABLE = "ZHXQ_ZHXQRYJCJLXX"
ID = "51170219900101123X"


def changes(n: int, keys: int, seed: int, seq0: int = 1, mess: bool = True) -> list[bytes]:
    """Change bodies (compact JSON, ~260 bytes: 1M hold ~300 MB) in publish order, with
    duplicates and local reordering."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        seq = seq0 + i
        k = rng.randrange(keys)
        r = rng.random()
        op = "I" if r < 0.6 else "U" if r < 0.9 else "D"
        jl = f"JL{k:012d}"
        body = {"msg_id": f"b{seed}-{seq}", "table": TABLE, "op": op, "seq": seq,
                "ts": f"2026-11-21T{8 + i % 12:02d}:{i % 60:02d}:{(i // 60) % 60:02d}+08:00", "pk": {"JLBH": jl}}
        if op != "D":
            body["data"] = {"JLBH": jl, "XQBM": f"XQ{k % 5000:06d}", "GMSFHM": ID,
                            "CRSJ": f"20261121{8 + i % 12:02d}{i % 60:02d}00", "CRFXDM": "1" if i % 2 else "2"}
        out.append(json.dumps(body, separators=(",", ":")).encode())
        if mess and rng.random() < 0.05:
            out.append(out[-1])  # a duplicate: the same message again
    for i in range(0, len(out) - 500 if mess else 0):
        if rng.random() < 0.05:
            j = i + rng.randrange(1, 500)
            out[i], out[j] = out[j], out[i]
    return out


def payloads(bodies: list[bytes], per_message: int) -> list[bytes]:
    if per_message == 1:
        return bodies
    return [b"[" + b",".join(bodies[i:i + per_message]) + b"]" for i in range(0, len(bodies), per_message)]


def publish(url: str, exchange: str, messages: list[bytes]) -> float:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
    t0 = time.monotonic()
    for m in messages:
        ch.basic_publish(exchange, TABLE, m, props)
    conn.process_data_events(0)
    conn.close()
    return time.monotonic() - t0


def wait_depth(url: str, queue: str, n: int, settle_s: float = 10.0) -> int:
    """Wait until ``queue`` holds ``n`` messages; returns its depth. Publishing is unconfirmed
    (the raw rate), and a 1M run once arrived 124 short and waited forever: a depth that stays put
    for ``settle_s`` is taken as final (the caller reports what is missing)."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    last, since = -1, time.monotonic()
    while (depth := ch.queue_declare(queue, passive=True).method.message_count) < n:
        if depth != last:
            last, since = depth, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            break
        time.sleep(0.2)
    conn.close()
    return depth


def raw_consume(url: str, queue: str, n: int, prefetch: int) -> float:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=prefetch)
    got = 0
    t0 = time.monotonic()
    for method, _, _ in ch.consume(queue, inactivity_timeout=5):
        if method is None:
            break
        got += 1  # noqa: SIM113 - counts deliveries, not loop turns (timeouts end the loop)
        if got % 1000 == 0 or got == n:
            ch.basic_ack(method.delivery_tag, multiple=True)
        if got == n:
            break
    dt = time.monotonic() - t0
    ch.cancel()
    conn.close()
    return dt


def reset_table(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("truncate ods.zhxq_zhxqryjcjlxx")
        if conn.execute("select to_regclass('raw.zhxq_zhxqryjcjlxx__changes')").fetchone()[0]:
            conn.execute("truncate raw.zhxq_zhxqryjcjlxx__changes")
        conn.execute("delete from meta.cdc_table_state")
        conn.execute("delete from meta.cdc_kept")


def run_consumer(dsn: str, settings, drain: bool = True, stop: threading.Event | None = None) -> dict:
    c = Consumer(dsn=dsn, settings=settings)
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), c.stop()), daemon=True).start()
    return c.run(drain=drain).as_dict()


def latency(url: str, dsn: str, settings, exchange: str, seconds: float, rate: int, seq0: int) -> dict:
    n = int(seconds * rate)
    bodies = changes(n, 1_000_000, 99, seq0, mess=False)
    seqs = [json.loads(b)["seq"] for b in bodies]
    published: list[tuple[int, float]] = []  # (seq, publish time), in seq order (appended by the publisher)
    seen: list[float] = []  # visible time of published[i], filled in order (the watermark only grows)
    stop = threading.Event()
    result: dict = {}
    consumer = threading.Thread(target=lambda: result.update(run_consumer(dsn, settings, drain=False, stop=stop)))
    consumer.start()
    time.sleep(1.0)
    done_publishing = threading.Event()

    def poll() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while True:
                w = conn.execute("select watermark_seq from meta.cdc_table_state where table_code = %s",
                                 (TABLE,)).fetchone()
                now = time.monotonic()
                end = len(published)  # a snapshot: appends after it are seen next round
                while len(seen) < end and w and w[0] is not None and published[len(seen)][0] <= w[0]:
                    seen.append(now)
                if done_publishing.is_set() and (len(seen) == len(published) or now > deadline[0]):
                    return
                time.sleep(0.01)

    deadline = [float("inf")]
    poller = threading.Thread(target=poll)
    poller.start()
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
    t0 = time.monotonic()
    tick = 0.01  # 20 messages every 10 ms = 2 000/s
    per_tick = max(1, int(rate * tick))
    for i in range(0, n, per_tick):
        target = t0 + (i // per_tick) * tick
        if (d := target - time.monotonic()) > 0:
            time.sleep(d)
        for b, s in zip(bodies[i:i + per_tick], seqs[i:i + per_tick], strict=True):
            ch.basic_publish(exchange, TABLE, b, props)
            published.append((s, time.monotonic()))
        conn.process_data_events(0)
    achieved = n / (time.monotonic() - t0)
    conn.close()
    deadline[0] = time.monotonic() + 15  # the last changes get 15 s to become visible
    done_publishing.set()
    poller.join()
    stop.set()
    consumer.join()
    lat = sorted(v - published[i][1] for i, v in enumerate(seen))

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 3) if lat else float("nan")

    return {"changes": n, "rate_achieved": round(achieved), "visible": len(lat), "p50_s": pct(0.50),
            "p95_s": pct(0.95), "p99_s": pct(0.99), "max_s": round(lat[-1], 3) if lat else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--latency-seconds", type=float, default=30)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--keep-db", action="store_true")
    a = ap.parse_args()
    s0 = get_settings()
    url = s0.amqp_url
    tag = uuid.uuid4().hex[:8]
    topo = Topology(f"dz.cdc.bench.{tag}", f"dzhub.cdc.bench.{tag}")
    raw_x, raw_q = f"dz.cdc.bench.raw.{tag}", f"dzhub.cdc.bench.raw.{tag}"
    settings = dataclasses.replace(s0, cdc_exchange=topo.exchange, cdc_queue=topo.queue)
    dsn = with_database(pg_dsn(), f"dzhub_bench_cdc_{tag}")
    init_database(dsn)
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    declare(ch, topo)
    ch.exchange_declare(raw_x, exchange_type="topic", durable=True)
    ch.queue_declare(raw_q, durable=True, arguments={"x-queue-type": "quorum"})
    ch.queue_bind(raw_q, raw_x, "#")
    conn.close()
    out: dict = {"changes": a.changes, "keys": a.keys, "prefetch": settings.cdc_prefetch,
                 "batch_size": settings.cdc_batch_size, "load_avg_1m": {"start": os.getloadavg()[0]}}
    try:
        bodies = changes(a.changes, a.keys, 1)
        msgs = payloads(bodies, 1)
        print(f"{len(msgs)} messages ({len(bodies) - a.changes} duplicates), "
              f"{sum(map(len, msgs)) / len(msgs):.0f} bytes each", file=sys.stderr)
        # (a) the broker alone
        t = publish(url, raw_x, msgs)
        depth = wait_depth(url, raw_q, len(msgs))
        out["raw_publish_msgs_per_s"] = round(len(msgs) / t)
        out["raw_lost_in_publish"] = len(msgs) - depth
        t = raw_consume(url, raw_q, depth, settings.cdc_prefetch)
        out["raw_consume_msgs_per_s"] = round(depth / t)
        out["raw_load_avg_1m"] = os.getloadavg()[0]
        print(f"raw: publish {out['raw_publish_msgs_per_s']}/s, consume {out['raw_consume_msgs_per_s']}/s",
              file=sys.stderr)
        # (b) dz-hub, one change per message
        t = publish(url, topo.exchange, msgs)
        out["dz_lost_in_publish"] = len(msgs) - wait_depth(url, topo.queue, len(msgs))
        out["dz_publish_msgs_per_s"] = round(len(msgs) / t)
        r = run_consumer(dsn, settings)
        out["single"] = {k: r[k] for k in ("messages", "changes", "stored", "duplicates", "applied", "deleted",
                                           "ignored", "batches", "seconds", "changes_per_s")}
        out["single"]["load_avg_1m"] = os.getloadavg()[0]
        out["single_vs_raw_consume"] = round(r["changes"] / r["seconds"] / out["raw_consume_msgs_per_s"], 3)
        print(f"dz-hub 1/msg: {r['changes_per_s']} changes/s", file=sys.stderr)
        # (c) dz-hub, 100 changes per message
        reset_table(dsn)
        msgs = payloads(bodies, 100)
        t = publish(url, topo.exchange, msgs)
        out["dz_lost_in_publish_100"] = len(msgs) - wait_depth(url, topo.queue, len(msgs))
        r = run_consumer(dsn, settings)
        out["batched_100"] = {k: r[k] for k in ("messages", "changes", "stored", "applied", "batches", "seconds",
                                                "changes_per_s")}
        out["batched_100"]["load_avg_1m"] = os.getloadavg()[0]
        print(f"dz-hub 100/msg: {r['changes_per_s']} changes/s", file=sys.stderr)
        del msgs, bodies
        # (d) publish → queryable at a steady rate
        out["latency"] = latency(url, dsn, settings, topo.exchange, a.latency_seconds, a.rate, 10**12)
        out["load_avg_1m"]["end"] = os.getloadavg()[0]  # a shared machine: read the figures with it
        out["goals"] = {"single_ge_50pct_raw_consume": out["single_vs_raw_consume"] >= 0.5,
                        "batched_ge_20k": out["batched_100"]["changes_per_s"] >= 20_000,
                        "p99_le_5s": out["latency"]["p99_s"] <= 5}
    finally:
        conn = pika.BlockingConnection(pika.URLParameters(url))
        ch = conn.channel()
        for q in (topo.queue, topo.dead_letter_queue, raw_q):
            ch.queue_delete(q)
        for x in (topo.exchange, topo.dead_letter_exchange, raw_x):
            ch.exchange_delete(x)
        conn.close()
        if not a.keep_db:
            with psycopg.connect(with_database(dsn, "postgres"), autocommit=True) as c:
                c.execute(f'drop database if exists "dzhub_bench_cdc_{tag}" with (force)')
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
