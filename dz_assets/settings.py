"""Every dz-hub setting, read from ``DZ_*`` environment variables, with loopback defaults.

One place for each fact: the CLI, the Dagster resources, dbt's profile and the tests all read
their configuration through :func:`get_settings`. :data:`DEFAULTS` lists every variable with its
default, and ``.env.example`` lists exactly the same (a test holds them together). An environment
variable set to the empty string counts as unset; a default of ``""`` means unset too (resolved
at run time, or optional).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/dzhub"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

DEFAULTS: dict[str, str] = {
    # unset: DEFAULT_PG_DSN when something answers there, else an embedded PostgreSQL
    "DZ_PG_DSN": "",
    "DZ_AMQP_URL": DEFAULT_AMQP_URL,
    "DZ_MYSQL_URL": "mysql://root@127.0.0.1:3306/test",
    "DZ_STATE_DIR": "",  # unset: .state in the checkout
    # unset: under the state folder (inbox, backup, quarantine, reject, objects, outbox)
    "DZ_INBOX": "",
    "DZ_BACKUP_DIR": "",
    "DZ_QUARANTINE_DIR": "",
    "DZ_REJECT_DIR": "",
    "DZ_OBJECT_STORE": "",
    "DZ_OUTBOX": "",
    "DZ_INCR_WAIT_ALERT_S": "3600",
    "DZ_LOAD_THROTTLE_S": "0",
    "DZ_PKG_MAX_MEMBERS": "250000",
    "DZ_PKG_MAX_MEMBER_BYTES": str(32 << 30),
    "DZ_PKG_MAX_TOTAL_BYTES": str(256 << 30),
    "DZ_PKG_MAX_RATIO": "200",
    "DZ_PKG_MAX_INDEX_BYTES": str(64 << 20),
    "DZ_PKG_MAX_VALUE_BYTES": str(64 << 10),
    "DZ_ALERT_WEBHOOK": "",
    "DZ_DISK_ALERT_PCT": "90",
    "DZ_FRESHNESS_MAX_AGE_H": "0",  # 0: off
    "DZ_DAILY_BATCH_GRACE_S": "7200",
    # retention in days per kind of file (dzhub purge); 0: keep everything
    "DZ_RETAIN_BACKUP_DAYS": "0",
    "DZ_RETAIN_QUARANTINE_DAYS": "0",
    "DZ_RETAIN_REJECTS_DAYS": "0",
    "DZ_RETAIN_OBJECTS_DAYS": "0",
    "DZ_RETAIN_OUTBOX_DAYS": "0",
    "DZ_RETAIN_RECORDS_DAYS": "0",
    "DZ_REQUIRE_SERVICES": "0",
    "DZ_SM4_KEYS": "",
    "DZ_SM4_KEYS_FILE": "",
    "DZ_SM4_MAC_KEY": "",
    "DZ_TOKEN_MODE": "gcm",
    "DZ_DOORPLATE_URL": "/doorplate",
    "DZ_ECODE_FALLBACK_URL": "",
    "DZ_TOKEN_LIFETIME_S": "300",
    "DZ_REDIRECT_RATE_LIMIT": "20",
    "DZ_REDIRECT_RATE_BURST": "40",
    "DZ_REDIRECT_CACHE_TTL_S": "5",
    "DZ_REDIRECT_CACHE_SIZE": "100000",
    "DZ_REDIRECT_POOL_SIZE": "4",
    "DZ_REDIRECT_RECEIVER": "1",
    "DZ_REDIRECT_ACCESS_LOG": "1",
    "DZ_REDIRECT_HEADER_TIMEOUT_S": "5",
    "DZ_REDIRECT_KEEP_ALIVE_S": "5",
    "DZ_REDIRECT_MAX_CONNECTIONS": "2000",
    "DZ_CDC_EXCHANGE": "dz.cdc",
    "DZ_CDC_QUEUE": "dzhub.cdc",
    "DZ_CDC_PREFETCH": "15000",
    "DZ_CDC_BATCH_SIZE": "5000",
    "DZ_CDC_FLUSH_S": "0.25",
    "DZ_CDC_MAX_LAG_S": "60",
    "DZ_CDC_DRAIN_IDLE_S": "5",
    "DZ_CDC_MAX_BODY_BYTES": str(16 * 1024 * 1024),
    "DZ_CDC_BATCH_BYTES": str(64 * 1024 * 1024),
    "DZ_CDC_THROTTLE_S": "0",
    "DZ_DEBUG": "0",
    # The one environment switch: "production" turns on the refusals of dz_assets/security/secrets.py.
    "DZ_ENV": "development",
    # The redirect's own least-privileged login (a dz_redirect member); unset: DZ_PG_DSN.
    "DZ_REDIRECT_PG_DSN": "",
    "DZ_DBT_TARGET": "dev",  # read by dbt_project/profiles.yml only
    # QR codes for sign making (spec/ecode-redirect.md, "Daily QR batch"): the e-code URL a code
    # holds ({dzbm} replaced; a placeholder until a deployment sets its own), pixels per module of
    # the PNGs, the printed code's side in millimetres, the CJK caption font (unset: the
    # WenQuanYi Micro Hei that scripts/services.sh installs), processes and codes per first-issue chunk.
    "DZ_ECODE_URL_TEMPLATE": "https://ema.example.invalid/a?c={dzbm}",
    "DZ_QR_SCALE": "10",
    "DZ_QR_PRINT_MM": "40",
    "DZ_QR_FONT": "",
    "DZ_QR_WORKERS": "2",
    "DZ_QR_CHUNK": "10000",
    # The operations console (dz_console): how long a sign-in lasts, where its Dagster UI listens
    # (loopback, started with --path-prefix /dagster by `dzhub console serve`), its pool.
    "DZ_CONSOLE_SESSION_TTL_S": "28800",
    "DZ_CONSOLE_DAGSTER_URL": "http://127.0.0.1:3070",
    "DZ_CONSOLE_POOL_SIZE": "4",
    # Declarative sources (spec/source-config.md): the folder of YAML files (unset: sources/ in
    # the checkout); attempts of a run on a transient fault and the first back-off (doubling);
    # an HTTP request's timeout; how far before the highest cursor read a time cursor re-reads.
    "DZ_SOURCES_DIR": "",
    "DZ_SOURCES_RETRIES": "3",
    "DZ_SOURCES_RETRY_BACKOFF_S": "0.5",
    "DZ_SOURCES_HTTP_TIMEOUT_S": "30",
    "DZ_SOURCES_LOOKBACK_S": "600",
}


def env(name: str, default: str | None = None) -> str | None:
    """The variable's value, or ``default`` when it is unset or empty."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def setting(name: str) -> str | None:
    """A dz-hub setting: the variable's value, else its default from :data:`DEFAULTS` (None when unset)."""
    return env(name, DEFAULTS[name] or None)


