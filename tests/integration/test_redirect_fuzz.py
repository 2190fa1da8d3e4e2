"""No 5xx: hypothesis drives random paths, codes, queries and mutated tokens at every endpoint.

Hypothesis rather than schemathesis: schemathesis is not installed, and the interesting inputs
(percent-encoded junk in the path, tokens one character away from valid) are easier to state
as strategies than to coax out of the OpenAPI schema.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.redirect_sample import (
    SAMPLE_ROWS,
    TEST_RING,
    create_sample_database,
    drop_database,
    test_settings,
)

from redirect_api.app import create_app
from redirect_api.tokens import issue_token

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PREFIXES = ["/ecode/r/", "/ecode/resolve/", "/doorplate/", "/healthz/", "/readyz/", "/", "/docs/", "/ecode/"]
CODES = [row[1] for row in SAMPLE_ROWS]


@pytest.fixture(scope="module")
def client(pg_server_dsn):
    dsn = create_sample_database(pg_server_dsn, prefix="dzhub_redirect_fuzz")
    app = create_app(test_settings(access_log=False, fallback_url=None), TEST_RING, dsn)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as c:
        yield c
    drop_database(pg_server_dsn, dsn)


@pytest.fixture(scope="module")
def good_token():
    return issue_token({"dzbm": "H7ACTIVE01", "dzmc": "四川省达州市通川区朝阳东路1号", "xzqh": "511702"},
                       TEST_RING, now=time.time() + 30)


segment = st.one_of(
    st.sampled_from(CODES),
    st.text(max_size=80),
    st.text(alphabet="0123456789AZaz_-.%/~ ", max_size=70),
    st.binary(max_size=40).map(lambda b: "".join(f"%{x:02X}" for x in b)),
)


def mutate(token: str, data) -> str:
    i = data.draw(st.integers(0, len(token) - 1))
    how = data.draw(st.sampled_from(["replace", "drop", "insert", "truncate", "double"]))
    c = data.draw(st.sampled_from(B64 + "=+/ !%"))
    return {"replace": token[:i] + c + token[i + 1:], "drop": token[:i] + token[i + 1:],
            "insert": token[:i] + c + token[i:], "truncate": token[:i], "double": token + token}[how]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(PREFIXES), seg=segment, quoted=st.booleans(),
       query=st.dictionaries(st.sampled_from(["d", "c", "x", "reason", "d[]"]), st.text(max_size=60), max_size=3),
       method=st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "OPTIONS", "DELETE"]))
def test_random_requests_never_5xx(client, prefix, seg, quoted, query, method):
    path = prefix + (quote(seg, safe="") if quoted else quote(seg, safe="/%"))
    r = client.request(method, path, params=query)
    assert r.status_code < 500, (method, path, query, r.status_code, r.text[:200])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_tokens_never_5xx_nor_200(client, good_token, data):
    forged = mutate(good_token, data)
    r = client.get("/doorplate", params={"d": forged})
    assert r.status_code < 500, (forged, r.status_code)
    if forged != good_token:
        assert r.status_code in (400, 409, 414), (forged, r.status_code)
