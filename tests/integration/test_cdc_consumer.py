"""The consumer on the real RabbitMQ and PostgreSQL: every poison kind of the contract is kept with
its reason and dead-lettered while the rest applies; redelivered duplicates change nothing; a
consumer killed with SIGKILL mid-batch loses nothing and applies nothing twice after restart.
Each test uses its own uuid-named exchange and queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dz_assets.cdc.consumer import consume, queue_drained
from dz_assets.cdc.status import local_recon_all, status
from dz_assets.db import with_database
from dz_assets.synth.messages import POISON_KINDS, publish_messages

PERSONS, SEED = 400, 7  # one day of this city: 134 changes over 5 tables


def _reset(db):
    """Start every test from empty logs and ODS rows of the tables the day touches."""
    for (name,) in db.execute("select tablename from pg_tables where schemaname = 'raw' "
                              "and tablename like '%%\\_\\_changes'").fetchall():
        db.execute(f'truncate raw."{name}"')
        db.execute(f'truncate ods."{name.removesuffix("__changes")}"')
    db.execute("delete from meta.cdc_table_state")
    db.execute("delete from meta.cdc_kept")
    db.commit()


def _settled(db) -> int:
    return db.execute("select coalesce(sum(applied + ignored), 0) from meta.cdc_table_state").fetchone()[0]


def test_each_poison_kind_is_kept_with_its_reason_and_the_rest_applies(topo, amqp_url, db):
    _reset(db)
    sent = publish_messages(amqp_url, persons=PERSONS, seed=SEED, poison=POISON_KINDS, exchange=topo.exchange)
    out = consume(drain=True).as_dict()
    assert out["changes"] == sent["changes"] == out["stored"]
    assert out["poison_by_reason"] == {k: 1 for k in POISON_KINDS}
    rows = db.execute("select reason_code, reason, routing_key, length(body) from meta.cdc_poison "
                      "where queue = %s order by poison_id", (topo.queue,)).fetchall()
    assert sorted(r[0] for r in rows) == sorted(POISON_KINDS)
    assert all(r[1] and r[3] > 0 for r in rows)
    assert all(r["ok"] for r in [r.as_json() for r in local_recon_all(db)])
    assert _settled(db) == sent["changes"]
    st = status(db).as_json()
    assert st["pending"] == 0 and st["broker"]["ready"] == 0 and st["broker"]["dead_lettered"] == len(POISON_KINDS)
    alerts = db.execute("select count(*) from meta.alert where code = 'poison_messages' and subject = %s",
                        (topo.queue,)).fetchone()[0]
    assert 1 <= alerts <= out["batches"]  # aggregated per micro-batch, not one per message


def test_unstorable_text_is_poison_and_the_stream_goes_on(topo, amqp_url, db):
    # A NUL (in a value or the msg_id) cannot be stored as text or jsonb: such a change once failed
    # its whole micro-batch at every redelivery. Now it is poison, kept with its body, and the
    # good change of the same array and the rest of the stream apply.
    import json

    import pika

    _reset(db)
    sent = publish_messages(amqp_url, persons=PERSONS, seed=SEED, exchange=topo.exchange, count=20)
    good = {"msg_id": "nul-test-good", "table": "ZHXQ_ZHXQRYJCJLXX", "op": "I", "seq": 1,
            "ts": "2026-11-21T08:00:00+08:00", "pk": {"JLBH": "JLNUL1"}, "data": {"XQBM": "XQ1"}}
    bad_value = {**good, "msg_id": "nul-test-1", "pk": {"JLBH": "JLNUL2"}, "data": {"XQBM": "a\x00b"}}
    bad_id = {**good, "msg_id": "nul\x00test", "pk": {"JLBH": "JLNUL3"}}
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    conn.channel().basic_publish(topo.exchange, "ZHXQ_ZHXQRYJCJLXX", json.dumps([good, bad_value, bad_id]).encode())
    conn.close()
    out = consume(drain=True).as_dict()
    assert out["poison_by_reason"] == {"bad_value": 2}
    assert out["stored"] == sent["changes"] + 1
    rows = db.execute("select msg_id, reason_code from meta.cdc_poison where queue = %s order by poison_id",
                      (topo.queue,)).fetchall()
    assert rows == [("nul-test-1", "bad_value"), ("nul\\x00test", "bad_value")]
    assert db.execute("select xqbm from ods.zhxq_zhxqryjcjlxx where jlbh = 'JLNUL1'").fetchone() == ("XQ1",)


def test_redelivered_duplicates_change_nothing(topo, amqp_url, db):
    _reset(db)
    sent = publish_messages(amqp_url, persons=PERSONS, seed=SEED, exchange=topo.exchange, batch_size=5)
    consume(drain=True).as_dict()
    before = {r["table"]: r for r in [r.as_json() for r in local_recon_all(db)]}
    publish_messages(amqp_url, persons=PERSONS, seed=SEED, exchange=topo.exchange)  # every change again
    out = consume(drain=True).as_dict()
    assert out["stored"] == 0 and out["duplicates"] == sent["changes"] and out["applied"] == 0
    assert {r["table"]: r for r in [r.as_json() for r in local_recon_all(db)]} == before
    assert _settled(db) == sent["changes"]


def test_killed_mid_batch_loses_nothing_and_applies_nothing_twice(topo, amqp_url, db, pg_dsn):
    _reset(db)
    sent = publish_messages(amqp_url, persons=PERSONS, seed=SEED, exchange=topo.exchange)
    env = dict(os.environ, DZ_CDC_BATCH_SIZE="20", DZ_CDC_PREFETCH="40", DZ_CDC_THROTTLE_S="0.6")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dzhub")), "cdc", "consume"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while _settled(db) < 20 and time.monotonic() < deadline:  # at least one batch committed
            time.sleep(0.05)
        time.sleep(0.3)  # inside the next batch's throttle: logged, not committed, not acked
        assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    done = _settled(db)
    assert 0 < done < sent["changes"]
    out = consume(drain=True).as_dict()
    assert _settled(db) == sent["changes"]  # each change settled exactly once over both runs
    assert out["stored"] == sent["changes"] - done
    logged = db.execute("select sum(n) from (select count(*) n from raw.zhxq_zhxqryjcjlxx__changes union all "
                        "select count(*) from raw.hz_hjrkjbxx__changes union all select count(*) from "
                        "raw.ybss_syrkxx__changes union all select count(*) from raw.hz_qhcxx__changes union all "
                        "select count(*) from raw.hz_swzxhkxx__changes) x").fetchone()[0]
    assert logged == sent["changes"]
    assert all(r["ok"] for r in [r.as_json() for r in local_recon_all(db)])


def test_writer_failure_raises_and_acknowledges_nothing(topo, amqp_url, db, pg_dsn):
    # The writer is a child process: its failure (here: no such database) must surface in the
    # consumer, and none of the messages it was handed may be acknowledged.
    _reset(db)
    sent = publish_messages(amqp_url, persons=PERSONS, seed=SEED, exchange=topo.exchange, count=30)
    with pytest.raises(RuntimeError, match="change writer failed") as exc:
        consume(drain=True, dsn=with_database(pg_dsn, "dzhub_cdc_no_such_db"))
    assert "dzhub_cdc_no_such_db" in str(exc.value.__cause__)
    out = consume(drain=True).as_dict()
    assert out["changes"] == out["stored"] == sent["changes"]


def test_cli_drain_and_status_print_one_json_object(topo, amqp_url, db):
    import json

    _reset(db)
    sent = publish_messages(amqp_url, persons=PERSONS, seed=SEED, exchange=topo.exchange, count=30)
    dzhub = str(Path(sys.executable).with_name("dzhub"))
    out = subprocess.run([dzhub, "cdc", "consume", "--drain", "--json"], capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    assert summary["changes"] == summary["stored"] == sent["changes"] and summary["stopped_by"] == "drained"
    out = subprocess.run([dzhub, "cdc", "status", "--json"], capture_output=True, text=True, check=True)
    st = json.loads(out.stdout)
    assert st["pending"] == 0 and st["lag_ok"] and st["broker"]["ready"] == 0
    out = subprocess.run([dzhub, "cdc", "local-recon", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["ok"]


def test_sigterm_stops_cleanly_after_committing(topo, amqp_url, db):
    import json

    _reset(db)
    dzhub = str(Path(sys.executable).with_name("dzhub"))
    proc = subprocess.Popen([dzhub, "cdc", "consume", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    sent = publish_messages(amqp_url, persons=PERSONS, seed=SEED, exchange=topo.exchange)
    deadline = time.monotonic() + 30
    while _settled(db) < sent["changes"] and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["stopped_by"] == "signal" and summary["stored"] == sent["changes"]


def test_drain_trusts_only_a_count_that_includes_this_consumer(topo, amqp_url):
    # Under load a quorum queue answered "0 messages, 0 consumers" for a full queue (its fallback
    # when the leader is slow) and --drain stopped having consumed nothing. A true answer read
    # while consuming counts the consumer itself.
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.basic_consume(topo.queue, lambda *a: None)
    ok = ch.queue_declare(topo.queue, passive=True).method
    assert (ok.message_count, ok.consumer_count) == (0, 1) and queue_drained(ok)
    assert not queue_drained(pika.spec.Queue.DeclareOk(topo.queue, message_count=0, consumer_count=0))
    # 0 ready while messages handed to this consumer are still on their way: not drained until
    # what was waiting at attach time has arrived (unless other consumers share the queue)
    assert not queue_drained(ok, received=3, waiting=10)
    assert queue_drained(ok, received=10, waiting=10)
    assert queue_drained(pika.spec.Queue.DeclareOk(topo.queue, message_count=0, consumer_count=2), 3, 10)
    conn.close()


def test_a_deeply_nested_body_is_poison_and_the_good_ones_of_its_batch_apply(topo, amqp_url, db):
    # 2 000 levels: orjson refuses it, the json fallback raised RecursionError, the writer failed
    # and every restart failed again on the redelivered message; the good messages published
    # around it in the same micro-batch were never applied and nobody was alerted.
    import json

    import pika

    _reset(db)
    good = {"table": "ZHXQ_ZHXQRYJCJLXX", "op": "I", "ts": "2026-11-21T08:00:00+08:00", "data": {"XQBM": "XQ1"}}
    deep = b'{"msg_id": "deep", "pk": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.confirm_delivery()  # all four queued before the drain counts what waits
    for i, body in enumerate([json.dumps({**good, "msg_id": "deep-good-1", "seq": 1, "pk": {"JLBH": "JLDEEP1"}}),
                              deep, b"[" * 100_000,
                              json.dumps({**good, "msg_id": "deep-good-2", "seq": 2, "pk": {"JLBH": "JLDEEP2"}})]):
        ch.basic_publish(topo.exchange, "ZHXQ_ZHXQRYJCJLXX", body if isinstance(body, bytes) else body.encode(),
                         pika.BasicProperties(headers={"n": i}))
    conn.close()
    out = consume(drain=True).as_dict()
    assert out["stored"] == 2 and out["applied"] == 2 and out["poison_by_reason"] == {"invalid_json": 2}
    assert db.execute("select count(*) from ods.zhxq_zhxqryjcjlxx where jlbh in ('JLDEEP1', 'JLDEEP2')"
                      ).fetchone()[0] == 2
    rows = db.execute("select reason_code, reason, length(body) from meta.cdc_poison where queue = %s "
                      "order by poison_id", (topo.queue,)).fetchall()
    assert [r[0] for r in rows] == ["invalid_json", "invalid_json"] and all("deep" in r[1] for r in rows)
    assert sorted(r[2] for r in rows) == sorted([len(deep), 100_000])
    st = status(db).as_json()
    assert st["broker"]["ready"] == 0 and st["broker"]["dead_lettered"] == 2
    assert db.execute("select count(*) from meta.alert where code = 'poison_messages' and subject = %s",
                      (topo.queue,)).fetchone()[0] >= 1


def test_a_message_the_database_refuses_is_poison_and_does_not_stop_the_stream(topo, amqp_url, db):
    # A change that passes every check but that the database refuses (here a trigger, standing
    # for any constraint or limit the judge does not know) failed its whole micro-batch at every
    # redelivery. Now the batch is retried message by message and that one is kept as poison.
    import json

    import pika

    _reset(db)
    db.execute("""create or replace function pg_temp.refuse() returns trigger language plpgsql as $$
                  begin if new.jlbh = 'JLBOOM' then raise exception 'refused by test trigger'; end if;
                  return new; end $$""")
    db.execute("create trigger dz_test_refuse before insert or update on ods.zhxq_zhxqryjcjlxx "
               "for each row execute function pg_temp.refuse()")
    db.commit()
    try:
        base = {"table": "ZHXQ_ZHXQRYJCJLXX", "op": "I", "ts": "2026-11-21T08:00:00+08:00", "data": {"XQBM": "XQ1"}}
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        ch = conn.channel()
        for i, key in enumerate(["JLREF1", "JLBOOM", "JLREF2"]):
            ch.basic_publish(topo.exchange, "ZHXQ_ZHXQRYJCJLXX",
                             json.dumps({**base, "msg_id": f"ref-{i}", "seq": i + 1, "pk": {"JLBH": key}}).encode())
        conn.close()
        out = consume(drain=True).as_dict()
        again = consume(drain=True).as_dict()  # nothing redelivered, nothing failing
    finally:
        db.rollback()
        db.execute("drop trigger if exists dz_test_refuse on ods.zhxq_zhxqryjcjlxx")
        db.commit()
    assert out["poison_by_reason"] == {"write_failed": 1} and out["applied"] == 2
    assert again["messages"] == 0
    assert db.execute("select count(*) from ods.zhxq_zhxqryjcjlxx where jlbh in ('JLREF1', 'JLREF2')"
                      ).fetchone()[0] == 2
    rows = db.execute("select msg_id, reason_code, reason from meta.cdc_poison where queue = %s",
                      (topo.queue,)).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("ref-1", "write_failed")] and "refused by test trigger" in rows[0][2]
    assert status(db).as_json()["broker"]["dead_lettered"] == 1
    assert db.execute("select count(*) from meta.alert where code = 'poison_messages' and subject = %s",
                      (topo.queue,)).fetchone()[0] >= 1


def test_two_concurrent_drains_both_end_when_the_queue_is_empty(topo, amqp_url, db):
    # Both attach while the whole day waits; one takes (nearly) all of it. The other saw "0 ready"
    # but had not received what was waiting when it attached, and once the first exited it was
    # the only consumer: it spun on an empty queue until killed (601 s). A drain ends within a
    # short idle bound after the queue reports 0 ready, whoever else consumed.
    import json

    _reset(db)
    sent = publish_messages(amqp_url, persons=PERSONS, seed=SEED, exchange=topo.exchange)
    dzhub = str(Path(sys.executable).with_name("dzhub"))
    env = {**os.environ, "DZ_CDC_DRAIN_IDLE_S": "2"}
    procs = [subprocess.Popen([dzhub, "cdc", "consume", "--drain", "--json"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=60)
            assert p.returncode == 0, stderr
            outs.append(json.loads(stdout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [o["stopped_by"] for o in outs] == ["drained", "drained"]
    assert sum(o["stored"] for o in outs) == sent["changes"]
    assert _settled(db) == sent["changes"] and status(db).as_json()["broker"]["ready"] == 0


def test_a_drain_ends_when_another_consumer_took_what_was_waiting(topo, amqp_url, db):
    # The probe's case made deterministic: the drain attaches while the day waits, another
    # consumer takes nearly all of it and leaves. The drain, now alone and short of what waited
    # at its attach, must still end once the queue stays empty, not spin.
    import json

    import pika

    _reset(db)
    publish_messages(amqp_url, persons=PERSONS, seed=SEED, exchange=topo.exchange)
    dzhub = str(Path(sys.executable).with_name("dzhub"))
    env = {**os.environ, "DZ_CDC_DRAIN_IDLE_S": "2", "DZ_CDC_PREFETCH": "1", "DZ_CDC_THROTTLE_S": "2"}
    proc = subprocess.Popen([dzhub, "cdc", "consume", "--drain", "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        ch = conn.channel()
        deadline = time.monotonic() + 30
        while ch.queue_declare(topo.queue, passive=True).method.consumer_count == 0:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        taken = 0
        for method, _p, _b in ch.consume(topo.queue, auto_ack=True, inactivity_timeout=0.2):
            if method is None:
                break
            taken += 1
        ch.cancel()
        conn.close()
        assert taken > 0
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert json.loads(stdout)["stopped_by"] == "drained"


def test_a_poison_row_the_database_refuses_is_kept_bare(topo, amqp_url, db):
    # The poison's own row can be what fails (here its headers, refused by a trigger): it must
    # not fail the writer at every redelivery either; it is kept with its body and reason.
    import json

    import pika

    _reset(db)
    db.execute("""create or replace function pg_temp.refuse_headers() returns trigger language plpgsql as $$
                  begin if new.headers is not null then raise exception 'headers refused by test trigger';
                  end if; return new; end $$""")
    db.execute("create trigger dz_test_refuse_headers before insert on meta.cdc_poison "
               "for each row execute function pg_temp.refuse_headers()")
    db.commit()
    try:
        good = {"msg_id": "hdr-good", "table": "ZHXQ_ZHXQRYJCJLXX", "op": "I", "seq": 1,
                "ts": "2026-11-21T08:00:00+08:00", "pk": {"JLBH": "JLHDR1"}, "data": {"XQBM": "XQ1"}}
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        ch = conn.channel()
        ch.basic_publish(topo.exchange, "ZHXQ_ZHXQRYJCJLXX", b"{not json", pika.BasicProperties(headers={"h": "v"}))
        ch.basic_publish(topo.exchange, "ZHXQ_ZHXQRYJCJLXX", json.dumps(good).encode())
        conn.close()
        out = consume(drain=True).as_dict()
    finally:
        db.rollback()
        db.execute("drop trigger if exists dz_test_refuse_headers on meta.cdc_poison")
        db.commit()
    assert out["poison_by_reason"] == {"write_failed": 1} and out["applied"] == 1
    rows = db.execute("select reason_code, reason, headers, body from meta.cdc_poison where queue = %s",
                      (topo.queue,)).fetchall()
    assert [(r[0], r[2], bytes(r[3])) for r in rows] == [("write_failed", None, b"{not json")]
    assert "headers refused" in rows[0][1]
    assert status(db).as_json()["broker"]["dead_lettered"] == 1


def test_a_body_longer_than_the_bound_is_poison_unparsed_and_batches_flush_by_bytes(topo, amqp_url, db):
    # Parsing costs a multiple of a body's size and a micro-batch was bounded only by its change
    # count: one huge message (or many large ones) grew the writer without limit.
    import dataclasses
    import json

    import pika

    from dz_assets.settings import get_settings

    _reset(db)
    good = {"table": "ZHXQ_ZHXQRYJCJLXX", "op": "I", "ts": "2026-11-21T08:00:00+08:00", "data": {"XQBM": "XQ1"}}
    huge = json.dumps({**good, "msg_id": "huge", "seq": 3, "pk": {"JLBH": "JLHUGE"},
                       "data": {"XQBM": "X" * 50_000}}).encode()
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.confirm_delivery()
    for body in [json.dumps({**good, "msg_id": "big-good-1", "seq": 1, "pk": {"JLBH": "JLBIG1"}}).encode(), huge,
                 json.dumps({**good, "msg_id": "big-good-2", "seq": 2, "pk": {"JLBH": "JLBIG2"}}).encode()]:
        ch.basic_publish(topo.exchange, "ZHXQ_ZHXQRYJCJLXX", body)
    conn.close()
    settings = dataclasses.replace(get_settings(), cdc_max_body_bytes=10_000, cdc_batch_bytes=1)
    out = consume(drain=True, settings=settings).as_dict()
    assert out["applied"] == 2 and out["poison_by_reason"] == {"too_large": 1}
    row = db.execute("select reason_code, reason, length(body) from meta.cdc_poison where queue = %s",
                     (topo.queue,)).fetchone()
    assert row[0] == "too_large" and "DZ_CDC_MAX_BODY_BYTES" in row[1] and row[2] == len(huge)
