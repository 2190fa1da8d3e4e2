"""Change messages of change-messages.md from the city's day of changes (the same stream as
INCR packages), published to the change-stream topic exchange (``DZ_CDC_EXCHANGE``, ``dz.cdc`` by
default) with the table code as routing key.

Poison kinds (one message each, marked with the AMQP header ``x-synth-poison`` so tests can tell
them apart; the body itself follows no convention): ``invalid_json``, ``unknown_table``,
``missing_msg_id``, ``missing_op``, ``missing_seq``, ``missing_pk``, ``bad_value``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pika

from dz_assets.catalog import load_catalogue
from dz_assets.settings import get_settings

from .changes import Change, day_changes
from .city import DEFAULT_DATE
from .package_writer import next_day

POISON_KINDS = ("invalid_json", "unknown_table", "missing_msg_id", "missing_op", "missing_seq",
                "missing_pk", "bad_value")


@dataclass(frozen=True)
class Message:
    routing_key: str
    body: bytes
    poison: str | None = None
    changes: int = 1


def msg_id(seed: int, seq: int) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(f"{seed}:{seq}".encode()).digest()[:16], version=4))


def iso_ts(ts: str) -> str:
    return f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}+08:00"


def change_body(ch: Change, seed: int) -> dict:
    key = load_catalogue().tables[ch.table].key
    body = {"msg_id": msg_id(seed, ch.seq), "table": ch.table, "op": ch.op, "seq": ch.seq,
            "ts": iso_ts(ch.ts), "pk": {k: ch.row.get(k) for k in key}}
    if ch.op != "D":
        body["data"] = dict(ch.row)
    return body


def _poison(kind: str, ch: Change, seed: int) -> Message:
    body = change_body(ch, seed)
    body["msg_id"] = msg_id(seed, -ch.seq)  # its own id: not a duplicate of the good message
    if kind == "invalid_json":
        return Message(ch.table, b'{"msg_id": "' + body["msg_id"].encode() + b'", "table": ', kind)
    if kind == "unknown_table":
        body["table"] = "XX_WZBXX"
        return Message("XX_WZBXX", json.dumps(body, ensure_ascii=False).encode(), kind)
    if kind.startswith("missing_"):
        body.pop(kind[len("missing_"):])
    elif kind == "bad_value":
        field = next((f for f in load_catalogue().tables[ch.table].fields
                      if f.type in ("date", "datetime", "int", "idcard") and not f.key), None)
        body["data"] = dict(ch.row)
        body["data"][field.code if field else "GMSFHM"] = "2026-13-45"
    else:
        raise ValueError(f"unknown poison kind {kind!r}; known: {', '.join(POISON_KINDS)}")
    return Message(ch.table, json.dumps(body, ensure_ascii=False).encode(), kind)


def iter_messages(*, persons: int, seed: int, date: str | None = None, base_date: str = DEFAULT_DATE,
                  count: int | None = None, batch_size: int = 1, poison=(), tables=None) -> Iterator[Message]:
    """The messages of one day: ``batch_size`` > 1 sends JSON arrays of consecutive changes of one
    table; ``count`` caps the changes; each poison kind is sent once, after the first change."""
    date = date or next_day(base_date)
    want = {t.upper() for t in tables} if tables else None
    pending: list[Change] = []
    sent = 0
    poisoned = False
    for ch in day_changes(persons, seed, date, base_date):
        if want is not None and ch.table not in want:
            continue
        if count is not None and sent >= count:
            break
        sent += 1
        if pending and (pending[0].table != ch.table or len(pending) >= batch_size):
            yield _pack(pending, seed, batch_size)
            pending = []
        pending.append(ch)
        if not poisoned:
            poisoned = True
            for kind in poison:
                yield _poison(kind, ch, seed)
    if pending:
        yield _pack(pending, seed, batch_size)


def _pack(changes: list[Change], seed: int, batch_size: int) -> Message:
    bodies = [change_body(c, seed) for c in changes]
    payload = bodies if batch_size > 1 else bodies[0]
    return Message(changes[0].table, json.dumps(payload, ensure_ascii=False).encode(), None, len(changes))


def publish_messages(amqp_url: str, *, persons: int, seed: int, date: str | None = None,
                     base_date: str = DEFAULT_DATE, count: int | None = None, batch_size: int = 1,
                     poison=(), tables=None, exchange: str | None = None) -> dict:
    """Publish one day of changes (persistent, with publisher confirms) and return a summary.
    ``exchange``: default the configured one (``DZ_CDC_EXCHANGE``), so a test or bench
    environment never writes into the real stream."""
    exchange = exchange or get_settings().cdc_exchange
    params = pika.URLParameters(amqp_url)
    conn = pika.BlockingConnection(params)
    summary = {"exchange": exchange, "messages": 0, "changes": 0, "tables": {}, "poison": {}}
    try:
        ch = conn.channel()
        ch.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
        ch.confirm_delivery()
        for m in iter_messages(persons=persons, seed=seed, date=date, base_date=base_date, count=count,
                               batch_size=batch_size, poison=poison, tables=tables):
            headers = {"x-synth-poison": m.poison} if m.poison else None
            ch.basic_publish(exchange, m.routing_key, m.body, pika.BasicProperties(
                content_type="application/json", delivery_mode=2, headers=headers))
            summary["messages"] += 1
            if m.poison:
                summary["poison"][m.poison] = summary["poison"].get(m.poison, 0) + 1
            else:
                summary["changes"] += m.changes
                summary["tables"][m.routing_key] = summary["tables"].get(m.routing_key, 0) + m.changes
    finally:
        conn.close()
    return summary
