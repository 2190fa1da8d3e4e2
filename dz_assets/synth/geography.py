"""Dazhou's geography for the synthetic city: counties, towns (乡镇/街道), streets (街路巷),
buildings (门楼) and rooms (层户) with standard address codes (DZBM) and full names (DZMC).

Codes come from the catalogue's code tables (``GB/T 2260`` divisions, ``XZJD`` towns, ``GAJG``
police, ``GB/T 2659`` countries) where they are present; until the catalogue has them a small
built-in stand-in keeps the city generatable (codes then follow the same shapes).

Address code shapes (all ≤ 32 characters, unique by construction because the street and
building numbers are global):
  街路巷 ``<town9>J<street:07>``   门楼 ``<town9>M<building:09>``
  层户   ``<town9>H<building:09><unit:1><floor:02><room:02>``
"""

from __future__ import annotations

from dataclasses import dataclass

from dz_assets.catalog import in_dazhou, load_catalogue

from .rng import Streams, weighted_table

# Dazhou's seven county-level divisions (DESIGN.md) with rough shares of the registered population.
COUNTIES = {
    "511702": ("通川区", 0.10), "511703": ("达川区", 0.17), "511722": ("宣汉县", 0.19),
    "511723": ("开江县", 0.10), "511724": ("大竹县", 0.16), "511725": ("渠县", 0.19),
    "511781": ("万源市", 0.09),
}
PROVINCE, CITY = "四川省", "达州市"
BUILDINGS_PER_STREET = 12
BUILDINGS_PER_COMMUNITY = 4

_TOWN_STANDIN = ["东城街道", "西城街道", "朝阳街道", "南外镇", "北山镇", "复兴镇", "石桥镇", "金垭镇"]
_ROAD_STEMS = ["朝阳", "凤凰", "翠屏", "复兴", "民主", "人民", "建设", "解放", "新华", "滨河", "金龙",
               "红旗", "通川", "达巴", "荷叶", "白塔", "南坝", "西环", "北环", "长青", "来凤", "塔沱",
               "莲花", "金山", "华蓥", "龙泉", "永安", "明月", "铁山", "双龙", "州河", "胜利"]
_ROAD_SUFFIX = ["路", "街", "大道", "巷", "东路", "西路", "南路", "北路", "中路"]
_VILLAGE_STEMS = ["青龙", "白果", "石板", "桂花", "柏树", "双河", "高峰", "大石", "龙潭", "新桥",
                  "茶园", "马鞍", "水口", "狮子", "观音", "桃园", "松林", "碑坝", "团结", "红岩"]
_COMMUNITY_SUFFIX = ["小区", "花园", "家园", "苑", "名城", "雅居", "新城"]
_OTHER_DIVISIONS = ["510100", "500000", "440300", "330100", "110000", "320100", "420100"]
_COUNTRIES = ["USA", "GBR", "AUS", "CAN", "JPN", "DEU", "FRA", "NZL", "SGP", "KOR"]


@dataclass(frozen=True)
class Town:
    code: str  # 9 digits
    name: str
    county: str

    @property
    def urban(self) -> bool:
        return self.name.endswith("街道")


@dataclass(frozen=True)
class Street:
    index: int
    town: Town
    name: str
    gajg: str  # police station of the street's beat

    @property
    def county(self) -> str:
        return self.town.county

    @property
    def dzbm(self) -> str:
        return f"{self.town.code}J{self.index:07d}"

    @property
    def dzmc(self) -> str:
        return f"{PROVINCE}{CITY}{COUNTIES[self.county][0]}{self.town.name}{self.name}"


@dataclass(frozen=True)
class Building:
    index: int
    street: Street
    number: int  # house number on the street
    units: int
    floors: int
    per_floor: int
    zbx: str
    zby: str

    @property
    def dzbm(self) -> str:
        return f"{self.street.town.code}M{self.index:09d}"

    @property
    def dzmc(self) -> str:
        return f"{self.street.dzmc}{self.number}号"

    @property
    def community(self) -> int:
        return self.index // BUILDINGS_PER_COMMUNITY

    def rooms(self):
        """(unit, floor, room) of every 层户 in the building, in address order."""
        for u in range(1, self.units + 1):
            for f in range(1, self.floors + 1):
                for r in range(1, self.per_floor + 1):
                    yield u, f, r

    def room_dzbm(self, unit: int, floor: int, room: int) -> str:
        return f"{self.street.town.code}H{self.index:09d}{unit}{floor:02d}{room:02d}"

    def room_sh(self, floor: int, room: int) -> str:
        return f"{floor}{room:02d}"

    def room_dzmc(self, unit: int, floor: int, room: int) -> str:
        if not self.street.town.urban:
            return f"{self.dzmc}{floor}层"
        return f"{self.dzmc}{unit}单元{floor}层{floor}{room:02d}室"


