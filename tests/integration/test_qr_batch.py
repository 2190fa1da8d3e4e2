"""The daily QR batch on the real PostgreSQL (spec/ecode-redirect.md, "Daily QR batch (T+1)"):
address history from the real channels (change-log apply, FULL swap), the exact day selection
with every edge case, the zip's bytes, every PNG decoded by zbarimg (not the pipeline's
zxing-cpp), empty and provisional days, reprint, first issue, the Dagster partition."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from dz_assets.catalog import load_catalogue
from dz_assets.catalog.values import BEIJING
from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.ecode import batch, history
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import Change, store_changes

DZHUB = str(Path(sys.executable).with_name("dzhub"))
URL = "https://ema.example.invalid/a?c={dzbm}"
GAJG_A, GAJG_B = "511702510000", "511702520000"
COLUMNS = ["dzbm", "dzmc", "xzqh", "gajg", "change", "file", "sha256"]

# What day D (tomorrow; D-1 = today) must hold: (dzbm, change).
EXPECTED = [("Q1-NEW", "new"), ("Q2-RENAMED", "changed"), ("Q3-MOVED", "changed"), ("Q6-REACTIVATED", "new"),
            ("Q9-ROOM", "new"), ("QA-QUOTED", "new")]


def _zbar() -> str:
    path = shutil.which("zbarimg")
    if path is None:
        pytest.fail("zbarimg missing: install Debian's zbar-tools (scripts/services.sh does)")
    return path


class Feed:
    """Changes through the change log and apply, the path INCR packages and messages take."""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.seq = dsn, 0
        self.cat = load_catalogue()

    def apply(self, *changes: tuple) -> None:
        by_table: dict[str, list[Change]] = {}
        for op, table, dzbm, *rest in changes:
            self.seq += 1
            name, gajg, status, xzqh = (rest + [None] * 4)[:4]
            data = {"DZBM": dzbm} if op == "D" else {
                "DZBM": dzbm, "DZMC": name, "XZQHDM": xzqh or "511702", "GAJGJGDM": gajg or GAJG_A,
                "DZZTDM": status or "1"}
            by_table.setdefault(table, []).append(
                Change(f"q{self.seq:06d}", table, op, self.seq, datetime.now(BEIJING), (dzbm,), data))
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            for table, cs in by_table.items():
                store_changes(conn, self.cat.tables[table], cs)
                apply_changes(conn, self.cat.tables[table])


ML, CH = "YBSS_BZDZMLXX", "YBSS_BZDZCHXX"


@pytest.fixture(scope="module")
def city(pg_server_dsn, tmp_path_factory):
    """A database of its own: yesterday's addresses (recorded, then moved back a day), and
    today's changes covering every case of the contract."""
    dsn = with_database(pg_server_dsn, f"dzhub_qr_{os.getpid()}_{secrets.token_hex(3)}")
    init_database(dsn)
    feed = Feed(dsn)
    feed.apply(("I", ML, "Q0-STABLE", "达州市通川区朝阳路1号"),
               ("I", ML, "Q2-RENAMED", "达州市通川区朝阳路2号"),
               ("I", ML, "Q3-MOVED", "达州市通川区朝阳路3号"),
               ("I", ML, "Q4-DISABLED", "达州市通川区朝阳路4号"),
               ("I", ML, "Q5-CANCELLED", "达州市通川区朝阳路5号"),
               ("I", ML, "Q6-REACTIVATED", "达州市通川区朝阳路6号", GAJG_A, "2"),
               ("I", ML, "Q8-DELETED", "达州市通川区朝阳路8号"))
    with psycopg.connect(dsn) as conn:  # yesterday: D-2 for tomorrow's batch
        conn.execute("update meta.address_state set recorded_at = recorded_at - interval '1 day'")
    feed.apply(("I", ML, "Q1-NEW", "达州市通川区凤凰大道1号"),
               ("U", ML, "Q0-STABLE", "达州市通川区朝阳路1号"),  # the same values again: no event
               ("U", ML, "Q2-RENAMED", "达州市通川区朝阳路2号附1号"),
               ("U", ML, "Q3-MOVED", "达州市通川区朝阳路3号", GAJG_B),
               ("U", ML, "Q4-DISABLED", "达州市通川区朝阳路4号", GAJG_A, "2"),
               ("U", ML, "Q5-CANCELLED", "达州市通川区朝阳路5号", GAJG_A, "3"),
               ("U", ML, "Q6-REACTIVATED", "达州市通川区朝阳路6号", GAJG_A, "1"),
               ("I", ML, "Q7-REG-CANCEL", "达州市通川区朝阳路7号"),
               ("D", ML, "Q8-DELETED"),
               ("I", CH, "Q9-ROOM", "达州市通川区朝阳路1号1单元101室"),
               ("I", ML, "QA-QUOTED", '达州市通川区"新华"街1号,2号'),
               ("I", ML, "QB-OUTSIDE", "成都市武侯区人民南路4号", GAJG_A, "1", "510107"))
    feed.apply(("U", ML, "Q7-REG-CANCEL", "达州市通川区朝阳路7号", GAJG_A, "3"))
    yield {"dsn": dsn, "feed": feed, "out": tmp_path_factory.mktemp("outbox")}
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{dsn.rsplit("/", 1)[1]}" with (force)')