def flag(name: str) -> bool:
    return setting(name) in ("1", "true", "yes")


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
    # Incremental sync: exchange and dz-hub's own queue (tests use uuid-suffixed names).
    cdc_exchange: str = "dz.cdc"
    cdc_queue: str = "dzhub.cdc"
    cdc_prefetch: int = 15000  # unacked messages in flight: 3 micro-batches, so the broker never idles
    cdc_batch_size: int = 5000  # changes per micro-batch: one COPY + one upsert per table (a trickle flushes by age)
    cdc_flush_s: float = 0.25  # a partial micro-batch is applied after this idle time
    cdc_max_lag_s: float = 60.0  # oldest unapplied change / queue lag above this alerts
    cdc_drain_idle_s: float = 5.0  # --drain: the queue said 0 ready and nothing arrived for this long: drained
    cdc_max_body_bytes: int = 16 * 1024 * 1024  # a longer message body is poison, never parsed
    cdc_batch_bytes: int = 64 * 1024 * 1024  # a micro-batch is also flushed at this many body bytes
    cdc_throttle_s: float = 0.0  # pause inside each micro-batch before commit: crash tests only
    # A disk holding the inbox or the state folder fuller than this (percent) alerts.
    disk_alert_pct: float = 90.0
    # An ODS table not loaded or applied for this long (hours) alerts; 0 turns it off (the
    # province delivers daily, so 48 h is a day missed with a day's slack).
    freshness_max_age_h: float = 0.0
    # A daily job (dbt, rule models, QR) with no successful run this long after its hour alerts.
    daily_batch_grace_s: float = 7200.0
    # Retention (days) of backups, quarantined packages, rejects files, stored objects and
    # outbox entries; 0 keeps everything (the default: nothing is removed unless asked).
    retain_backup_days: int = 0
    retain_quarantine_days: int = 0
    retain_rejects_days: int = 0
    retain_objects_days: int = 0
    retain_outbox_days: int = 0
    retain_records_days: int = 0

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster_home"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.state_dir / "pgdata"


