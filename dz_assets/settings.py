"""Every dz-hub setting, read from ``DZ_*`` environment variables, with loopback defaults.

One place for each fact: the CLI, the Dagster resources, dbt's profile and the tests all read
their configuration through :func:`get_settings`. ``.env.example`` lists the same variables.
An environment variable set to the empty string counts as unset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/dzhub"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def env(name: str, default: str | None = None) -> str | None:
    """The variable's value, or ``default`` when it is unset or empty."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """A snapshot of the configuration (re-read on every :func:`get_settings` call)."""

    state_dir: Path
    pg_dsn: str | None  # None: not set explicitly, resolve (loopback default, else embedded)
    amqp_url: str
    mysql_url: str
    inbox: Path
    backup_dir: Path
    quarantine_dir: Path
    reject_dir: Path
    object_store: Path
    outbox: Path
    alert_webhook: str | None
    require_services: bool
    # An INCR batch waiting for its BATCH@prev this long raises an alert (1 h: a day's INCRs arrive hourly).
    incr_wait_alert_s: float = 3600.0
    load_throttle_s: float = 0.0  # pause after each COPY chunk of a FULL load: crash tests only
    # Incremental sync (issue 5): exchange and dz-hub's own queue (tests use uuid-suffixed names).
    cdc_exchange: str = "dz.cdc"
    cdc_queue: str = "dzhub.cdc"
    cdc_prefetch: int = 15000  # unacked messages in flight: 3 micro-batches, so the broker never idles
    cdc_batch_size: int = 5000  # changes per micro-batch: one COPY + one upsert per table (a trickle flushes by age)
    cdc_flush_s: float = 0.25  # a partial micro-batch is applied after this idle time
    cdc_max_lag_s: float = 60.0  # oldest unapplied change / queue lag above this alerts
    cdc_drain_idle_s: float = 5.0  # --drain: the queue said 0 ready and nothing arrived for this long: drained
    cdc_throttle_s: float = 0.0  # pause inside each micro-batch before commit: crash tests only

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster_home"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.state_dir / "pgdata"


def get_settings() -> Settings:
    state = Path(env("DZ_STATE_DIR", str(PROJECT_ROOT / ".state"))).expanduser().resolve()

    def path(name: str, default: Path) -> Path:
        return Path(env(name, str(default))).expanduser().resolve()

    return Settings(
        state_dir=state,
        pg_dsn=env("DZ_PG_DSN"),
        amqp_url=env("DZ_AMQP_URL", DEFAULT_AMQP_URL),
        mysql_url=env("DZ_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
        inbox=path("DZ_INBOX", state / "inbox"),
        backup_dir=path("DZ_BACKUP_DIR", state / "backup"),
        quarantine_dir=path("DZ_QUARANTINE_DIR", state / "quarantine"),
        reject_dir=path("DZ_REJECT_DIR", state / "reject"),
        object_store=path("DZ_OBJECT_STORE", state / "objects"),
        outbox=path("DZ_OUTBOX", state / "outbox"),
        alert_webhook=env("DZ_ALERT_WEBHOOK"),
        require_services=env("DZ_REQUIRE_SERVICES", "0") in ("1", "true", "yes"),
        incr_wait_alert_s=float(env("DZ_INCR_WAIT_ALERT_S", "3600")),
        load_throttle_s=float(env("DZ_LOAD_THROTTLE_S", "0")),
        cdc_exchange=env("DZ_CDC_EXCHANGE", "dz.cdc"),
        cdc_queue=env("DZ_CDC_QUEUE", "dzhub.cdc"),
        cdc_prefetch=int(env("DZ_CDC_PREFETCH", "15000")),
        cdc_batch_size=int(env("DZ_CDC_BATCH_SIZE", "5000")),
        cdc_flush_s=float(env("DZ_CDC_FLUSH_S", "0.25")),
        cdc_max_lag_s=float(env("DZ_CDC_MAX_LAG_S", "60")),
        cdc_drain_idle_s=float(env("DZ_CDC_DRAIN_IDLE_S", "5")),
        cdc_throttle_s=float(env("DZ_CDC_THROTTLE_S", "0")),
    )


@dataclass(frozen=True)
class RedirectSettings:
    """The e-code redirect service and its receiver (spec/ecode-redirect.md)."""

    sm4_keys: str | None  # "id:hex32,…"; wins over sm4_keys_file
    sm4_keys_file: Path | None
    mac_key: str | None  # hex, 16 or 32 bytes: HMAC-SM3 key of the CBC compatibility mode
    token_mode: str  # gcm | cbc
    doorplate_url: str  # the receiver; by default the landing page mounted in the same app
    fallback_url: str | None
    token_lifetime_s: int
    rate_limit: float  # requests per second per client, 0 = off
    rate_burst: int
    cache_ttl_s: float  # address lookups cached this long: changes show within it
    cache_size: int
    pool_size: int
    mount_receiver: bool
    access_log: bool


def get_redirect_settings() -> RedirectSettings:
    keys_file = env("DZ_SM4_KEYS_FILE")
    return RedirectSettings(
        sm4_keys=env("DZ_SM4_KEYS"),
        sm4_keys_file=Path(keys_file).expanduser() if keys_file else None,
        mac_key=env("DZ_SM4_MAC_KEY"),
        token_mode=env("DZ_TOKEN_MODE", "gcm").lower(),
        doorplate_url=env("DZ_DOORPLATE_URL", "/doorplate"),
        fallback_url=env("DZ_ECODE_FALLBACK_URL"),
        token_lifetime_s=int(env("DZ_TOKEN_LIFETIME_S", "300")),
        rate_limit=float(env("DZ_REDIRECT_RATE_LIMIT", "20")),
        rate_burst=int(env("DZ_REDIRECT_RATE_BURST", "40")),
        cache_ttl_s=float(env("DZ_REDIRECT_CACHE_TTL_S", "5")),
        cache_size=int(env("DZ_REDIRECT_CACHE_SIZE", "100000")),
        pool_size=int(env("DZ_REDIRECT_POOL_SIZE", "4")),
        mount_receiver=env("DZ_REDIRECT_RECEIVER", "1") in ("1", "true", "yes"),
        access_log=env("DZ_REDIRECT_ACCESS_LOG", "1") in ("1", "true", "yes"),
    )
