"""The console in headless chromium, signed in through its form as an engineer, an operator and a
station-bound officer: every page renders in Chinese with its charts, no request leaves the
machine, the operator and the officer see masked values only, the officer's reveal is audited,
the rejects CSV downloads as UTF-8 with BOM, and an unsigned visit gets the sign-in page.

Skipped when chromium is missing, except under ``DZ_REQUIRE_SERVICES=1`` where that fails.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import psycopg
import pytest
from support.cdp import Browser, chromium_path
from support.console_app import console

from dz_assets.settings import env

REQUIRE = env("DZ_REQUIRE_SERVICES", "0") in ("1", "true", "yes")
# page -> its Chinese heading; the pages each role reads with a chart
PAGES = {"/batches": "批次登记", "/monitoring": "数据监控", "/cdc": "增量同步", "/recon": "数据对账", "/alerts": "告警",
         "/findings": "模型预警", "/addresses": "地址变更", "/sources": "数据源", "/audit": "审计日志"}
CHARTS = {"engineer": {"/batches", "/monitoring", "/cdc", "/findings", "/addresses"},
          "operator": {"/batches", "/monitoring", "/cdc", "/addresses"},
          # Address changes carry no personal data: stations read them too (meta.address_maintenance).
          "officer": {"/findings", "/addresses"}}
ID = re.compile(r"\b[0-9]{17}[0-9Xx]\b")


@pytest.fixture(scope="module")
def exe():
    found = chromium_path()
    if not found:
        msg = "chromium is not installed (apt-get install -y chromium)"
        if REQUIRE:
            pytest.fail(f"DZ_REQUIRE_SERVICES=1: {msg}", pytrace=False)
        pytest.skip(msg)
    return found


@pytest.fixture(scope="module")
def app(console_city):
    with console(console_city) as c:
        yield c


@pytest.fixture(scope="module")
def ids(app) -> set[str]:
    with psycopg.connect(app.city.dsn) as conn:
        return {i for (i,) in conn.execute("select upper(gmsfhm) from ods.hz_hjrkjbxx where gmsfhm is not null")}


def sign_in(b: Browser, app, who: str) -> None:
    a = app.accounts[who]
    html = b.open(app.url + "/batches")
    assert "/signin?next=" in b.url() and "登录运维控制台" in html
    assert app.city.full_batch not in html  # unsigned: the sign-in page and no data
    html = b.submit(f"document.getElementById('login').value = {a.login!r};"
                    f"document.getElementById('password').value = {a.password!r};"
                    "document.getElementById('signin-form').submit()")
    assert b.url() == app.url + "/batches" and a.login in html


def off_machine(b: Browser, app) -> list[str]:
    own = urlsplit(app.url).netloc
    return [u for u in b.requests if not u.startswith(("data:", "about:")) and urlsplit(u).netloc != own]


@pytest.mark.parametrize("who", ["engineer", "operator", "officer"])
def test_pages_render_in_chinese_with_charts_and_nothing_leaves_the_machine(exe, app, ids, who, tmp_path):
    b = Browser(exe, tmp_path / "profile")
    try:
        sign_in(b, app, who)
        for path, heading in PAGES.items():
            html = b.open(app.url + path)
            assert f"<h1>{heading}" in html, (who, path)
            assert ('class="chart"' in html) == (path in CHARTS[who]), (who, path)
            assert "Traceback" not in html and "Internal Server Error" not in html
            if who != "engineer":
                leaked = {m.upper() for m in ID.findall(html)} & ids
                assert not leaked, (who, path)
        if who == "officer":
            html = b.open(app.url + "/findings")
            assert re.search(r"5117\*{10}[0-9]{3}[0-9X]", html) and app.city.busiest_station in html
        assert b.requests and not off_machine(b, app), off_machine(b, app)
    finally:
        b.close()


def test_the_officers_reveal_is_audited(exe, app, tmp_path):
    b = Browser(exe, tmp_path / "profile")
    try:
        sign_in(b, app, "officer")
        b.open(app.url + "/findings")
        html = b.submit("const f = document.querySelector('form.reveal');"
                        "f.querySelector('input[name=reason]').value = '入户核查'; f.submit()")
        assert 'id="revealed"' in html and "已记入审计日志" in html
        revealed = re.search(r"<th>subject_gmsfhm</th><td[^>]*>([0-9X]{18})<", html).group(1)
    finally:
        b.close()
    with psycopg.connect(app.city.dsn) as conn:
        entry = conn.execute("select object, details->>'reason' from meta.audit where action = 'reveal' "
                             "and db_user = %s order by audit_id desc limit 1",
                             (app.accounts["officer"].login,)).fetchone()
        station = conn.execute("select gajgjgdm from model.mdl_findings where subject_gmsfhm = %s limit 1",
                               (revealed,)).fetchone()[0]
    assert entry == ("model.mdl_findings", "入户核查") and station == app.city.busiest_station


@pytest.mark.parametrize("who", ["engineer", "operator"])
def test_rejects_csv_downloads_as_utf8_with_bom(exe, app, who, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    b = Browser(exe, tmp_path / "profile", downloads=downloads)
    try:
        sign_in(b, app, who)
        b.open(app.url + f"/batches/{app.city.delivery_id}")
        b.run("document.getElementById('rejects-csv').click()")
        deadline = time.monotonic() + 30
        while not (files := [p for p in downloads.iterdir() if p.suffix == ".csv"]):
            assert time.monotonic() < deadline, list(downloads.iterdir())
            time.sleep(0.2)
    finally:
        b.close()
    data = files[0].read_bytes()
    assert files[0].name == f"{app.city.full_batch}.rejects.csv"
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("batch_id,delivery_id,table,file,line,field,reason")
    assert len(lines) == 1 + app.city.rejects