def get_settings() -> Settings:
    state = Path(setting("DZ_STATE_DIR") or str(PROJECT_ROOT / ".state")).expanduser().resolve()

    def path(name: str, default: Path) -> Path:
        return Path(setting(name) or str(default)).expanduser().resolve()

    return Settings(
        state_dir=state,
        pg_dsn=setting("DZ_PG_DSN"),
        amqp_url=setting("DZ_AMQP_URL"),
        mysql_url=setting("DZ_MYSQL_URL"),
        inbox=path("DZ_INBOX", state / "inbox"),
        backup_dir=path("DZ_BACKUP_DIR", state / "backup"),
        quarantine_dir=path("DZ_QUARANTINE_DIR", state / "quarantine"),
        reject_dir=path("DZ_REJECT_DIR", state / "reject"),
        object_store=path("DZ_OBJECT_STORE", state / "objects"),
        outbox=path("DZ_OUTBOX", state / "outbox"),
        alert_webhook=setting("DZ_ALERT_WEBHOOK"),
        require_services=flag("DZ_REQUIRE_SERVICES"),
        incr_wait_alert_s=float(setting("DZ_INCR_WAIT_ALERT_S")),
        load_throttle_s=float(setting("DZ_LOAD_THROTTLE_S")),
        cdc_exchange=setting("DZ_CDC_EXCHANGE"),
        cdc_queue=setting("DZ_CDC_QUEUE"),
        cdc_prefetch=int(setting("DZ_CDC_PREFETCH")),
        cdc_batch_size=int(setting("DZ_CDC_BATCH_SIZE")),
        cdc_flush_s=float(setting("DZ_CDC_FLUSH_S")),
        cdc_max_lag_s=float(setting("DZ_CDC_MAX_LAG_S")),
        cdc_drain_idle_s=float(setting("DZ_CDC_DRAIN_IDLE_S")),
        cdc_max_body_bytes=int(setting("DZ_CDC_MAX_BODY_BYTES")),
        cdc_batch_bytes=int(setting("DZ_CDC_BATCH_BYTES")),
        cdc_throttle_s=float(setting("DZ_CDC_THROTTLE_S")),
        disk_alert_pct=float(setting("DZ_DISK_ALERT_PCT")),
        freshness_max_age_h=float(setting("DZ_FRESHNESS_MAX_AGE_H")),
        daily_batch_grace_s=float(setting("DZ_DAILY_BATCH_GRACE_S")),
        retain_backup_days=int(setting("DZ_RETAIN_BACKUP_DAYS")),
        retain_quarantine_days=int(setting("DZ_RETAIN_QUARANTINE_DAYS")),
        retain_rejects_days=int(setting("DZ_RETAIN_REJECTS_DAYS")),
        retain_objects_days=int(setting("DZ_RETAIN_OBJECTS_DAYS")),
        retain_outbox_days=int(setting("DZ_RETAIN_OUTBOX_DAYS")),
        retain_records_days=int(setting("DZ_RETAIN_RECORDS_DAYS")),
    )


@dataclass(frozen=True)
class PackageLimits:
    """What a provincial package may make dz-hub read: the bounds on decompression and on the
    length of a line that keep a hostile package (a zip bomb, a 1 GB line) in bounded memory.

    A zip entry may inflate to at most ``max_ratio`` times its compressed size (plus 1 MiB, so
    small members of repeated bytes pass): BCP text deflates 5-20:1, deflate's ceiling is ~1030:1.
    """

    max_members: int  # entries in the central directory (95 000 objects is a large real package)
    max_member_bytes: int  # one entry, uncompressed
    max_total_bytes: int  # every entry together, uncompressed
    max_ratio: float
    max_index_bytes: int  # GAB_ZIP_INDEX.xml and files.tsv, read whole
    # Bytes assumed for a value whose type and length bound nothing (a string or code without
    # ``length``, a decimal): a line longer than the longest row this allows is rejected unread.
    max_value_bytes: int


