"""``dzhub redirect``: keys only from configuration, --demo-keys says so, serve answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from dz_assets.cli import main
from redirect_api.server import free_port


def test_keygen_issue_decrypt_round_trip(monkeypatch):
    runner = CliRunner()
    out = runner.invoke(main, ["redirect", "keygen", "--ids", "1,5", "--json"])
    assert out.exit_code == 0, out.output
    keys = json.loads(out.stdout)
    assert keys["DZ_SM4_KEYS"].startswith("1:") and ",5:" in keys["DZ_SM4_KEYS"]
    monkeypatch.setenv("DZ_SM4_KEYS", keys["DZ_SM4_KEYS"])
    monkeypatch.setenv("DZ_SM4_MAC_KEY", keys["DZ_SM4_MAC_KEY"])
    for mode in ("gcm", "cbc"):
        monkeypatch.setenv("DZ_TOKEN_MODE", mode)
        token = runner.invoke(main, ["redirect", "token", "issue", "H7X", "--dzmc", "达州某地"]).stdout.strip()
        dec = runner.invoke(main, ["redirect", "token", "decrypt", token])
        assert dec.exit_code == 0, dec.output
        assert json.loads(dec.stdout)["dzmc"] == "达州某地"
    bad = runner.invoke(main, ["redirect", "token", "decrypt", "AQEAAAA"])
    assert bad.exit_code != 0 and "malformed" in bad.output


def test_serve_refuses_without_keys():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DZ_SM4")}
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "dzhub"), "redirect", "serve",
                          "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "no SM4 keys" in out.stderr and "--demo-keys" in out.stderr


def test_serve_with_demo_keys_says_so_and_answers(pg_dsn):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DZ_SM4")}
    env["DZ_PG_DSN"] = pg_dsn
    dzhub = os.path.join(os.path.dirname(sys.executable), "dzhub")
    proc = subprocess.Popen([dzhub, "redirect", "serve", "--port", str(port), "--demo-keys"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(150):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("dzhub redirect serve did not become ready")
        assert httpx.get(f"http://127.0.0.1:{port}/ecode/r/bad.code").status_code == 422
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "DEMO KEYS" in err


@pytest.mark.parametrize("variable", ["DZ_SM4_KEYS", "DZ_SM4_KEYS_FILE"])
def test_demo_keys_never_replace_configured_keys(tmp_path, variable):
    keys_file = tmp_path / "keys"
    keys_file.write_text("7:" + "ab" * 16 + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DZ_SM4")}
    env[variable] = str(keys_file) if variable == "DZ_SM4_KEYS_FILE" else "7:" + "ab" * 16
    dzhub = os.path.join(os.path.dirname(sys.executable), "dzhub")
    out = subprocess.run([dzhub, "redirect", "serve", "--port", str(free_port()), "--demo-keys"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0] and "--demo-keys" in lines[0], out.stderr
    assert "DEMO KEYS" not in out.stderr
    issued = subprocess.run([dzhub, "redirect", "token", "issue", "H7X", "--demo-keys"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert issued.returncode != 0 and variable in issued.stderr and issued.stdout == ""


def test_token_issue_with_demo_keys(monkeypatch):
    for name in ("DZ_SM4_KEYS", "DZ_SM4_KEYS_FILE", "DZ_SM4_MAC_KEY"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    out = runner.invoke(main, ["redirect", "token", "issue", "H7X", "--dzmc", "演示", "--demo-keys"])
    assert out.exit_code == 0, out.output
    assert "DEMO KEYS" in out.stderr
    # The keys it announces decrypt the token: a demo token can be checked end to end.
    announced = dict(pair.split("=", 1) for pair in out.stderr.split("DEMO KEYS: ")[-1].split())
    for name, value in announced.items():
        monkeypatch.setenv(name, value)
    dec = runner.invoke(main, ["redirect", "token", "decrypt", out.stdout.strip()])
    assert dec.exit_code == 0 and json.loads(dec.stdout)["dzmc"] == "演示"
