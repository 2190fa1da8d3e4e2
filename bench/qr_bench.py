"""QR benchmark: dz-hub's captioned, verified codes beside bare segno PNGs, measured in the same run.

    .venv/bin/python bench/qr_bench.py [--codes 2000] [--scale 10]

No database: the codes are rendered from synthetic address codes and names. One run measures

1. baseline: bare segno, ``segno.make_qr(url, error="m").save(png, scale=S)``, one core, with
   segno's own mask choice (dz-hub replaces it by dz_assets/ecode/mask.py, which gives the same
   codes; the same loop with it is printed too);
2. dz-hub's ``Renderer.render`` (segno + Pillow layout + CJK caption + 1-bit PNG + zxing-cpp
   decode and compare), one core, at the same module size;
3. the same over both cores (``RenderPool``, two spawned processes, start-up included);
4. the delivery: the zip (in the parent) and the print sheet (pages drawn on both cores);

and extrapolates the 1M-address first issue on 2 cores: codes at (3)'s rate plus (4) per code.

Goals (issue 22): (2) ≥ 50 % of (1) per core; the 1M first issue ≤ 75 min on 2 cores.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import segno

from dz_assets.ecode import mask
from dz_assets.ecode.package import BatchAddress, write_zip
from dz_assets.ecode.print_sheet import write_print_sheet
from dz_assets.ecode.render import Renderer, find_font
from dz_assets.ecode.workers import RenderPool

TEMPLATE = "https://ema.example.invalid/a?c={dzbm}"
STREETS = ("朝阳东路", "凤凰大道", "通川北路", "西外大道", "南外镇翠屏路", "东乡镇解放街")


def addresses(n: int) -> list[BatchAddress]:
    out = []
    for i in range(n):
        county = ("511702", "511703", "511722", "511725")[i % 4]
        dzbm = f"{county}{i:012d}ML"
        name = f"四川省达州市通川区{STREETS[i % len(STREETS)]}{i % 300 + 1}号{i % 6 + 1}单元{i % 30 + 101}室"
        out.append(BatchAddress(dzbm, name, county, f"{county}5{i % 8:02d}000", "new", f"派出所{i % 8}"))
    return out


def bare_segno(items: list[BatchAddress], scale: int) -> float:
    t = time.perf_counter()
    for a in items:
        buf = io.BytesIO()
        segno.make_qr(TEMPLATE.replace("{dzbm}", a.dzbm), error="m").save(buf, kind="png", scale=scale)
    return len(items) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--codes", type=int, default=2000)
    ap.add_argument("--scale", type=int, default=10)
    args = ap.parse_args()
    items = addresses(args.codes)
    rend = Renderer(TEMPLATE, find_font(None), args.scale)
    rend.render(items[0].dzbm, items[0].dzmc)  # fonts loaded, caches warm
    pairs = [(a.dzbm, a.dzmc) for a in items]

    mask.uninstall()
    base = bare_segno(items, args.scale)  # segno exactly as it ships
    mask.install()
    base_fast = bare_segno(items, args.scale)
    t = time.perf_counter()
    codes = [rend.render(d, m) for d, m in pairs]
    one = len(items) / (time.perf_counter() - t)
    t = time.perf_counter()
    rows = list(zip(items, codes, strict=True))
    with RenderPool(rend, 2) as pool, tempfile.TemporaryDirectory() as tmp:
        both_codes = list(pool.render(pairs))
        both = len(items) / (time.perf_counter() - t)
        assert [c.png for c in both_codes] == [c.png for c in codes]  # the process count changes no byte
        t = time.perf_counter()
        write_zip(Path(tmp) / "b.zip", rows, date(2026, 12, 7))
        zip_s = time.perf_counter() - t
        t = time.perf_counter()
        pages = write_print_sheet(Path(tmp) / "b.pdf", rows, date(2026, 12, 7), "bench", rend.font_path,
                                  pool_map=pool.map)
        pdf_s = time.perf_counter() - t
        zip_mb = (Path(tmp) / "b.zip").stat().st_size / 1e6

    serial_per_code = (zip_s + pdf_s) / len(items)
    first_issue_min = 1_000_000 * (1 / both + serial_per_code) / 60
    codes_only_min = 1_000_000 * (1 / both + zip_s / len(items)) / 60
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.codes} codes, scale {args.scale}")
    print(f"baseline  bare segno PNG, 1 core             {base:8.1f} codes/s")
    print(f"          the same, dz-hub's mask chooser    {base_fast:8.1f} codes/s  (same codes)")
    print(f"dz-hub    captioned + verified, 1 core       {one:8.1f} codes/s  ({one / base:.0%} of baseline; goal ≥ 50 %)")
    print(f"dz-hub    captioned + verified, 2 processes  {both:8.1f} codes/s  ({both / one:.2f}x one core)")
    print(f"delivery  zip {zip_s * 1000 / len(items):.2f} ms/code ({zip_mb:.1f} MB), print sheet "
          f"{pdf_s * 1000 / len(items):.2f} ms/code ({pages} pages, drawn on 2 processes)")
    print(f"first issue 1M addresses, 2 cores (extrapolated): {first_issue_min:.0f} min with print sheets, "
          f"{codes_only_min:.0f} min zips alone (goal ≤ 75)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
