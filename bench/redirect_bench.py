"""Benchmark of ``GET /ecode/r/{dzbm}`` beside a bare FastAPI 302, measured in the same run.

1. A bench database (``dzhub_bench_redirect`` on the configured server) gets a registry of
   ``--addresses`` standard addresses (default 1 000 000: 60 % 门楼, 40 % 层户; 90 % active
   Dazhou, the rest outside, disabled or cancelled), written with COPY. Reused when present.
2. Two servers run one after the other under the same uvicorn settings
   (``redirect_api.server.uvicorn_settings``: the guarded h11 protocol, one worker each): the bare app (a fixed 302) and
   the redirect service (rate limit OFF for the run, access log ON as in production, to
   /dev/null). Both run at once; the idle one costs nothing.
3. ``wrk`` (Debian package) drives ``--connections`` connections at random codes of the whole
   registry, after a warm-up, in ``--rounds`` rounds alternating between the two servers (the
   machine is shared: alternating spreads passing load over both); RPS (mean of rounds), p50
   and p99 (median of rounds) are printed for both, and the ratio. ``non-2xx/3xx`` on the
   service side are the 404/410 answers for the ~10 % of codes that are outside, disabled or
   cancelled: expected.

Run: ``.venv/bin/python bench/redirect_bench.py`` (``--addresses 20000 --seconds 5`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dz_assets.db import resolve_dsn, with_database  # noqa: E402
from dz_assets.db.init import init_database  # noqa: E402

DAZHOU = ["511702", "511703", "511722", "511723", "511724", "511725", "511781"]
BENCH_DB = "dzhub_bench_redirect"
# One wrk thread: on 2 shared cores a second load thread only steals CPU from the server.
WRK_THREADS = 1
LUA = """
local codes = {}
for line in io.lines(os.getenv("BENCH_CODES")) do codes[#codes + 1] = line end
math.randomseed(os.time() + (os.clock() * 1e6))
request = function()
  return wrk.format("GET", os.getenv("BENCH_PREFIX") .. codes[math.random(#codes)])
end
"""


def bare_app():
    """The baseline: FastAPI answering every code with the same 302, no lookup, no token."""
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    app = FastAPI()

    @app.get("/bare/r/{dzbm}")
    async def bare(dzbm: str):
        return RedirectResponse("/doorplate?d=fixed", 302)

    return app


def serve(kind: str, port: int) -> None:
    import uvicorn

    from dz_assets.settings import get_redirect_settings
    from redirect_api.server import uvicorn_settings

    if kind == "bare":
        app = bare_app()
    else:
        from redirect_api.app import create_app

        app = create_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_settings(get_redirect_settings()))


def code_of(i: int) -> str:
    return f"BZ{i:010d}"


def build_registry(dsn: str, n: int) -> float:
    """COPY ``n`` addresses into the ODS standard-address tables; returns seconds (0 when reused)."""
    with psycopg.connect(dsn) as conn:
        have = conn.execute("select (select count(*) from ods.ybss_bzdzmlxx) + "
                            "(select count(*) from ods.ybss_bzdzchxx)").fetchone()[0]
        if have == n:
            return 0.0
        conn.execute("truncate ods.ybss_bzdzmlxx, ods.ybss_bzdzchxx")
        gajg = [r[0] for r in conn.execute("select code from meta.code_table where dict = 'GAJG'")] or ["511702010000"]
        rng = random.Random(7)
        start = time.perf_counter()
        split = int(n * 0.6)
        for table, lo, hi in (("ybss_bzdzmlxx", 0, split), ("ybss_bzdzchxx", split, n)):
            with conn.cursor().copy(f"copy ods.{table} (dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm) from stdin") as cp:
                for i in range(lo, hi):
                    r = rng.random()
                    xzqh = "510104" if r > 0.97 else rng.choice(DAZHOU)
                    status = "2" if 0.93 < r <= 0.95 else "3" if 0.95 < r <= 0.97 else "1"
                    cp.write_row((code_of(i), f"四川省达州市某某街道{i % 997}号{i % 31}栋{i % 7}单元{i % 30}室",
                                  xzqh, rng.choice(gajg), status))
        conn.execute("analyze ods.ybss_bzdzmlxx")
        conn.execute("analyze ods.ybss_bzdzchxx")
        conn.commit()
        return time.perf_counter() - start


def parse_wrk(text: str) -> dict:
    def ms(value: str) -> float:
        num, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
        return float(num) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    out = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    for pct in ("50", "99"):
        out[f"p{pct}_ms"] = ms(re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx_3xx"] = int(errors.group(1)) if errors else 0
    sock = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = sock.group(1).strip() if sock else ""
    return out


def start_server(kind: str, env: dict) -> tuple[subprocess.Popen, str]:
    import httpx

    port = 18000 + random.randint(0, 999)
    server = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(url + "/healthz", timeout=1)
            return server, url
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError(f"{kind} server did not start")


def run_wrk(url: str, prefix: str, codes_file: Path, connections: int, seconds: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA)
    env = {**os.environ, "BENCH_CODES": str(codes_file), "BENCH_PREFIX": prefix}
    out = subprocess.run(["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "-s", f.name,
                          "--latency", url], env=env, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def summarise(rounds: list[dict]) -> dict:
    """RPS: mean over rounds; p50/p99: median over rounds (each round's own percentiles)."""
    import statistics

    return {"rps": round(statistics.mean(r["rps"] for r in rounds), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in rounds), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in rounds), 2),
            "non_2xx_3xx": sum(r["non_2xx_3xx"] for r in rounds),
            "rounds": rounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addresses", type=int, default=1_000_000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=40, help="per server, split over --rounds")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--serve", choices=["bare", "redirect"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve, args.port)
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")

    dsn = with_database(resolve_dsn().dsn, BENCH_DB)
    init_database(dsn)
    load_s = build_registry(dsn, args.addresses)
    print(f"registry: {args.addresses} addresses in {BENCH_DB}"
          + (f", COPY {load_s:.1f} s ({args.addresses / load_s:,.0f} rows/s)" if load_s else " (reused)"),
          file=sys.stderr)

    codes_file = Path(tempfile.mkdtemp()) / "codes.txt"
    codes_file.write_text("\n".join(code_of(i) for i in range(args.addresses)) + "\n")
    from redirect_api.keys import generate_keys

    keys, mac = generate_keys()
    env = {**os.environ, "DZ_PG_DSN": dsn, "DZ_SM4_KEYS": keys, "DZ_SM4_MAC_KEY": mac,
           "DZ_REDIRECT_RATE_LIMIT": "0", "DZ_REDIRECT_ACCESS_LOG": "1"}
    print("per-client rate limit: OFF for this run (DZ_REDIRECT_RATE_LIMIT=0); access log ON; "
          f"{args.connections} connections, {args.seconds} s each in {args.rounds} alternating rounds, "
          f"wrk -t{WRK_THREADS}, uvicorn 1 worker each",
          file=sys.stderr)
    # Both servers up at once, measured in alternating rounds: the machine is shared, and load
    # that comes and goes then hits both sides alike instead of whichever ran second.
    servers = {kind: start_server(kind, env) for kind in ("bare", "redirect")}
    prefixes = {"bare": "/bare/r/", "redirect": "/ecode/r/"}
    rounds: dict[str, list] = {"bare": [], "redirect": []}
    try:
        for kind, (_, url) in servers.items():  # warm-up: connections, prepared statements, JIT-free paths
            run_wrk(url, prefixes[kind], codes_file, args.connections, 3)
        per_round = max(2, args.seconds // args.rounds)
        for _ in range(args.rounds):
            for kind, (_, url) in servers.items():
                rounds[kind].append(run_wrk(url, prefixes[kind], codes_file, args.connections, per_round))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
    results = {"bare_302": summarise(rounds["bare"]), "ecode_redirect": summarise(rounds["redirect"])}
    bare, red = results["bare_302"], results["ecode_redirect"]
    results["rps_ratio"] = round(red["rps"] / bare["rps"], 3)
    results["goal_met"] = results["rps_ratio"] >= 0.70 and red["p99_ms"] <= 50
    for name, r in (("bare FastAPI 302", bare), ("GET /ecode/r/{dzbm}", red)):
        print(f"{name:22s} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
              f"  non-2xx/3xx {r['non_2xx_3xx']}")
    print(f"ratio {results['rps_ratio']:.1%} (goal ≥ 70 %), p99 goal ≤ 50 ms: "
          f"{'met' if results['goal_met'] else 'NOT met'}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