class Geography:
    """The code tables the city draws from, with stand-ins where the catalogue lacks them."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.streams = Streams(seed)
        cat = load_catalogue()
        div = cat.code_tables.get("GB/T 2260")
        self.divisions = set(div.codes) if div else set(COUNTIES) | set(_OTHER_DIVISIONS)
        self.other_divisions = sorted(c for c in self.divisions if not in_dazhou(c)) or _OTHER_DIVISIONS
        self.county_table = weighted_table({c: w for c, (_, w) in COUNTIES.items()}, 1000)
        self.towns = _towns(cat)
        self.stations = _stations(cat)
        gj = cat.code_tables.get("GB/T 2659")
        self.countries = sorted(c for c in gj.codes if c != "CHN") if gj else _COUNTRIES
        self._street: Street | None = None

    def street(self, s: int) -> Street:
        if self._street is not None and self._street.index == s:
            return self._street
        rng = self.streams.get("street", s)
        county = rng.choice(self.county_table)
        town = rng.choice(self.towns[county])
        if town.urban:
            name = rng.choice(_ROAD_STEMS) + rng.choice(_ROAD_SUFFIX)
        else:
            name = f"{rng.choice(_VILLAGE_STEMS)}村{rng.randint(1, 12)}组"
        self._street = Street(s, town, name, rng.choice(self.stations[county]))
        return self._street

    def building(self, b: int) -> Building:
        street = self.street(b // BUILDINGS_PER_STREET)
        rng = self.streams.get("building", b)
        number = (b % BUILDINGS_PER_STREET) * 2 + 1
        lon, lat = _CENTRES[street.county]
        zbx = f"{lon + rng.uniform(-0.08, 0.08):.6f}"
        zby = f"{lat + rng.uniform(-0.08, 0.08):.6f}"
        if street.town.urban:
            return Building(b, street, number, rng.randint(1, 3), rng.randint(5, 18),
                            rng.randint(2, 4), zbx, zby)
        return Building(b, street, number, 1, rng.randint(1, 3), 1, zbx, zby)

    def community_name(self, q: int, street: Street) -> str:
        rng = self.streams.get("community", q)
        return street.name.rstrip("路街巷大道东西南北中") + rng.choice(_COMMUNITY_SUFFIX) + (
            "" if rng.random() < 0.7 else f"{rng.randint(2, 3)}期")

    def is_smart_community(self, q: int, street: Street) -> bool:
        return street.town.urban and self.streams.get("smart", q).random() < 0.55


_CENTRES = {  # rough county seats (lon, lat), for plausible coordinates only
    "511702": (107.50, 31.21), "511703": (107.51, 31.20), "511722": (107.73, 31.35),
    "511723": (107.87, 31.08), "511724": (107.20, 30.74), "511725": (106.97, 30.84),
    "511781": (108.03, 32.07),
}


def _towns(cat) -> dict[str, list[Town]]:
    out: dict[str, list[Town]] = {c: [] for c in COUNTIES}
    xz = cat.code_tables.get("XZJD")
    if xz:
        for code in sorted(xz.codes):
            county = xz.parents.get(code) or code[:6]
            if county in out and len(code) == 9:
                out[county].append(Town(code, xz.codes[code], county))
    for county, towns in out.items():
        if not towns:
            towns.extend(Town(f"{county}{i + 1:03d}", n, county) for i, n in enumerate(_TOWN_STANDIN))
    return out


def _stations(cat) -> dict[str, list[str]]:
    # The catalogue knows which GAJG codes are 派出所 (children of a county 分局/公安局); a bare
    # "has a parent" test would also take the county bureaus, whose parent is the city bureau.
    out: dict[str, list[str]] = {c: [] for c in COUNTIES}
    if "GAJG" in cat.code_tables:
        for county in out:
            out[county] = sorted(cat.police_stations(county))
    for county, codes in out.items():
        if not codes:
            codes.extend(f"{county}5{i:02d}000" for i in range(1, 6))
    return out