def get_package_limits() -> PackageLimits:
    return PackageLimits(
        max_members=int(setting("DZ_PKG_MAX_MEMBERS")),
        max_member_bytes=int(setting("DZ_PKG_MAX_MEMBER_BYTES")),
        max_total_bytes=int(setting("DZ_PKG_MAX_TOTAL_BYTES")),
        max_ratio=float(setting("DZ_PKG_MAX_RATIO")),
        max_index_bytes=int(setting("DZ_PKG_MAX_INDEX_BYTES")),
        max_value_bytes=int(setting("DZ_PKG_MAX_VALUE_BYTES")),
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
    # Slow and idle clients (redirect_api/protocol.py): a request head must be complete this long
    # after the connection began to wait for it; an idle keep-alive connection is closed after
    # keep_alive_s; beyond max_connections the connections waiting longest for a head are closed.
    header_timeout_s: float
    keep_alive_s: float
    max_connections: int


def get_redirect_settings() -> RedirectSettings:
    keys_file = setting("DZ_SM4_KEYS_FILE")
    return RedirectSettings(
        sm4_keys=setting("DZ_SM4_KEYS"),
        sm4_keys_file=Path(keys_file).expanduser() if keys_file else None,
        mac_key=setting("DZ_SM4_MAC_KEY"),
        token_mode=setting("DZ_TOKEN_MODE").lower(),
        doorplate_url=setting("DZ_DOORPLATE_URL"),
        fallback_url=setting("DZ_ECODE_FALLBACK_URL"),
        token_lifetime_s=int(setting("DZ_TOKEN_LIFETIME_S")),
        rate_limit=float(setting("DZ_REDIRECT_RATE_LIMIT")),
        rate_burst=int(setting("DZ_REDIRECT_RATE_BURST")),
        cache_ttl_s=float(setting("DZ_REDIRECT_CACHE_TTL_S")),
        cache_size=int(setting("DZ_REDIRECT_CACHE_SIZE")),
        pool_size=int(setting("DZ_REDIRECT_POOL_SIZE")),
        mount_receiver=flag("DZ_REDIRECT_RECEIVER"),
        access_log=flag("DZ_REDIRECT_ACCESS_LOG"),
        header_timeout_s=float(setting("DZ_REDIRECT_HEADER_TIMEOUT_S")),
        keep_alive_s=float(setting("DZ_REDIRECT_KEEP_ALIVE_S")),
        max_connections=int(setting("DZ_REDIRECT_MAX_CONNECTIONS")),
    )


@dataclass(frozen=True)
class QrSettings:
    """QR codes for sign making (dz_assets/ecode)."""

    url_template: str  # the e-code URL, "{dzbm}" replaced by the address code
    scale: int  # pixels per module in the PNGs (10 px: a 37-module code is 37 mm at 254 dpi)
    print_mm: float  # side of a code on the print sheet
    font: Path | None  # None: the system's WenQuanYi Micro Hei
    workers: int  # processes rendering and verifying
    chunk: int  # codes per zip of the first issue


def get_qr_settings() -> QrSettings:
    font = setting("DZ_QR_FONT")
    template = setting("DZ_ECODE_URL_TEMPLATE")
    if "{dzbm}" not in template:
        raise ValueError(f"DZ_ECODE_URL_TEMPLATE must contain {{dzbm}}: {template!r}")
    return QrSettings(
        url_template=template,
        scale=int(setting("DZ_QR_SCALE")),
        print_mm=float(setting("DZ_QR_PRINT_MM")),
        font=Path(font).expanduser() if font else None,
        workers=max(1, int(setting("DZ_QR_WORKERS"))),
        chunk=max(1, int(setting("DZ_QR_CHUNK"))),
    )


@dataclass(frozen=True)
class ConsoleSettings:
    """The operations console (dz_console)."""

    # A sign-in lasts this long (8 h: a working day), then the console asks again.
    session_ttl_s: int
    # The Dagster webserver behind /dagster/ (it must listen on loopback with --path-prefix /dagster).
    dagster_url: str
    pool_size: int  # warehouse connections, each request one at a time


def get_console_settings() -> ConsoleSettings:
    return ConsoleSettings(session_ttl_s=int(setting("DZ_CONSOLE_SESSION_TTL_S")),
                           dagster_url=setting("DZ_CONSOLE_DAGSTER_URL").rstrip("/"),
                           pool_size=int(setting("DZ_CONSOLE_POOL_SIZE")))


def is_production() -> bool:
    return setting("DZ_ENV") == "production"
