"""DZ_ENV=production: the redirect refuses demo keys and a key file others can read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dz_assets.settings import get_redirect_settings
from redirect_api.keys import KeyConfigError, generate_keys, load_keyring

DZHUB = str(Path(sys.executable).with_name("dzhub"))


def _key_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "sm4.keys"
    path.write_text(generate_keys()[0] + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def test_production_refuses_demo_keys(monkeypatch) -> None:
    monkeypatch.setenv("DZ_ENV", "production")
    done = subprocess.run([DZHUB, "redirect", "serve", "--demo-keys", "--port", "1"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "--demo-keys refused" in done.stderr


def test_production_refuses_a_key_file_others_can_read(tmp_path, monkeypatch) -> None:
    path = _key_file(tmp_path, 0o644)
    monkeypatch.setenv("DZ_SM4_KEYS_FILE", str(path))
    monkeypatch.delenv("DZ_SM4_KEYS", raising=False)
    load_keyring(get_redirect_settings())  # development: accepted
    monkeypatch.setenv("DZ_ENV", "production")
    with pytest.raises(KeyConfigError, match="chmod 600"):
        load_keyring(get_redirect_settings())
    done = subprocess.run([DZHUB, "redirect", "serve", "--port", "1"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "others can read it" in done.stderr
    path.chmod(0o600)
    assert load_keyring(get_redirect_settings()).keys