@pytest.fixture(autouse=True)
def qr_env(monkeypatch):
    monkeypatch.setenv("DZ_ECODE_URL_TEMPLATE", URL)
    monkeypatch.setenv("DZ_QR_WORKERS", "2")


def tomorrow():
    return history.beijing_today() + timedelta(days=1)


def after_midnight(day):
    return history.day_start(day) + timedelta(minutes=30)


def manifest(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read("manifest.csv")


def test_history_records_every_state_with_both_times(city):
    with psycopg.connect(city["dsn"]) as conn:
        states = conn.execute("select dzbm, dzmc, dzztdm, deleted, recorded_at, source_ts from meta.address_state "
                              "where dzbm = 'Q7-REG-CANCEL' order by recorded_at, state_id").fetchall()
        assert [(s[2], s[3]) for s in states] == [("1", False), ("3", False)]
        assert all(s[4] is not None and s[5] is not None for s in states)
        assert conn.execute("select count(*) from meta.address_state where dzbm = 'Q0-STABLE'").fetchone()[0] == 1
        actions = dict(conn.execute("select dzbm, string_agg(action, ',' order by recorded_at, state_id) "
                                    "from meta.address_maintenance where day = %s group by dzbm",
                                    (history.beijing_today(),)).fetchall())
        assert history.sync(conn) == 0  # the triggers recorded everything already
    assert actions == {"Q1-NEW": "登记", "Q2-RENAMED": "更改", "Q3-MOVED": "更改", "Q4-DISABLED": "停用",
                       "Q5-CANCELLED": "注销", "Q6-REACTIVATED": "登记", "Q7-REG-CANCEL": "登记,注销",
                       "Q8-DELETED": "注销", "Q9-ROOM": "登记", "QA-QUOTED": "登记", "QB-OUTSIDE": "登记"}


def test_day_selects_exactly_the_contract_set(city):
    with psycopg.connect(city["dsn"]) as conn:
        got = [(a.dzbm, a.change) for a in history.day_addresses(conn, tomorrow())]
        yesterday = [(a.dzbm, a.change) for a in history.day_addresses(conn, history.beijing_today())]
    assert got == EXPECTED
    # today's batch holds yesterday's registrations (Q6 was registered disabled)
    assert yesterday == [(c, "new") for c in ("Q0-STABLE", "Q2-RENAMED", "Q3-MOVED", "Q4-DISABLED", "Q5-CANCELLED",
                                              "Q8-DELETED")]


def test_batch_bytes_manifest_and_every_code_decoded_by_zbar(city, tmp_path):
    day = tomorrow()
    first = batch.make_day_batch(city["dsn"], day, now=after_midnight(day), outbox=city["out"])
    zip_bytes, pdf_bytes = first.path.read_bytes(), first.pdf_path.read_bytes()
    again = batch.make_day_batch(city["dsn"], day, now=after_midnight(day), outbox=city["out"], workers=1)
    assert again.path.read_bytes() == zip_bytes and again.pdf_path.read_bytes() == pdf_bytes
    assert first.sha256 == hashlib.sha256(zip_bytes).hexdigest() and not first.provisional
    assert first.path.name == f"qr_{day:%Y%m%d}.zip" and first.pdf_path.name == f"qr_{day:%Y%m%d}_print.pdf"

    raw = manifest(first.path)
    assert raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    text = raw.decode("utf-8-sig")
    assert text.split("\r\n")[0] == ",".join(COLUMNS)
    assert '"达州市通川区""新华""街1号,2号"' in text  # quoted because it must be, and only then
    assert "Q1-NEW,达州市通川区凤凰大道1号,511702,511702510000,new,Q1-NEW.png," in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["dzbm"], r["change"]) for r in rows] == EXPECTED
    with zipfile.ZipFile(first.path) as zf:
        assert zf.namelist() == ["manifest.csv", *[f"{c}.png" for c, _ in EXPECTED]]
        zf.extractall(tmp_path)
    for r in rows:
        png = tmp_path / r["file"]
        assert hashlib.sha256(png.read_bytes()).hexdigest() == r["sha256"]
        out = subprocess.run([_zbar(), "-q", "--raw", str(png)], capture_output=True, text=True)
        assert out.stdout.strip() == URL.format(dzbm=r["dzbm"]), r["dzbm"]
    assert r["xzqh"] == "511702" and rows[2]["gajg"] == GAJG_B

    pdf = pdf_bytes.decode("latin-1")
    assert pdf.startswith("%PDF-1.4") and "/Width 2480 /Height 3508" in pdf
    assert re.search(r"/Count (\d+)", pdf).group(1) == "2"  # two stations, a page each
    with psycopg.connect(city["dsn"]) as conn:
        row = conn.execute("select count, sha256, provisional, verified, figures->>'verified' from meta.qr_batch "
                           "where kind = 'daily' and day = %s", (day,)).fetchall()
    assert row == [(len(EXPECTED), first.sha256, False, len(EXPECTED), str(len(EXPECTED)))]


