"""Helpers for the redirect tests and the e2e browser test: fixed keys, sample addresses.

Not used by the service itself. The sample database is initialised like any dz-hub database
and holds a handful of standard addresses covering every branch of the contract.
"""

from __future__ import annotations

import os
import secrets

import psycopg

from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.settings import RedirectSettings
from redirect_api.keys import KeyRing

# Fixed test keys: never used outside tests (production keys come from DZ_SM4_KEYS only).
TEST_KEYS = {1: bytes.fromhex("00112233445566778899aabbccddeeff"),
             3: bytes.fromhex("ffeeddccbbaa99887766554433221100")}
TEST_MAC = bytes.fromhex("a5" * 32)
TEST_RING = KeyRing(keys=TEST_KEYS, mac_key=TEST_MAC, mode="gcm")

# (table, dzbm, dzmc, xzqhdm, dzztdm, deleted)
SAMPLE_ROWS = [
    ("ybss_bzdzmlxx", "H7ACTIVE01", "四川省达州市通川区朝阳东路1号", "511702", "1", False),
    ("ybss_bzdzchxx", "H7ROOM_0101", "四川省达州市达川区南外镇翠屏路8号1单元101室", "511703", "1", False),
    ("ybss_bzdzmlxx", "H7OUTSIDE01", "四川省成都市武侯区人民南路4号", "510107", "1", False),
    ("ybss_bzdzmlxx", "H7DISABLED1", "四川省达州市宣汉县东乡镇停用路2号", "511722", "2", False),
    ("ybss_bzdzchxx", "H7CANCEL-01", "四川省达州市渠县渠江镇注销街3号", "511725", "3", False),
    ("ybss_bzdzmlxx", "H7DELETED01", "四川省达州市大竹县已删除路5号", "511724", "1", True),
]


def test_settings(**overrides) -> RedirectSettings:
    """Settings for tests: rate limit off, cache off, small pool; override what a test needs."""
    base = dict(sm4_keys=None, sm4_keys_file=None, mac_key=None, token_mode="gcm", doorplate_url="/doorplate",
                fallback_url=None, token_lifetime_s=300, rate_limit=0, rate_burst=1, cache_ttl_s=0,
                cache_size=1000, pool_size=2, mount_receiver=True, access_log=True,
                header_timeout_s=5.0, keep_alive_s=5.0, max_connections=2000)
    base.update(overrides)
    return RedirectSettings(**base)


test_settings.__test__ = False  # not a pytest test, despite the name


def create_sample_database(server_dsn: str, prefix: str = "dzhub_redirect") -> str:
    """A fresh initialised database holding SAMPLE_ROWS; returns its DSN."""
    dsn = with_database(server_dsn, f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}")
    init_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("select code from meta.code_table where dict = 'GAJG' order by code limit 1").fetchone()
        gajg = row[0] if row else "511702000000"
        for table, dzbm, dzmc, xzqh, status, deleted in SAMPLE_ROWS:
            conn.execute(f"insert into ods.{table} (dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm, _deleted) "
                         "values (%s, %s, %s, %s, %s, %s)", (dzbm, dzmc, xzqh, gajg, status, deleted))
    return dsn


def drop_database(server_dsn: str, dsn: str) -> None:
    from dz_assets.db import database_name

    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{database_name(dsn)}" with (force)')
