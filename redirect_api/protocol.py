"""uvicorn's HTTP/1.1 protocols, guarded for a public service: head timeout, head size, connection cap.

uvicorn (0.55) times out nothing before a connection's first answer and counts idle connections
against ``limit_concurrency``: 2 100 connections that send half a request head and wait made
every new request a 503, for ever. Its httptools protocol (chosen whenever httptools is
installed) has no limit on the request head: a 10 MB header was read and answered 200. The
protocols here (httptools when installed, else h11):

- refuse a request head over the limit (``h11_max_incomplete_event_size``) with 431, counted as
  it is parsed, so an oversized head costs a bounded amount of memory (the limit and one read);
  h11's own check only covers a head still incomplete after a read, httptools has none;
- give every connection that waits for a request head (a new one, one kept alive after an
  answer, one trickling a body after its answer) ``header_timeout_s`` to complete it, then close
  it (408 when part of a head had come);
- keep at most ``max_connections`` connections: when a new one comes in over the cap, the
  connections that have waited longest for a head are closed to make room, so a new request is
  served rather than refused. Only when every connection has a request in progress does uvicorn's
  ``limit_concurrency`` (set just above the cap) answer 503.

Idle connections sit in one insertion-ordered dict per server (oldest wait first), so eviction
takes the first and one timer per server sweeps expired heads: per request this costs a dict
delete and insert, no timer of its own.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

try:  # optional (uvicorn[standard]); without it the guarded h11 protocol serves
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:
    HttpToolsProtocol = None

from dz_assets.settings import RedirectSettings, get_redirect_settings
from redirect_api.metrics import (
    CLOSED_EVICTED,
    CLOSED_HEAD_TOO_LARGE,
    CLOSED_HEADER_TIMEOUT,
    CLOSED_IDLE,
)

# The request head's limit when the Config gives none (the service sets its own: redirect_api/server.py).
MAX_HEAD_BYTES = 16 * 1024
HEAD_TIMEOUT_BODY = b"request head not received in time"
HEAD_TOO_LARGE_BODY = b"request header fields too large"


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float  # a request head must be complete this long after the wait began
    max_connections: int  # beyond this, connections waiting for a head are closed, oldest first

    @classmethod
    def from_settings(cls, settings: RedirectSettings) -> ConnectionLimits:
        return cls(header_timeout_s=settings.header_timeout_s, max_connections=settings.max_connections)


class Config(uvicorn.Config):
    """uvicorn's Config carrying the limits (picklable: uvicorn hands it to worker processes)."""

    def __init__(self, app, *, connection_limits: ConnectionLimits, **kwargs) -> None:
        super().__init__(app, **kwargs)
        self.connection_limits = connection_limits


