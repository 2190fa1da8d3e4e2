"""Secrets: what production refuses to start with.

Keys, passwords and DSNs come only from the environment or secret files (dz_assets/settings.py).
``DZ_ENV=production`` (the one environment switch) adds the refusals below; elsewhere they are
only warnings' worth, so demos and tests keep their ephemeral keys.
"""

from __future__ import annotations

import stat
from pathlib import Path

from dz_assets.settings import is_production


class ProductionRefusal(RuntimeError):
    """A production start refused, with what to do about it."""


def key_file_problem(path: Path) -> str | None:
    """Why a key file is not fit for production (readable or writable by group or others), or None."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is mode {stat.S_IMODE(mode):04o}: others can read it; chmod 600 {path}"
    return None


def check_redirect_start(*, demo_keys: bool, keys_file: Path | None) -> None:
    """Refuse a production redirect with demo keys or a key file others can read."""
    if not is_production():
        return
    if demo_keys:
        raise ProductionRefusal("DZ_ENV=production: --demo-keys refused (ephemeral keys break every token "
                                "at a restart); configure DZ_SM4_KEYS_FILE")
    if keys_file is not None and keys_file.exists() and (problem := key_file_problem(keys_file)):
        raise ProductionRefusal(f"DZ_ENV=production: {problem}")
