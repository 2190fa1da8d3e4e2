"""The stream in Dagster: the sensor drains the queue and reports ODS materializations for the
tables it changed; the cdc_stream asset's lag and local-reconciliation checks pass afterwards."""

from __future__ import annotations

import dagster as dg

from dz_assets.defs.cdc.assets import cdc_sensor, cdc_stream, recon_run
from dz_assets.defs.resources import BrokerResource, WarehouseResource
from dz_assets.synth.messages import publish_messages


def test_sensor_reports_ods_materializations_and_checks_pass(topo, amqp_url, pg_dsn):
    sent = publish_messages(amqp_url, persons=400, seed=31, exchange=topo.exchange)
    resources = {"warehouse": WarehouseResource(dsn=pg_dsn), "broker": BrokerResource(amqp_url=amqp_url)}
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources=resources)
        result = cdc_sensor(ctx)
        keys = {ev.asset_key.to_user_string() for ev in result.asset_events}
        assert {f"ods/{t.lower()}" for t in sent["tables"]} <= keys
        assert "cdc/cdc_stream" in keys
        out = dg.materialize([cdc_stream, recon_run], instance=instance, resources=resources)
        assert out.success
        checks = {e.check_name: e.passed for e in out.get_asset_check_evaluations()}
        assert checks["cdc_lag_within_bound"] and checks["changelog_matches_ods"]