class _Connection(h11.Connection):
    """h11's connection, strict about the head's size, remembering the status its last protocol
    error asks for (431 for a head over the limit; uvicorn answers every error 400).

    h11 checks its limit only on a head still incomplete after a read: one that arrives whole in
    a single read (up to asyncio's 256 KiB) passes. Its size is checked here once parsed: request
    line and header lines as h11 read them (a lower bound of the bytes on the wire)."""

    error_status = 400

    def __init__(self, max_head_bytes: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self.max_head_bytes = max_head_bytes

    def next_event(self):
        try:
            event = super().next_event()
            if type(event) is h11.Request:
                size = len(event.method) + len(event.target) + 14  # " ", " HTTP/1.1\r\n", "\r\n"
                for name, value in event.headers:
                    size += len(name) + len(value) + 4
                if size > self.max_head_bytes:
                    raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
            return event
        except h11.RemoteProtocolError as exc:
            self.error_status = exc.error_status_hint
            raise


class ConnectionGuard:
    """The idle connections of one server, oldest wait first, and the timer that sweeps them."""

    def __init__(self, limits: ConnectionLimits, connections: set, loop: asyncio.AbstractEventLoop) -> None:
        self.limits = limits
        self.connections = connections  # uvicorn's set of this server's open connections
        self.loop = loop
        self.waiting: OrderedDict[GuardedH11Protocol, float] = OrderedDict()  # → deadline (loop time)
        self._timer: asyncio.TimerHandle | None = None

    def wait(self, proto: GuardedH11Protocol) -> None:
        if proto not in self.waiting:
            deadline = self.loop.time() + self.limits.header_timeout_s
            self.waiting[proto] = deadline
            if self._timer is None:
                self._timer = self.loop.call_at(deadline, self.sweep)

    def busy(self, proto: GuardedH11Protocol) -> None:
        self.waiting.pop(proto, None)

    def sweep(self) -> None:
        self._timer = None
        now = self.loop.time()
        while self.waiting:
            proto, deadline = next(iter(self.waiting.items()))
            if deadline > now:
                self._timer = self.loop.call_at(deadline, self.sweep)
                return
            proto.close_idle(timed_out=True)

    def make_room(self, keep: GuardedH11Protocol | None = None) -> None:
        """Close idle connections, oldest first, until the server is back at its cap (``keep``,
        a connection that has just arrived, is never the one closed: that would be a refusal)."""
        while len(self.connections) > self.limits.max_connections and self.waiting:
            proto = next(iter(self.waiting))
            if proto is keep:
                return
            proto.close_idle(timed_out=False)


# One guard per running server (its uvicorn ServerState), gone with it.
_GUARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Guarded:
    """The guard over one of uvicorn's HTTP/1.1 protocols (h11 or httptools); see the module."""

    max_head_bytes: int

    def _guard_setup(self, config, server_state) -> None:
        self.max_head_bytes = config.h11_max_incomplete_event_size or MAX_HEAD_BYTES
        guard = _GUARDS.get(server_state)
        if guard is None:
            # A Config of this module carries its limits; uvicorn.run(...) builds its own, and then
            # they come from the settings (each worker process reads the same environment).
            limits = getattr(config, "connection_limits", None) or ConnectionLimits.from_settings(
                get_redirect_settings())
            guard = _GUARDS[server_state] = ConnectionGuard(limits, server_state.connections, self.loop)
        self.guard = guard

    def _partial_head(self) -> bool:
        raise NotImplementedError

    def _note(self) -> None:
        """File the connection as waiting for a head, or as busy with a request."""
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.guard.wait(self)
        else:
            self.guard.busy(self)

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._note()
        self.guard.make_room(keep=self)

    def connection_lost(self, exc) -> None:
        self.guard.busy(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._note()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._note()
        # Over the cap (every connection was busy when the last one came): keep-alive is the
        # first thing to give up.
        self.guard.make_room()

    def close_idle(self, *, timed_out: bool) -> None:
        """Close a connection that waits for a request head (408 when part of one had come)."""
        self.guard.busy(self)
        # Out of the count now: the transport reports the loss only on the next loop turn.
        self.connections.discard(self)
        self._unset_keepalive_if_required()
        if self.transport.is_closing():
            return
        if not timed_out:
            CLOSED_EVICTED.inc()
        elif self._partial_head():
            CLOSED_HEADER_TIMEOUT.inc()
            self._write_error(408, HEAD_TIMEOUT_BODY)
        else:
            CLOSED_IDLE.inc()
        self.transport.close()

    def _write_error(self, status: int, body: bytes) -> None:
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (status, STATUS_PHRASES[status], len(body), body))

    def _refuse_head(self, status: int) -> None:
        self.logger.warning("Request head over %d bytes refused (%d).", self.max_head_bytes, status)
        CLOSED_HEAD_TOO_LARGE.inc()
        self.guard.busy(self)
        self._write_error(status, HEAD_TOO_LARGE_BODY)
        self.transport.close()


class GuardedH11Protocol(_Guarded, H11Protocol):
    """uvicorn's h11 protocol, guarded (pure Python: the fallback without httptools)."""

    def __init__(self, config, server_state, app_state, _loop=None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard_setup(config, server_state)
        self.conn = _Connection(self.max_head_bytes)

    def _partial_head(self) -> bool:
        return self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0])

    def send_400_response(self, msg: str) -> None:
        if self.conn.error_status == 400:
            return super().send_400_response(msg)
        self._refuse_head(self.conn.error_status)


class _HeadTooLarge(Exception):
    pass


if HttpToolsProtocol is not None:

    class GuardedHttpToolsProtocol(_Guarded, HttpToolsProtocol):
        """uvicorn's httptools protocol, guarded, and with the head limit httptools lacks: the
        request line and header lines are counted as the parser hands them over (what uvicorn
        keeps of them), and past the limit the parse stops with 431."""

        def __init__(self, config, server_state, app_state, _loop=None) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._guard_setup(config, server_state)
            self._head_bytes = 0  # of the head being parsed, as the parser hands it over
            self._raw_head = 0  # bytes received of the head not yet ended
            self._tail = b""  # the last bytes of those, for a blank line split over two reads
            self._in_head = False
            self._head_too_large = False

        def _partial_head(self) -> bool:
            return self._in_head

        def data_received(self, data: bytes) -> None:
            # httptools buffers a header line until it is complete and only then calls back, so
            # the callbacks alone would let one 20 MB header into memory: the bytes of a head are
            # counted here, before the parser sees them, up to the blank line that ends it.
            if self._in_head or self.cycle is None or self.cycle.response_complete:
                seen = self._tail + data
                end = seen.find(b"\r\n\r\n")
                size = self._raw_head + (len(data) if end < 0 else end + 4 - len(self._tail))
                if size > self.max_head_bytes:
                    self._head_too_large = True
                    self._unset_keepalive_if_required()
                    return self._refuse_head(431)
                self._raw_head, self._tail = (size, seen[-3:]) if end < 0 else (0, b"")
            super().data_received(data)

        def _count(self, n: int) -> None:
            self._head_bytes += n
            if self._head_bytes > self.max_head_bytes:
                self._head_too_large = True
                raise _HeadTooLarge  # httptools stops and raises HttpParserCallbackError

        def on_message_begin(self) -> None:
            self._in_head = True
            # the method (at most 7 bytes, "OPTIONS"), " ", " HTTP/1.1\r\n", the blank line
            self._head_bytes = 21
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            if not self._head_too_large:
                return super().send_400_response(msg)
            self._refuse_head(431)

    # httptools parses in C: ~2x the throughput of h11 here (bench/redirect_bench.py).
    GuardedProtocol: type = GuardedHttpToolsProtocol
else:
    GuardedProtocol = GuardedH11Protocol
