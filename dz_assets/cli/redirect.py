"""``dzhub redirect``: the e-code redirect service (spec/ecode-redirect.md) and its SM4 keys."""

from __future__ import annotations

import os
import sys

import click

from dz_assets.cli.output import emit_json, json_option, notice


@click.group("redirect")
def command() -> None:
    """四川e码跳转服务（SM4 令牌）与门牌接收页。"""


DEMO_KEYS_HINT = " (or --demo-keys for ephemeral keys)"
demo_keys_option = click.option("--demo-keys", is_flag=True,
                                help="Generate ephemeral SM4 and MAC keys (demo only; refused when keys are configured).")


def _keyring(demo: bool, what: str):
    """The key ring of the configuration, or with ``demo`` ephemeral keys put in the environment
    (every uvicorn worker builds its app from it) and announced; ``what`` says where they live."""
    from dz_assets.settings import get_redirect_settings
    from redirect_api.keys import KeyConfigError, demo_keys, load_keyring

    try:
        if demo:
            keys, mac = demo_keys(get_redirect_settings())
            os.environ["DZ_SM4_KEYS"] = keys
            os.environ["DZ_SM4_MAC_KEY"] = mac
            notice(f"DEMO KEYS: generated ephemeral SM4/MAC keys {what} (not for production).")
        return load_keyring(get_redirect_settings())
    except KeyConfigError as exc:
        raise click.ClickException(f"{exc}{'' if demo else DEMO_KEYS_HINT}") from None


@command.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@demo_keys_option
def serve(host: str, port: int, workers: int, demo_keys: bool) -> None:
    """Serve the redirect API and the doorplate page (keys from DZ_SM4_KEYS / DZ_SM4_KEYS_FILE)."""
    from dz_assets.db import resolve_dsn
    from dz_assets.security.secrets import ProductionRefusal, check_redirect_start
    from dz_assets.settings import get_redirect_settings, setting
    from redirect_api.server import run

    try:
        check_redirect_start(demo_keys=demo_keys, keys_file=get_redirect_settings().sm4_keys_file)
    except ProductionRefusal as exc:
        raise click.ClickException(str(exc)) from None
    # They die with the process: tokens issued now will not decrypt after a restart.
    ring = _keyring(demo_keys, "for this process only; tokens will not decrypt after a restart")
    if own := setting("DZ_REDIRECT_PG_DSN"):  # its least-privileged login (dz_redirect)
        os.environ["DZ_PG_DSN"] = own
    try:
        resolved = resolve_dsn()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    # Workers resolve the warehouse themselves; pin what we found so they all use the same one.
    os.environ.setdefault("DZ_PG_DSN", resolved.dsn)
    notice(f"{resolved.describe()}; keys {ring!r}; http://{host}:{port}/docs")
    run(host, port, workers=workers)


@command.command("keygen")
@click.option("--ids", default="1", show_default=True, help="Comma-separated key ids (1–255).")
@json_option
def keygen(ids: str, as_json: bool) -> None:
    """Print fresh random keys as DZ_SM4_KEYS / DZ_SM4_MAC_KEY lines (keep them out of git)."""
    from redirect_api.keys import generate_keys

    try:
        id_list = tuple(int(x) for x in ids.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter("ids must be numbers", param_hint="--ids") from None
    if not id_list or any(not 1 <= i <= 255 for i in id_list):
        raise click.BadParameter("ids must be 1–255", param_hint="--ids")
    keys, mac = generate_keys(id_list)
    _audit_keygen(id_list)
    if as_json:
        emit_json({"DZ_SM4_KEYS": keys, "DZ_SM4_MAC_KEY": mac})
    else:
        sys.stdout.write(f"DZ_SM4_KEYS={keys}\nDZ_SM4_MAC_KEY={mac}\n")


@command.group("token")
def token() -> None:
    """Issue or inspect tokens with the configured keys."""


@token.command("decrypt")
@click.argument("value")
@click.option("--ignore-expiry", is_flag=True, help="Decrypt even when older than the lifetime.")
def decrypt(value: str, ignore_expiry: bool) -> None:
    """Decrypt and check a token (no replay record is written); prints the claims as JSON."""
    from dz_assets.settings import get_redirect_settings
    from redirect_api.keys import KeyConfigError, load_keyring
    from redirect_api.tokens import TokenError, read_token

    settings = get_redirect_settings()
    try:
        ring = load_keyring(settings)
        lifetime = 10**12 if ignore_expiry else settings.token_lifetime_s
        emit_json(read_token(value, ring, lifetime_s=lifetime))
    except KeyConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except TokenError as exc:
        raise click.ClickException(f"token refused ({exc.reason}, HTTP {exc.status}): {exc}") from None


@token.command("issue")
@click.argument("dzbm")
@click.option("--dzmc", default="", help="Address name to put in the token.")
@click.option("--xzqh", default="", help="County-level division code.")
@demo_keys_option
def issue(dzbm: str, dzmc: str, xzqh: str, demo_keys: bool) -> None:
    """Issue a token for hand-given address details (for testing a receiver)."""
    from redirect_api.tokens import issue_token

    # Demo keys are printed: a token nobody can ever decrypt tests nothing. They are throw-away.
    ring = _keyring(demo_keys, "for this token only")
    if demo_keys:
        notice(f"DEMO KEYS: DZ_SM4_KEYS={os.environ['DZ_SM4_KEYS']} DZ_SM4_MAC_KEY={os.environ['DZ_SM4_MAC_KEY']}")
    sys.stdout.write(issue_token({"dzbm": dzbm, "dzmc": dzmc, "xzqh": xzqh}, ring) + "\n")


def _audit_keygen(ids: tuple[int, ...]) -> None:
    """New keys are a key change: audited (ids only) when a warehouse answers; keygen itself needs none."""
    from dz_assets.db import resolve_dsn
    from dz_assets.security.audit import audit

    try:
        audit("keys.generate", "sm4", dsn=resolve_dsn().dsn, ids=list(ids))
    except Exception as exc:  # noqa: BLE001 (no warehouse here: say so, the keys are still printed)
        notice(f"keygen not audited: no warehouse answered ({type(exc).__name__})")
