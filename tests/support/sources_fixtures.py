"""Helpers of the declarative-source tests: YAML files, a MariaDB database of the session, and an
HTTP JSON API served on loopback by the test itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml


def write_source(folder: Path, doc: dict, name: str | None = None) -> Path:
    path = folder / f"{name or doc['id']}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


Route = Callable[[dict[str, str], int], tuple[int, bytes]]  # (query, nth call of this path) -> (status, body)


class Api:
    """A loopback HTTP server whose paths answer from Python functions; counts calls per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.calls: dict[str, int] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                n = api.calls.get(parts.path, 0) + 1
                api.calls[parts.path] = n
                route = api.routes.get(parts.path)
                status, body = route(q, n) if route else (404, b'{"error": "no such path"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def as_json(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def sources_job():
    """``sources_job`` as the code location builds it, for ``dg.reconstructable``: the
    multiprocess executor imports it again in each step's process."""
    import dagster as dg

    from dz_assets.defs.resources import build_resources
    from dz_assets.defs.sources.assets import defs as source_defs

    d = dg.Definitions.merge(source_defs(), dg.Definitions(resources=build_resources()))
    return d.resolve_job_def("sources_job")
