"""What a day's evaluation of the rule models depends on, as one hash: the day, the threshold
overrides, the SQL of the model layer (models, the staging views under them, macros, project
file: every rule version is derived from these) and the state of every table the layer reads.

A re-run of the day the warehouse last evaluated, with the same fingerprint, would rebuild the
same findings; ``run_models`` then keeps them instead (issue 21: a re-run ≤ 1 min at 5.5M persons).

The state of a table is read from what every writer moves, without scanning it: its file node
(a FULL swap, TRUNCATE or rewrite changes it) and size, its row counters (inserts, updates,
deletes: the server's cumulative statistics, which count any writer, the loaders and a hand-made
UPDATE alike), the change stream's watermark for it (meta.cdc_table_state) and the batches the
warehouse holds (meta.batch). The counters of a session still open reach the statistics within
about ten seconds of its commit (PostgreSQL flushes an idle backend's counts on a timer); the
loaders' sessions end and report at once.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import psycopg

from dz_assets.db.named_sql import NamedSql
from dz_assets.transform import DBT_PROJECT_DIR

query = NamedSql(__file__)

# The SQL the layer is made of; "models/model" and its staging views, every macro, the project's vars.
CODE = ("models/model", "models/staging", "macros", "dbt_project.yml")
LAYER_PATH = "models/model/"


def code_digest() -> str:
    h = hashlib.sha256()
    for part in CODE:
        root = DBT_PROJECT_DIR / part
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.is_file():
                h.update(str(f.relative_to(DBT_PROJECT_DIR)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def tables_read() -> list[tuple[str, str]] | None:
    """(schema, table) of every source upstream of the model layer, from the parsed manifest;
    None when there is no manifest (then nothing is reused)."""
    path = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not path.exists():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    parents = manifest["parent_map"]
    todo = [uid for uid, n in manifest["nodes"].items()
            if n["resource_type"] == "model" and n["original_file_path"].replace("\\", "/").startswith(
                "models/" + LAYER_PATH.removeprefix("models/"))]
    seen: set[str] = set()
    while todo:
        uid = todo.pop()
        if uid not in seen:
            seen.add(uid)
            todo.extend(parents.get(uid, []))
    sources = manifest["sources"]
    return sorted({(sources[u]["schema"], sources[u]["identifier"]) for u in seen if u in sources})


def inputs_fingerprint(conn: psycopg.Connection, as_of: date, overrides: dict | None) -> str | None:
    tables = tables_read()
    if tables is None:
        return None
    state = conn.execute(query("fingerprint", "table_state"),
                         {"schemas": [s for s, _ in tables], "tables": [t for _, t in tables]}).fetchall()
    batches = conn.execute(query("fingerprint", "batches")).fetchone()
    doc = {"as_of": as_of.isoformat(), "vars": overrides or {}, "code": code_digest(),
           "tables": [list(r) for r in state], "batches": list(batches)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def last_run_matches(conn: psycopg.Connection, as_of: date, fingerprint: str | None) -> bool:
    """Whether the warehouse's latest evaluation was of ``as_of`` with this fingerprint (and its
    findings are still there): the per-run tables then hold that day's state too."""
    if fingerprint is None:
        return False
    ready = conn.execute(query("fingerprint", "recorded")).fetchone()[0]
    if not ready or not per_run_tables_filled(conn):
        return False
    last = conn.execute(query("fingerprint", "last_run")).fetchone()
    return last is not None and last[0] == as_of and last[1] == fingerprint


def per_run_tables_filled(conn: psycopg.Connection) -> bool:
    """Whether the rule layer's per-run tables hold a run's rows. They are unlogged (every run
    rebuilds them), and the server's crash recovery empties unlogged tables."""
    return bool(conn.execute(query("fingerprint", "base_built")).fetchone()[0]
                and conn.execute(query("fingerprint", "base_filled")).fetchone()[0])
