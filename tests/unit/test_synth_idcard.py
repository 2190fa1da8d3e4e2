"""GB 11643 ID numbers: the check digit, and a validator that rejects what is not a number."""

from __future__ import annotations

from datetime import date

import pytest

from dz_assets.catalog.idcard import check_digit, id_problem, is_valid_id, make_id


def test_check_digit_known_values():
    # the standard's worked example and a number ending in X
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"


def test_make_id_is_valid_and_parity_follows_sex():
    for sex in ("1", "2"):
        for seq in (0, 1, 498, 999):
            n = make_id("511702", date(1990, 1, 1), seq, sex)
            assert is_valid_id(n, regions={"511702"})
            assert int(n[16]) % 2 == (1 if sex == "1" else 0)


@pytest.mark.parametrize("bad, reason", [
    ("11010519491231002" + "1", "checkdigit"),
    ("1101051949123100", "pattern"),
    ("11010519491231002Y", "pattern"),
])
def test_rejects_pattern_and_check_digit(bad, reason):
    assert id_problem(bad) == reason
    assert not is_valid_id(bad)


def test_rejects_impossible_dates_and_unknown_regions():
    feb30 = "99010119900230001"
    assert id_problem(feb30 + check_digit(feb30)) == "birth"
    future = "51170220990101001"
    assert id_problem(future + check_digit(future), today=date(2026, 11, 20)) == "birth"
    region = "99010119900101001"
    n = region + check_digit(region)
    assert id_problem(n) is None
    assert id_problem(n, regions={"511702", "510000"}) == "region"
    assert id_problem(make_id("511702", "19900101", 5), regions={"511702"}) is None


def test_vectorised_quality_flag_agrees_with_the_scalar_check():
    """province/quality.py's polars form of the check digit must judge as dz_assets.catalog.idcard does."""
    import random

    import polars as pl

    from dz_assets.province.reader.quality import _idcard_rules

    rng = random.Random(11643)
    ids = []
    for _ in range(2000):
        first17 = f"{rng.choice(['511702', '510104', '110101'])}{rng.randint(1950, 2020)}0101{rng.randint(0, 999):03d}"
        good = check_digit(first17)
        ids.append(first17 + (good if rng.random() < 0.7 else rng.choice("0123456789X")))
    frame = pl.DataFrame({"GMSFHM": ids})
    rule = next(r for r in _idcard_rules("GMSFHM", "20261120") if r.flag == "id_checkdigit")
    flagged = frame.select(rule.expr).to_series().to_list()
    assert flagged == [check_digit(i[:17]) != i[17] for i in ids]
