"""The synthetic city as the other units' systems see it, for the example sources in ``sources/``:
智慧小区 access records in a MariaDB table, 川e医 visit records behind an HTTP JSON API, and a
county's Excel sheet of residents. Every record is derived from the city's persons (same ID
numbers, names and addresses), so fusion finds them; a few records carry the defects the rules
catch (a bad ID number, an unknown code, an unparsable date).
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from dz_assets.synth.city import iter_rows

DIRECTIONS = ("进", "出")
HOSPITALS = ("达州市中心医院", "达州市中西医结合医院", "宣汉县人民医院", "渠县人民医院", "大竹县人民医院")


@dataclass(frozen=True)
class CityPerson:
    gmsfhm: str
    xm: str
    dzbm: str
    dzmc: str
    county: str


def city_persons(persons: int, seed: int) -> list[CityPerson]:
    return [CityPerson(r["GMSFHM"], r["XM"], r["HJDZ_DZBM"], r["HJDZ_DZMC"], r["HJDZ_XZQHDM"])
            for r in iter_rows("HZ_HJRKJBXX", persons, seed)]


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"


def access_records(persons: int, seed: int, per_person: int = 2,
                   start: datetime = datetime(2026, 12, 1, 7, 0)) -> Iterator[dict]:
    """智慧小区人员进出记录: one row per passage (jlbh), about ``per_person`` per person."""
    rng = random.Random(f"access:{seed}")
    n = 0
    for p in city_persons(persons, seed):
        for _ in range(per_person):
            n += 1
            at = start + timedelta(minutes=rng.randrange(60 * 24 * 5))
            sfzh = p.gmsfhm if n % 97 else p.gmsfhm[:10]  # now and then a truncated number
            yield {"jlbh": f"MJ{n:010d}", "xqbm": f"XQ{p.dzbm[:12]}", "sfzh": sfzh, "xm": p.xm,
                   "crfx": DIRECTIONS[rng.randrange(2)], "crsj": at, "gxsj": at + timedelta(seconds=30)}


def health_records(persons: int, seed: int, share: float = 0.4) -> list[dict]:
    """川e医就诊登记: about ``share`` of the persons, one record each, as the API returns them."""
    rng = random.Random(f"health:{seed}")
    out = []
    for i, p in enumerate(city_persons(persons, seed)):
        if rng.random() >= share:
            continue
        day = datetime(2026, 11, 1) + timedelta(days=rng.randrange(30), minutes=rng.randrange(600))
        out.append({"jzbh": f"CEY{i:08d}", "sfzh": p.gmsfhm.lower() if i % 5 == 0 else p.gmsfhm, "xm": p.xm,
                    "lxdh": _phone(rng), "jzyy": HOSPITALS[rng.randrange(len(HOSPITALS))],
                    "jzrq": day.strftime("%Y-%m-%d") if i % 53 else "2026-02-30",
                    "gxsj": day.strftime("%Y-%m-%d %H:%M:%S")})
    return out


def county_sheet(path: Path, persons: int, seed: int, county: str = "511722") -> int:
    """A county's resident sheet (xlsx, header row in Chinese): one row per person of the county."""
    from openpyxl import Workbook

    rng = random.Random(f"sheet:{seed}")
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("实有人口")
    ws.append(["登记编号", "公民身份号码", "姓名", "联系电话", "地址编码", "居住地址", "人员类别", "登记日期"])
    n = 0
    for p in city_persons(persons, seed):
        if p.county != county:
            continue
        n += 1
        kind = ("户籍人口", "流动人口", "境外人员")[rng.randrange(3) if n % 41 else 2] if n % 67 else "其他"
        ws.append([f"{county}-{n:06d}", p.gmsfhm, p.xm, _phone(rng), p.dzbm, p.dzmc, kind,
                   datetime(2026, 10, 1) + timedelta(days=rng.randrange(60))])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return n


class RecordsApi:
    """川e医's API on loopback: ``GET /api/jzdj?page=N&size=M`` → ``{"data": {"items": […]}}``."""

    def __init__(self, records: list[dict], host: str = "127.0.0.1", port: int = 0) -> None:
        api = self
        self.records = records

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                page, size = int(q.get("page", 1)), int(q.get("size", 100))
                items = api.records[(page - 1) * size: page * size]
                body = json.dumps({"code": 0, "data": {"page": page, "items": items}}, ensure_ascii=False)
                data = body.encode("utf-8")
                self.send_response(200 if parts.path == "/api/jzdj" else 404)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/api/jzdj"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def load_access_table(mysql_url: str, persons: int, seed: int, table: str = "zhxq_mjjl") -> int:
    """The 智慧小区 access records in a MariaDB/MySQL table (dropped and made again); rows written."""
    import pymysql

    rest = mysql_url.split("://", 1)[1]
    cred, _, hostpart = rest.rpartition("@")
    user, _, password = cred.partition(":")
    hostport, _, db = hostpart.partition("/")
    host, _, port = hostport.partition(":")
    conn = pymysql.connect(host=host, port=int(port or 3306), user=user, password=password,
                           database=db or None, autocommit=True, charset="utf8mb4")
    try:
        cur = conn.cursor()
        cur.execute(f"drop table if exists {table}")
        cur.execute(f"create table {table} (jlbh varchar(20) primary key, xqbm varchar(20), sfzh varchar(20), "
                    "xm varchar(20), crfx varchar(4), crsj datetime, gxsj datetime) character set utf8mb4")
        rows = [(r["jlbh"], r["xqbm"], r["sfzh"], r["xm"], r["crfx"], r["crsj"], r["gxsj"])
                for r in access_records(persons, seed)]
        cur.executemany(f"insert into {table} values (%s, %s, %s, %s, %s, %s, %s)", rows)
        return len(rows)
    finally:
        conn.close()
