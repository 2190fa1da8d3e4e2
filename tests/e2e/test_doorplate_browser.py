"""End to end in a real browser: Debian's headless chromium scans an address code, follows the
302 from ``/ecode/r/{dzbm}`` to ``/doorplate?d=…`` and sees the address card.

Skipped when chromium is missing, except under ``DZ_REQUIRE_SERVICES=1`` where that fails.
"""

from __future__ import annotations

import shutil
import subprocess

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
