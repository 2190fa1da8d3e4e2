"""The QR rendering without services: a CJK caption (the test fails when the font is missing),
byte-stable PNGs that decode to their URL, the manifest's bytes, the print sheet's pages."""

from __future__ import annotations

import io
import zlib
from datetime import date

import pytest
from PIL import Image, ImageFont

from dz_assets.ecode.package import BatchAddress, manifest_bytes
from dz_assets.ecode.print_sheet import SheetLayout, draw_page, page_specs, write_pdf
from dz_assets.ecode.render import CodeMismatch, FontMissing, Renderer, decode, find_font, wrap

URL = "https://ema.example.invalid/a?c={dzbm}"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(URL, find_font(None), 10)  # fails here, not skips, when the CJK font is missing


def test_the_cjk_font_draws_chinese_glyphs():
    font = ImageFont.truetype(str(find_font(None)), 24)
    glyphs = [bytes(font.getmask(ch)) for ch in "达州通川"]
    assert all(any(g) for g in glyphs) and len(set(glyphs)) == 4  # not four identical "missing" boxes


def test_a_missing_font_is_named(tmp_path):
    with pytest.raises(FontMissing, match="fonts-wqy-microhei"):
        find_font(tmp_path / "nothing.ttc")


def test_png_is_captioned_stable_and_decodes(renderer):
    code = renderer.render("511702000001ML", "四川省达州市通川区朝阳东路1号")
    again = renderer.render("511702000001ML", "四川省达州市通川区朝阳东路1号")
    assert code.png == again.png and code.png.startswith(b"\x89PNG")
    assert decode(code.png) == ["https://ema.example.invalid/a?c=511702000001ML"]
    with Image.open(io.BytesIO(code.png)) as img:
        w, h = img.size
        caption = img.crop((0, w, w, h)).convert("L")
        assert h > w and caption.getextrema()[0] == 0  # ink under the code: the caption
        assert img.getpixel((0, 0)) == 255 and img.getpixel((39, 39)) == 255  # 4-module quiet zone at 10 px


def test_a_long_name_wraps_into_three_lines_with_an_ellipsis(renderer):
    font = ImageFont.truetype(str(renderer.font_path), 24)
    lines = wrap("达州市" * 40, font, 300)
    assert len(lines) == 3 and lines[-1].endswith("…") and all(font.getlength(x) <= 300 for x in lines)


def test_mismatch_survives_a_process_boundary():
    import pickle

    err = pickle.loads(pickle.dumps(CodeMismatch("X1", "u", None)))
    assert err.dzbm == "X1" and "X1" in str(err)


def test_manifest_bytes_follow_rfc_4180(renderer):
    a = BatchAddress("B2", '名称,"引号"', "511702", "511702510000", "changed")
    code = renderer.render(a.dzbm, a.dzmc)
    text = manifest_bytes([(a, code)])
    assert text == ("\ufeffdzbm,dzmc,xzqh,gajg,change,file,sha256\r\n"
                    f'B2,"名称,""引号""",511702,511702510000,changed,B2.png,{code.sha256}\r\n').encode()


def test_print_sheet_is_a4_at_300_dpi_grouped_by_station(renderer, tmp_path):
    rows = [(BatchAddress(f"C{i:02d}", f"达州市通川区{i}号", "511702", g, "new", "派出所"),
             renderer.render(f"C{i:02d}", f"达州市通川区{i}号")) for i, g in enumerate(["S1"] * 21 + ["S2"] * 2)]
    layout = SheetLayout(40.0)
    specs = page_specs(rows, "t", layout)
    assert layout.grid == (4, 5) and [len(s.items) for s in specs] == [20, 1, 2]
    w, h, data = draw_page(specs[0], renderer.font_path, layout)
    assert (w, h) == (2480, 3508) and layout.code_px == 472  # 40 mm at 300 dpi
    page = Image.frombytes("1", (w, h), zlib.decompress(data))
    assert decode(_png(page.crop((142, 260, 142 + 472, 260 + 472)))) == [URL.format(dzbm="C00")]
    out1, out2 = tmp_path / "a.pdf", tmp_path / "b.pdf"
    for out in (out1, out2):
        write_pdf(out, (draw_page(s, renderer.font_path, layout) for s in specs), date(2026, 12, 8), "t")
    assert out1.read_bytes() == out2.read_bytes() and b"/Count 3" in out1.read_bytes()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
