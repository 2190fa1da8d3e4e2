"""Change messages of the synthetic city on the real RabbitMQ: every good body follows
spec/change-messages.md, every poison kind is identifiable and fails for its own reason."""

from __future__ import annotations

import json
from datetime import datetime

import pika
import pytest
from support.synth_reader import _type_problem

from dz_assets.catalog import load_catalogue
from dz_assets.synth import POISON_KINDS, publish_messages

pytestmark = pytest.mark.integration


def contract_problem(element) -> str | None:
    """Why one change (a decoded JSON element) breaks the contract, or None."""
    cat = load_catalogue()
    if not isinstance(element, dict):
        return "not_object"
    for k in ("msg_id", "op", "seq", "pk"):
        if k not in element:
            return f"missing_{k}"
    if element.get("table") not in cat.tables:
        return "unknown_table"
    t = cat.tables[element["table"]]
    if element["op"] not in ("I", "U", "D") or not isinstance(element["seq"], int) or not 0 <= element["seq"] < 2**63:
        return "bad_header"
    datetime.fromisoformat(element["ts"])
    if any(element["pk"].get(k) in (None, "") for k in t.key):
        return "bad_pk"
    fields = {f.code: f for f in t.fields}
    for code, v in (element.get("data") or {}).items():
        if v is None or v == "" or code not in fields:
            continue
        f = fields[code]
        attrs = {"type": f.type, "length": f.length}
        if not isinstance(v, str) or (f.type != "file" and _type_problem(f.type, v, attrs, {})):
            return "bad_value"
    return None


def test_publish_and_consume_validates_against_the_contract(amqp_url, broker_names):
    # An exchange of this test's own: neither the real dz.cdc nor the session's (whose queue the
    # consumer tests and the demo drain) sees these messages and their poison.
    exchange = broker_names["exchange"] + ".synth"
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.exchange_declare(exchange, "topic", durable=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, exchange, "#")
    try:
        summary = publish_messages(amqp_url, persons=1500, seed=9, count=50, batch_size=1, poison=POISON_KINDS,
                                   exchange=exchange)
        summary2 = publish_messages(amqp_url, persons=1500, seed=9, count=30, batch_size=7, exchange=exchange)
        expected = summary["messages"] + summary2["messages"]
        got = []
        for method, props, body in ch.consume(q, inactivity_timeout=5):
            if method is None:
                break
            got.append((method.routing_key, (props.headers or {}).get("x-synth-poison"), body))
            ch.basic_ack(method.delivery_tag)
            if len(got) == expected:
                break
        ch.cancel()
    finally:
        ch.exchange_delete(exchange)
        conn.close()
    assert len(got) == expected
    assert summary["poison"] == dict.fromkeys(POISON_KINDS, 1) and summary["changes"] == 50
    seqs, arrays = [], 0
    for key, poison, body in got:
        if poison:
            try:
                elements = [json.loads(body)]
            except json.JSONDecodeError:
                assert poison == "invalid_json"
                continue
            assert contract_problem(elements[0]) == poison, poison
            continue
        payload = json.loads(body)
        elements = payload if isinstance(payload, list) else [payload]
        arrays += isinstance(payload, list)
        for e in elements:
            assert contract_problem(e) is None, e
            assert e["table"] == key
            seqs.append(e["seq"])
    assert arrays > 0
    assert len(set(seqs)) == 50  # the second run repeats the first 30 changes (same seqs)


def test_synth_messages_cli_publishes_to_the_configured_exchange(amqp_url, broker_names, monkeypatch):
    # A test or bench environment sets DZ_CDC_EXCHANGE: the synthetic stream must land there and
    # never in the real dz.cdc that a deployment on the same broker consumes.
    from click.testing import CliRunner

    from dz_assets.cli import main

    exchange = broker_names["exchange"] + ".synth-cli"
    monkeypatch.setenv("DZ_CDC_EXCHANGE", exchange)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.exchange_declare(exchange, "topic", durable=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, exchange, "#")
    try:
        out = CliRunner().invoke(main, ["synth", "messages", "--persons", "300", "--seed", "4", "--count", "5",
                                        "--amqp-url", amqp_url, "--json"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["exchange"] == exchange
        got = 0
        for method, _props, _body in ch.consume(q, inactivity_timeout=3):
            if method is None:
                break
            ch.basic_ack(method.delivery_tag)
            got += 1
            if got == 5:
                break
        ch.cancel()
    finally:
        ch.exchange_delete(exchange)
        conn.close()
    assert got == 5