def test_provisional_batch_is_replaced_by_the_final_one(city):
    day = tomorrow()
    early = batch.make_day_batch(city["dsn"], day, outbox=city["out"])  # now: D-1 (today) not ended
    assert early.provisional
    final = batch.make_day_batch(city["dsn"], day, now=after_midnight(day), outbox=city["out"])
    with psycopg.connect(city["dsn"]) as conn:
        rows = conn.execute("select id, provisional, sha256 from meta.qr_batch where kind = 'daily' and day = %s",
                            (day,)).fetchall()
    assert rows == [(early.id, False, final.sha256)] and final.id == early.id


def test_empty_day_delivers_a_header_only_manifest(city):
    day = history.beijing_today() - timedelta(days=5)
    made = batch.make_day_batch(city["dsn"], day, outbox=city["out"])
    assert made.count == 0 and not made.provisional
    assert manifest(made.path) == "\ufeffdzbm,dzmc,xzqh,gajg,change,file,sha256\r\n".encode()
    with pytest.raises(batch.DayOutOfRange):
        batch.make_day_batch(city["dsn"], day + timedelta(days=8), outbox=city["out"])


def test_a_code_that_does_not_decode_fails_the_batch_naming_the_address(city, monkeypatch):
    import dz_assets.ecode.render as render

    monkeypatch.setattr(render, "decode", lambda png: ["https://elsewhere.invalid/"])
    day = tomorrow()
    with psycopg.connect(city["dsn"]) as conn:
        before = conn.execute("select sha256 from meta.qr_batch where kind = 'daily' and day = %s", (day,)).fetchone()
    with pytest.raises(render.CodeMismatch, match="Q1-NEW"):
        batch.make_day_batch(city["dsn"], day, now=after_midnight(day), outbox=city["out"], workers=1)
    with psycopg.connect(city["dsn"]) as conn:
        after = conn.execute("select sha256 from meta.qr_batch where kind = 'daily' and day = %s", (day,)).fetchone()
    assert after == before


