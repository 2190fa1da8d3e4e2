"""Fixtures shared by the integration tests of several stages."""

from __future__ import annotations

import uuid

import pika
import pytest

from dz_assets.cdc.topology import Topology, declare, delete


@pytest.fixture
def dirs(pg_dsn, tmp_path, monkeypatch):
    """Inbox, backup, quarantine, reject and object folders of this test alone."""
    out = {}
    for var, name in (("DZ_INBOX", "inbox"), ("DZ_BACKUP_DIR", "backup"), ("DZ_QUARANTINE_DIR", "quarantine"),
                      ("DZ_REJECT_DIR", "reject"), ("DZ_OBJECT_STORE", "objects")):
        out[name] = tmp_path / name
        monkeypatch.setenv(var, str(out[name]))
    return out


@pytest.fixture
def topo(amqp_url, pg_dsn, monkeypatch):
    """A change-stream topology of this test alone, declared as db init does (so messages
    published before the first consume are kept), deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    t = Topology(f"dz.cdc.test.{tag}", f"dzhub.cdc.test.{tag}")
    monkeypatch.setenv("DZ_CDC_EXCHANGE", t.exchange)
    monkeypatch.setenv("DZ_CDC_QUEUE", t.queue)
    monkeypatch.setenv("DZ_CDC_FLUSH_S", "0.1")
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    declare(conn.channel(), t)
    conn.close()
    yield t
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    delete(conn.channel(), t)
    conn.close()
