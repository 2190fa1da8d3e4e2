"""Prometheus metrics of the pipeline, read from the warehouse at scrape time.

``WarehouseCollector`` is a custom collector: each scrape runs a handful of small aggregate
queries over ``meta.*`` (deliveries, rows, objects, the change stream, poison, open alerts, the
last successful run of each job, what retention removed) and nothing else, so a scrape costs
milliseconds and the figures are never stale. Labels are sources, kinds, statuses, reason codes
and job names: no subject, key or value of any row, so nothing personal leaves through them.
A warehouse that does not answer yields ``dzhub_up 0`` instead of an error page, as exporters do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import psycopg
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dz_assets.cdc.status import pending
from dz_assets.db import connect
from dz_assets.db.named_sql import NamedSql

log = logging.getLogger(__name__)
query = NamedSql(__file__)

ROW_OUTCOMES = ("loaded", "rejected", "flagged", "duplicate")


class WarehouseCollector(Collector):
    """The pipeline's figures from ``meta.*``; ``dsn`` is resolved on each scrape when a callable."""

    def __init__(self, dsn: str | Callable[[], str]) -> None:
        self._dsn = dsn

    def collect(self) -> Iterator[Metric]:
        t0 = time.monotonic()
        up = GaugeMetricFamily("dzhub_up", "1 when the warehouse answered this scrape")
        try:
            dsn = self._dsn() if callable(self._dsn) else self._dsn
            with connect(dsn, autocommit=True) as conn:
                families = list(_families(conn))
        except (psycopg.Error, RuntimeError, OSError) as exc:  # down, or not initialised yet
            log.warning("metrics scrape: the warehouse did not answer its queries: %s", exc)
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield from families
        took = GaugeMetricFamily("dzhub_scrape_duration_seconds", "Time the warehouse queries of this scrape took")
        took.add_metric([], time.monotonic() - t0)
        yield took


def _families(conn: psycopg.Connection) -> Iterator[Metric]:
    batches = GaugeMetricFamily("dzhub_province_batches", "Deliveries of provincial packages by source, kind and "
                                "status (outcome)", labels=["source", "kind", "status"])
    rows = CounterMetricFamily("dzhub_province_rows", "Rows of provincial packages by source, kind and outcome "
                               "(loaded, rejected, flagged, duplicate)", labels=["source", "kind", "outcome"])
    last = GaugeMetricFamily("dzhub_province_last_loaded_timestamp_seconds",
                             "When the newest batch of a source was loaded or applied", labels=["source"])
    sums: dict[tuple[str, str, str], float] = {}
    newest: dict[str, float] = {}
    for source, kind, status, n, *figures, finished in conn.execute(query("metrics", "batches")):
        batches.add_metric([source, kind, status], n)
        for outcome, value in zip(ROW_OUTCOMES, figures, strict=True):
            sums[(source, kind, outcome)] = sums.get((source, kind, outcome), 0) + value
        if finished is not None:
            newest[source] = max(newest.get(source, 0.0), float(finished))
    for labels, value in sums.items():
        rows.add_metric(list(labels), value)
    for source, at in newest.items():
        last.add_metric([source], at)
    yield from (batches, rows, last)

    n, size = conn.execute(query("metrics", "objects")).fetchone()
    objects = GaugeMetricFamily("dzhub_objects", "Unstructured objects in the object store")
    objects.add_metric([], n)
    object_bytes = GaugeMetricFamily("dzhub_object_bytes", "Bytes of the objects in the object store")
    object_bytes.add_metric([], size)
    yield from (objects, object_bytes)

    per_log = pending(conn)
    waiting = GaugeMetricFamily("dzhub_cdc_pending_changes", "Logged changes not applied yet", labels=["table"])
    lag = GaugeMetricFamily("dzhub_cdc_lag_seconds", "Age of the oldest logged change not applied yet")
    for table, p in per_log.items():
        waiting.add_metric([table], p.pending)
    lag.add_metric([], max((p.oldest_age_s for p in per_log.values()), default=0.0))
    applied, deleted, ignored = conn.execute(query("metrics", "cdc_applied")).fetchone()
    changes = CounterMetricFamily("dzhub_cdc_changes", "Changes the apply step settled, by outcome",
                                  labels=["outcome"])
    for outcome, value in (("applied", applied), ("deleted", deleted), ("ignored", ignored)):
        changes.add_metric([outcome], value)
    poison = CounterMetricFamily("dzhub_cdc_poison_messages", "Change messages set aside as poison, by reason",
                                 labels=["reason"])
    for reason, count in conn.execute(query("metrics", "poison")):
        poison.add_metric([reason], count)
    yield from (waiting, lag, changes, poison)

    alerts = GaugeMetricFamily("dzhub_alerts_open", "Alerts not resolved, by kind and severity",
                               labels=["kind", "severity"])
    for code, severity, count in conn.execute(query("metrics", "open_alerts")):
        alerts.add_metric([code, severity], count)
    runs = GaugeMetricFamily("dzhub_job_last_success_timestamp_seconds",
                             "When each Dagster job last succeeded (recorded by the run sensor)", labels=["job"])
    for job, at in conn.execute(query("metrics", "job_runs")):
        runs.add_metric([job], float(at))
    purged_files = CounterMetricFamily("dzhub_purged_files", "Files removed by retention, by kind", labels=["kind"])
    purged_bytes = CounterMetricFamily("dzhub_purged_bytes", "Bytes removed by retention, by kind", labels=["kind"])
    for kind, files, size in conn.execute(query("metrics", "purged")):
        purged_files.add_metric([kind], files)
        purged_bytes.add_metric([kind], size)
    yield from (alerts, runs, purged_files, purged_bytes)


def pipeline_registry(dsn: str | Callable[[], str]) -> CollectorRegistry:
    """A registry holding only the warehouse collector (no process metrics of the exporter)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WarehouseCollector(dsn))
    return registry
