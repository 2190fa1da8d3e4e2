"""``dzhub cdc status --json`` and ``local-recon --json`` print the objects they printed when the
results were dicts: the typed results' ``as_json`` keeps every key, in order."""

from __future__ import annotations

from dz_assets.cdc.status import BrokerDepth, CdcStatus, LocalRecon


def test_broker_depth_names_an_error_only_when_there_is_one():
    assert BrokerDepth("dzhub.cdc", 3, 0).as_json() == {"queue": "dzhub.cdc", "ready": 3, "dead_lettered": 0}
    assert BrokerDepth("dzhub.cdc", error="AMQPConnectionError").as_json() == {
        "queue": "dzhub.cdc", "ready": None, "dead_lettered": None, "error": "AMQPConnectionError"}


def test_local_recon_is_ok_only_without_missing_behind_or_wrong_deletes():
    r = LocalRecon("HZ_HJRKJBXX", 10, 9, 1, 0, 0, 0)
    assert r.as_json() == {"table": "HZ_HJRKJBXX", "keys": 10, "matching": 9, "rebased": 1, "missing": 0,
                           "behind": 0, "wrong_delete": 0, "ok": True}
    assert not LocalRecon("T", 1, 0, 0, 0, 1, 0).ok and not LocalRecon("T", 1, 0, 0, 0, 0, 1).ok


def test_status_prints_the_broker_only_when_it_was_asked():
    st = CdcStatus(tables={}, pending=0, lag_s=0.0, max_lag_s=60.0, lag_ok=True, poison={}, both_channels=[],
                   broker=None)
    assert list(st.as_json()) == ["tables", "pending", "lag_s", "max_lag_s", "lag_ok", "poison", "both_channels"]
    st.broker = BrokerDepth("q", 2, 1)
    assert st.as_json()["broker"] == {"queue": "q", "ready": 2, "dead_lettered": 1}
    assert (st.queue_ready, st.dead_lettered) == (2, 1)
