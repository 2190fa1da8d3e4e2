"""The stream in Dagster: the sensor looks at the queue without consuming it and asks for one
drain run; the run applies the changes, reports ODS materializations for the tables it changed
(with their checks evaluated again), and the stream's lag and local-reconciliation checks pass."""

from __future__ import annotations

import dagster as dg

from dz_assets.cdc.status import broker_depth
from dz_assets.defs.cdc.assets import change_stream, change_stream_job, change_stream_sensor, recon_run
from dz_assets.defs.ods.tables import REBASE_CHECK
from dz_assets.defs.resources import BrokerResource, WarehouseResource
from dz_assets.settings import get_settings
from dz_assets.synth.messages import publish_messages


def test_sensor_requests_a_drain_run_that_reports_ods_materializations_and_checks_pass(topo, amqp_url, pg_dsn):
    sent = publish_messages(amqp_url, persons=400, seed=31, exchange=topo.exchange)
    resources = {"warehouse": WarehouseResource(dsn=pg_dsn), "broker": BrokerResource(amqp_url=amqp_url)}
    with dg.instance_for_test() as instance:
        waiting = broker_depth(get_settings()).as_json()["ready"]
        tick = change_stream_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert len(tick.run_requests) == 1
        assert broker_depth(get_settings()).as_json()["ready"] == waiting  # the sensor consumed nothing
        job = dg.Definitions(assets=[change_stream, recon_run], jobs=[change_stream_job],
                             resources=resources).resolve_job_def(change_stream_job.name)
        run = job.execute_in_process(instance=instance, tags=tick.run_requests[0].tags)
        assert run.success and run.dagster_run.job_name == "change_stream_job"
        keys = {ev.asset_key.to_user_string() for ev in run.get_asset_materialization_events()}
        assert {f"ods/{t.lower()}" for t in sent["tables"]} <= keys
        assert {f"raw/{t.lower()}__changes" for t in sent["tables"]} <= keys
        assert "meta/cdc_table_state" in keys
        checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in run.get_asset_check_evaluations()}
        assert checks[("meta/cdc_table_state", "cdc_lag_within_bound")]
        assert checks[("meta/cdc_table_state", "changelog_matches_ods")]
        # the ODS tables the stream changed have their check evaluated again
        assert {(f"ods/{t.lower()}", REBASE_CHECK) for t in sent["tables"]} <= set(checks)
        # nothing waits now: the next tick asks for no run
        assert not change_stream_sensor(dg.build_sensor_context(instance=instance, resources=resources)).run_requests
        out = dg.materialize([recon_run], instance=instance, resources=resources)
        assert out.success