def test_cli_day_json(city):
    env = {**os.environ, "DZ_PG_DSN": city["dsn"], "DZ_OUTBOX": str(city["out"]), "DZ_ECODE_URL_TEMPLATE": URL}
    day = history.beijing_today() - timedelta(days=3)
    out = subprocess.run([DZHUB, "qr", "--day", f"{day:%Y%m%d}", "--json"],
                         capture_output=True, text=True, env=env, check=True)
    obj = json.loads(out.stdout)
    assert set(obj) == {"day", "path", "count", "sha256", "provisional"}
    assert obj["count"] == 0 and obj["provisional"] is False and obj["path"].endswith(f"qr_{day:%Y%m%d}.zip")
    bad = subprocess.run([DZHUB, "qr", "--day", "2026-13-01"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "YYYYMMDD" in bad.stderr


def test_reprint_renders_named_codes_and_records_them(city):
    made = batch.reprint(city["dsn"], ["Q4-DISABLED", "Q0-STABLE"], outbox=city["out"])
    with zipfile.ZipFile(made.path) as zf:
        assert zf.namelist() == ["manifest.csv", "Q0-STABLE.png", "Q4-DISABLED.png"]
    with psycopg.connect(city["dsn"]) as conn:
        row = conn.execute("select kind, day, count, dzbm from meta.qr_batch where id = %s", (made.id,)).fetchone()
    assert row == ("reprint", None, 2, ["Q0-STABLE", "Q4-DISABLED"])
    with pytest.raises(batch.UnknownAddresses, match="Q8-DELETED"):
        batch.reprint(city["dsn"], ["Q8-DELETED"], outbox=city["out"])


def test_first_issue_in_chunks_resumes_without_redoing_finished_ones(city, tmp_path):
    out = tmp_path / "first"
    seen = []
    done = batch.first_issue(city["dsn"], "5117", workers=2, chunk=2, outbox=out,
                             progress=lambda d, t: seen.append((d, t)))
    active = ["Q0-STABLE", "Q1-NEW", "Q2-RENAMED", "Q3-MOVED", "Q6-REACTIVATED", "Q9-ROOM", "QA-QUOTED"]
    assert done.addresses == len(active) and done.made == 4 and done.skipped == 0 and seen[-1] == (7, 7)
    listed = []
    for c in done.chunks:
        listed += [line.split(",", 1)[0] for line in manifest(c.path).decode("utf-8-sig").split("\r\n")[1:] if line]
    assert listed == active
    # an interruption after chunk 3: chunk 4's zip never got written nor registered
    done.chunks[3].path.unlink()
    with psycopg.connect(city["dsn"]) as conn:
        conn.execute("delete from meta.qr_batch where kind = 'first_issue' and chunk = 4")
    again = batch.first_issue(city["dsn"], "5117", workers=2, chunk=2, outbox=out)
    assert (again.made, again.skipped) == (1, 3) and done.chunks[3].path.is_file()


def test_dagster_partition_makes_the_batch_and_checks_it(city):
    import dagster as dg

    from dz_assets.defs.ecode.assets import qr_batch
    from dz_assets.defs.resources import PathsResource, WarehouseResource

    day = history.beijing_today() - timedelta(days=2)
    out = str(city["out"])
    paths = PathsResource(inbox=out, backup_dir=out, quarantine_dir=out, reject_dir=out, object_store=out, outbox=out)
    with dg.instance_for_test() as instance:
        result = dg.materialize([qr_batch], partition_key=day.isoformat(), instance=instance,
                                resources={"warehouse": WarehouseResource(dsn=city["dsn"]), "paths": paths})
    assert result.success
    (mat,) = result.asset_materializations_for_node("meta__qr_batch")
    assert mat.metadata["day"].value == day.isoformat() and mat.metadata["provisional"].value is False
    (check,) = result.get_asset_check_evaluations()
    assert check.passed


def test_full_loads_record_their_difference_and_what_they_no_longer_hold(pg_server_dsn, tmp_path):
    """The FULL channel: a swap records each address's state once, a later FULL records what
    changed (a rename) and, as deleted, what it no longer holds; changes after it are recorded."""
    from support.province_builder import Dataset, address_rows, build_package

    from dz_assets.province.delivery.full_load import load_full
    from dz_assets.province.reader.package import open_package

    dsn = with_database(pg_server_dsn, f"dzhub_qrfull_{os.getpid()}_{secrets.token_hex(3)}")
    init_database(dsn)
    try:
        rows = address_rows(3)
        one = build_package(tmp_path, "SCGA-FULL-20261120-0001", [Dataset(ML, rows)])
        load_full(dsn, open_package(one.zip_path), delivery_id=None, batch_id=one.batch_id)
        renamed = [rows[1][:1] + ["通川区朝阳路1号附1号"] + rows[1][2:], rows[2]]
        two = build_package(tmp_path, "SCGA-FULL-20261121-0002", [Dataset(ML, renamed)],
                            created="2026-11-21T02:00:00+08:00")
        load_full(dsn, open_package(two.zip_path), delivery_id=None, batch_id=two.batch_id)
        Feed(dsn).apply(("U", ML, rows[2][0], "通川区朝阳路2号", rows[2][3], "2"))
        with psycopg.connect(dsn) as conn:
            states = conn.execute("select dzbm, dzmc, dzztdm, deleted, channel from meta.address_state "
                                  "order by dzbm, recorded_at, state_id").fetchall()
            assert history.sync(conn) == 0
    finally:
        with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{dsn.rsplit("/", 1)[1]}" with (force)')
    assert states == [
        (rows[0][0], rows[0][1], "1", False, one.batch_id), (rows[0][0], rows[0][1], "1", True, "full"),
        (rows[1][0], rows[1][1], "1", False, one.batch_id), (rows[1][0], "通川区朝阳路1号附1号", "1", False, two.batch_id),
        (rows[2][0], rows[2][1], "1", False, one.batch_id), (rows[2][0], rows[2][1], "2", False, "mq")]
