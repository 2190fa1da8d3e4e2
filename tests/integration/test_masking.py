"""The masking functions of the masked views (migration 0010_access), value by value."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize(("fn", "value", "masked"), [
    ("mask_idcard", "511702199001011234", "5117**********1234"),
    ("mask_idcard", "51170219900101123X", "5117**********123X"),
    ("mask_idcard", "511702900101123", "5117*******1123"),
    ("mask_name", "张三", "张*"),
    ("mask_name", "欧阳娜娜", "欧阳**"),
    ("mask_name", "司马光", "司马*"),
    ("mask_name", "李", "李*"),
    ("mask_phone", "13812341234", "138****1234"),
    ("mask_address_detail", "四川省达州市通川区西城街道凤凰路12号3栋2单元301室", "四川省达州市通川区西城街道凤凰路***"),
    ("mask_address_detail", "达州市达川区三里坪街道翠屏大道8号", "达州市达川区三里坪街道翠屏大道***"),
    ("mask_address_detail", "通川区东城街道", "***"),
    ("mask_free_text", "户主511702199001011234，电话13812341234", "户主5117**********1234，电话138****1234"),
])
def test_masking_rules(db, fn, value, masked):
    assert db.execute(f"select meta.{fn}(%s)", (value,)).fetchone()[0] == masked


def test_masking_inside_json(db):
    evidence = {"rule": "YJ03", "xm": "欧阳娜娜", "persons": [{"gmsfhm": "511702199001011234", "fzxm": "张三"}],
                "note": "见 511702199001011234", "lxdh": "13812341234", "n": 511702199001011234,
                "jzdz_dzmc": "通川区西城街道凤凰路12号", "count": 3}
    got = db.execute("select meta.mask_json(%s::jsonb)", (json.dumps(evidence, ensure_ascii=False),)).fetchone()[0]
    assert got == {"rule": "YJ03", "xm": "欧阳**", "persons": [{"gmsfhm": "5117**********1234", "fzxm": "张*"}],
                   "note": "见 5117**********1234", "lxdh": "138****1234", "n": "5117**********1234",
                   "jzdz_dzmc": "通川区西城街道凤凰路***", "count": 3}
