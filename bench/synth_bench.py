"""Synthetic city benchmark: a FULL package of 1M persons, beside a baseline of 200k (×5 less),
each in its own process so that peak memory (max RSS) is measured per size. Memory must stay
flat as the city grows ×5 (rows stream to disk); rows/s is the generator's speed.

    .venv/bin/python bench/synth_bench.py                 # 200k and 1M persons
    .venv/bin/python bench/synth_bench.py --sizes 20000,100000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(persons: int, seed: int, out: Path) -> None:
    from dz_assets.synth import write_package

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    info = write_package(out, persons=persons, seed=seed, progress=progress)
    seconds = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime  # the machine is shared: CPU seconds show the single-core speed
    print(json.dumps({
        "persons": persons, "rows": info.rows, "seconds": round(seconds, 2),
        "rows_per_s": round(info.rows / seconds), "cpu_s": round(cpu, 2),
        "rows_per_cpu_s": round(info.rows / cpu), "zip_mb": round(info.zip_path.stat().st_size / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200000,1000000", help="persons per run, comma-separated")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.seed, args.out)
        return
    results = []
    for persons in (int(s) for s in args.sizes.split(",")):
        out = Path(tempfile.mkdtemp(prefix="synth_bench_"))
        try:  # one process per size: ru_maxrss is a high-water mark of the whole process
            proc = subprocess.run([sys.executable, __file__, "--child", str(persons), "--seed", str(args.seed),
                                   "--out", str(out)], check=True, stdout=subprocess.PIPE, text=True)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"{'persons':>10} {'rows':>11} {'seconds':>8} {'rows/s':>9} {'CPU s':>8} {'rows/CPU s':>11} "
          f"{'zip MB':>8} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['persons']:>10} {r['rows']:>11} {r['seconds']:>8} {r['rows_per_s']:>9} {r['cpu_s']:>8} "
              f"{r['rows_per_cpu_s']:>11} {r['zip_mb']:>8} {r['peak_rss_mb']:>12}")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(f"scale ×{b['persons'] / a['persons']:.0f}: rows ×{b['rows'] / a['rows']:.2f}, "
              f"peak RSS ×{b['peak_rss_mb'] / a['peak_rss_mb']:.2f} (flat ≈ 1.0)")
        print(f"estimate for 5.5M persons: {5_500_000 / b['persons'] * b['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
