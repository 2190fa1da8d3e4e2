"""End to end in a real browser: Debian's headless chromium scans an address code, follows the
302 from ``/ecode/r/{dzbm}`` to ``/doorplate?d=…`` and sees the address card; a doorplate without
a token shows a Chinese page; the API documentation renders with no request off the machine.

Skipped when chromium is missing, except under ``DZ_REQUIRE_SERVICES=1`` where that fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.redirect_sample import TEST_RING, create_sample_database, drop_database, test_settings

from dz_assets.settings import env
from redirect_api.app import create_app
from redirect_api.server import serve_in_thread

REQUIRE = env("DZ_REQUIRE_SERVICES", "0") in ("1", "true", "yes")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    msg = "chromium is not installed (apt-get install -y chromium)"
    if REQUIRE:
        pytest.fail(f"DZ_REQUIRE_SERVICES=1: {msg}", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def base_url(pg_server_dsn):
    dsn = create_sample_database(pg_server_dsn, prefix="dzhub_redirect_e2e")
    app = create_app(test_settings(access_log=False), TEST_RING, dsn)
    with serve_in_thread(app) as url:
        yield url
    drop_database(pg_server_dsn, dsn)


def dump_dom(browser: str, url: str, tmp_path) -> str:
    out = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.parametrize(("dzbm", "name"), [("H7ACTIVE01", "四川省达州市通川区朝阳东路1号"),
                                            ("H7ROOM_0101", "四川省达州市达川区南外镇翠屏路8号1单元101室")])
def test_browser_follows_redirect_to_the_address_card(base_url, tmp_path, dzbm, name):
    browser = chromium()
    dom = dump_dom(browser, f"{base_url}/ecode/r/{dzbm}", tmp_path)
    assert 'id="address-card"' in dom
    assert f'<div class="plate" id="dzmc">{name}</div>' in dom
    assert dzbm in dom


def test_browser_sees_a_clear_error_for_a_bad_token(base_url, tmp_path):
    dom = dump_dom(chromium(), f"{base_url}/doorplate?d=AQEnotavalidtoken", tmp_path)
    assert 'id="token-error"' in dom and "链接无效" in dom


def test_the_browser_has_a_cjk_font():
    """Pages are in Chinese: without a CJK font chromium renders them as empty boxes, and a
    screenshot test would pass on a page nobody can read."""
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True)
    if not out.stdout.strip():
        msg = "no CJK font is installed (apt-get install -y fonts-wqy-microhei)"
        if REQUIRE:
            pytest.fail(f"DZ_REQUIRE_SERVICES=1: {msg}", pytrace=False)
        pytest.skip(msg)


@pytest.mark.parametrize(("dzbm", "words"), [("H7DISABLED1", "停用"), ("H7CANCEL-01", "注销"),
                                             ("H7NOSUCH", "未找到该门牌地址")])
def test_browser_scanning_a_doorplate_without_token_sees_chinese(base_url, tmp_path, dzbm, words):
    dom = dump_dom(chromium(), f"{base_url}/ecode/r/{dzbm}", tmp_path)
    assert 'id="address-notice"' in dom and words in dom and dzbm in dom
    assert "辖区派出所" in dom or "重新扫描" in dom
    assert '"reason"' not in dom  # the page, not the JSON shown as text


def page_requests(netlog: Path, site: str) -> set[str]:
    """Every URL requested on behalf of a page of ``site``, from chromium's net log: requests whose
    network isolation key is that site's, wherever they go. The browser's own background requests
    (update and time checks, keyed ``null`` or by their own site) are not the page's."""
    text = netlog.read_text(encoding="utf-8", errors="replace").rstrip()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # cut short at exit: close the event list
        log = json.loads(text.rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return {e["params"]["url"] for e in log["events"]
            if e["type"] == start_job and e.get("params", {}).get("network_isolation_key", "").startswith(site)}


def test_api_docs_render_offline(base_url, tmp_path):
    """The documentation pages render from assets of this server alone. The page is opened under a
    public-looking name mapped to loopback (Swagger UI calls its online validator only for a spec
    that is not on localhost), every other name resolves to nothing, and every request the page
    made is read from the browser's net log: none may leave the server."""
    port = base_url.rsplit(":", 1)[1]
    netlog = tmp_path / "netlog.json"
    out = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          f"--log-net-log={netlog}", "--host-resolver-rules=MAP docs.test 127.0.0.1, MAP * ~NOTFOUND",
                          # the browser's own form-filling lookups are keyed by the page's site too
                          "--disable-features=AutofillServerCommunication",
                          "--virtual-time-budget=20000", "--dump-dom", f"http://docs.test:{port}/docs"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert 'class="swagger-ui' in dom and "/ecode/r/{dzbm}" in dom and "跳转至门牌系统" in dom, dom[-3000:]
    urls = page_requests(netlog, "http://docs.test")
    assert f"http://docs.test:{port}/openapi.json" in urls, urls
    assert {urlsplit(u).netloc for u in urls} == {f"docs.test:{port}"}, urls
