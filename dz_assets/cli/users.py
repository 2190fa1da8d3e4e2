"""``dzhub users``: login roles in one group role each, optionally bound to a station or county,
and their passwords (the console's scrypt hash beside the server's SCRAM secret)."""

from __future__ import annotations

import sys

import click

from dz_assets.cli.output import emit_json, json_option, notice

ROLES = ("dz_engineer", "dz_operator", "dz_analyst", "dz_officer", "dz_redirect", "dz_auditor")


@click.group("users")
def command() -> None:
    """账号管理：登录账号、角色与辖区 (login roles, their group role and jurisdiction)."""


@command.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--station", metavar="GAJGJGDM", help="Bind to this police station's rows.")
@click.option("--county", metavar="XZQHDM", help="Bind to this county's stations' rows.")
@click.option("--password-stdin", is_flag=True, help="Read the login's password from standard input.")
@json_option
def add(name: str, role: str, station: str | None, county: str | None, password_stdin: bool,
        as_json: bool) -> None:
    """Create login NAME in group ROLE."""
    from dz_assets.db import connect
    from dz_assets.security.users import UserError, add_user

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with connect() as conn:
        try:
            login = add_user(conn, name, role, station=station, county=county, password=password)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        emit_json(login.__dict__)
    else:
        scope = login.station or login.county or "all rows"
        notice(f"login {login.name} created in {login.role} ({scope})")


@command.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List the dz-hub logins, their group role, state and jurisdiction."""
    from dz_assets.db import connect
    from dz_assets.security.users import list_users

    with connect() as conn:
        logins = list_users(conn)
    if as_json:
        emit_json({"users": [u.__dict__ for u in logins]})
        return
    for u in logins:
        click.echo(f"{u.name}\t{u.role}\t{'enabled' if u.enabled else 'disabled'}\t"
                   f"{u.station or u.county or '-'}")


@command.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the new password from standard input (never from the command line).")
def passwd(name: str, password_stdin: bool) -> None:
    """Set login NAME's password: the console's scrypt hash and the server's SCRAM secret."""
    from dz_assets.db import connect
    from dz_assets.security.users import UserError, change_password

    password = sys.stdin.readline().rstrip("\r\n")
    with connect() as conn:
        try:
            change_password(conn, name, password)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    notice(f"password of {name} set (console and database)")


@command.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Refuse further sign-ins of login NAME."""
    from dz_assets.db import connect
    from dz_assets.security.users import UserError, disable_user

    with connect() as conn:
        try:
            disable_user(conn, name)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    notice(f"login {name} disabled")
