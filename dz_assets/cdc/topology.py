"""The broker side of change-messages.md: exchange ``dz.cdc`` (topic, durable, no arguments),
dz-hub's own durable quorum queue bound with ``#``, and a dead-letter exchange and queue for
poison. Declared by ``dzhub db init`` (so that changes published before the first consume are
kept) and by the consumer; declaring is idempotent."""

from __future__ import annotations

from dataclasses import dataclass

import pika

from dz_assets.settings import Settings, get_settings


@dataclass(frozen=True)
class Topology:
    exchange: str
    queue: str

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.exchange}.dlx" if self.queue == "dzhub.cdc" else f"{self.queue}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dead"

    @classmethod
    def from_settings(cls, s: Settings | None = None) -> Topology:
        s = s or get_settings()
        return cls(s.cdc_exchange, s.cdc_queue)


def declare(channel, topo: Topology) -> int:
    """Declare everything; returns the number of messages waiting in dz-hub's queue."""
    channel.exchange_declare(topo.exchange, exchange_type="topic", durable=True)
    channel.exchange_declare(topo.dead_letter_exchange, exchange_type="fanout", durable=True)
    channel.queue_declare(topo.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(topo.dead_letter_queue, topo.dead_letter_exchange)
    ok = channel.queue_declare(topo.queue, durable=True, arguments={
        "x-queue-type": "quorum", "x-dead-letter-exchange": topo.dead_letter_exchange})
    channel.queue_bind(topo.queue, topo.exchange, routing_key="#")
    return ok.method.message_count


def delete(channel, topo: Topology) -> None:
    """Remove everything :func:`declare` made (queues with their messages): for tests and
    retired topologies, never for the live one."""
    for queue in (topo.queue, topo.dead_letter_queue):
        channel.queue_delete(queue)
    for exchange in (topo.exchange, topo.dead_letter_exchange):
        channel.exchange_delete(exchange)


def queue_depth(channel, topo: Topology) -> tuple[int, int]:
    """(messages ready, messages dead-lettered) of dz-hub's queues (passive declare)."""
    q = channel.queue_declare(topo.queue, passive=True).method.message_count
    d = channel.queue_declare(topo.dead_letter_queue, passive=True).method.message_count
    return q, d


def declare_for_init(amqp_url: str | None = None) -> dict:
    """``db init``'s broker step: never fails the init, says what happened."""
    s = get_settings()
    topo = Topology.from_settings(s)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url or s.amqp_url))
    except Exception as exc:  # broker down: init goes on, the consumer declares later
        return {"broker": {"declared": False, "reason": f"RabbitMQ not reachable ({type(exc).__name__}); "
                           "the consumer declares the topology when it starts"}}
    try:
        depth = declare(conn.channel(), topo)
    except Exception as exc:
        return {"broker": {"declared": False, "reason": f"{type(exc).__name__}: {exc}"}}
    finally:
        if conn.is_open:
            conn.close()
    return {"broker": {"declared": True, "exchange": topo.exchange, "queue": topo.queue,
                       "dead_letter_exchange": topo.dead_letter_exchange, "waiting": depth}}
