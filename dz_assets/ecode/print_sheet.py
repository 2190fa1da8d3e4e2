"""The print sheet beside a batch's zip (``qr_<YYYYMMDD>_print.pdf``): what sign makers work
from. A4 pages at 300 dpi, each code at its physical size (``DZ_QR_PRINT_MM``, default 40 mm)
with the address name under it, grouped by police station (a station starts a new page) and
ordered by address code within it.

The PDF is written here, page by page, rather than by Pillow's PDF plug-in: Pillow holds every
page in memory at a byte per pixel (8.7 MB per A4 page; a first-issue chunk of 10 000 codes is
625 pages), and its document dates come from the clock. Each page is one 1-bit image (black and
white, as printed), deflated; the document has fixed dates (the batch's day), so the same batch
gives the same bytes.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from itertools import groupby, repeat
from pathlib import Path

from PIL import Image, ImageDraw

from dz_assets.ecode.package import BatchAddress
from dz_assets.ecode.render import RenderedCode, _font, wrap

DPI = 300
A4_MM = (210.0, 297.0)
MARGIN_MM = 12.0
GAP_MM = 6.0
CAPTION_MM = 3.0  # caption glyph height: legible at arm's length
HEADER_MM = 10.0


def mm(v: float) -> int:
    return round(v * DPI / 25.4)


@dataclass(frozen=True)
class SheetLayout:
    code_mm: float = 40.0

    @property
    def page_px(self) -> tuple[int, int]:
        return mm(A4_MM[0]), mm(A4_MM[1])

    @property
    def code_px(self) -> int:
        return mm(self.code_mm)

    @property
    def font_px(self) -> int:
        return mm(CAPTION_MM)

    @property
    def cell(self) -> tuple[int, int]:
        line = int(self.font_px * 1.25)
        return self.code_px + mm(GAP_MM), self.code_px + 2 * line + mm(GAP_MM)

    @property
    def grid(self) -> tuple[int, int]:
        w, h = self.page_px
        cw, ch = self.cell
        cols = max(1, (w - 2 * mm(MARGIN_MM) + mm(GAP_MM)) // cw)
        rows = max(1, (h - 2 * mm(MARGIN_MM) - mm(HEADER_MM) + mm(GAP_MM)) // ch)
        return cols, rows


def _code_square(png: bytes, side: int) -> Image.Image:
    """The code of a rendered PNG (its top square: quiet zone included) at ``side`` pixels."""
    with Image.open(io.BytesIO(png)) as img:
        w = img.size[0]
        return img.crop((0, 0, w, w)).resize((side, side), Image.Resampling.NEAREST)


@dataclass(frozen=True)
class PageSpec:
    """One page to draw: its header and its codes (address and PNG), picklable for a worker."""

    header: str
    items: tuple[tuple[BatchAddress, bytes], ...]


def page_specs(rows: list[tuple[BatchAddress, RenderedCode]], title: str, layout: SheetLayout) -> list[PageSpec]:
    """The sheet's pages, one station after another, addresses in code order."""
    cols, nrows = layout.grid
    per_page = cols * nrows
    ordered = sorted(rows, key=lambda r: ((r[0].gajg or "").encode(), r[0].dzbm.encode()))
    specs = []
    for gajg, group in groupby(ordered, key=lambda r: r[0].gajg or ""):
        items = [(a, code.png) for a, code in group]
        station = items[0][0].gajgmc or ""
        npages = (len(items) + per_page - 1) // per_page
        for p in range(npages):
            specs.append(PageSpec(f"{title}　{station}（{gajg or '未注明派出所'}）　第 {p + 1}/{npages} 页",
                                  tuple(items[p * per_page:(p + 1) * per_page])))
    return specs


def draw_page(spec: PageSpec, font_path: Path, layout: SheetLayout) -> tuple[int, int, bytes]:
    """A page as (width, height, deflated 1-bit rows): what the PDF embeds."""
    font = _font(str(font_path), layout.font_px)
    cols, _ = layout.grid
    cw, ch = layout.cell
    x0 = y0 = mm(MARGIN_MM)
    page = Image.new("1", layout.page_px, 1)
    draw = ImageDraw.Draw(page)
    draw.fontmode = "1"
    draw.text((x0, y0), spec.header, font=_font(str(font_path), mm(4.0)), fill=0)
    for i, (a, png) in enumerate(spec.items):
        x = x0 + (i % cols) * cw
        y = y0 + mm(HEADER_MM) + (i // cols) * ch
        page.paste(_code_square(png, layout.code_px), (x, y))
        for j, line in enumerate(wrap(a.dzmc or a.dzbm, font, layout.code_px, lines=2)):
            draw.text((x + layout.code_px // 2, y + layout.code_px + j * int(layout.font_px * 1.25)),
                      line, font=font, fill=0, anchor="ma")
    # level 1: a mostly white page deflates nearly as well (~3 %) at a third of level 6's time
    return page.size[0], page.size[1], zlib.compress(page.tobytes(), 1)


def _pdf_date(d: date) -> str:
    return f"D:{d:%Y%m%d}000000+08'00'"


def write_pdf(path: Path, images: Iterable[tuple[int, int, bytes]], stamp: date, title: str) -> None:
    """A PDF of full-page 1-bit images at 300 dpi (width, height, deflated rows), streamed: one
    page in memory at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    offsets: list[int] = []
    page_ids: list[int] = []
    with part.open("wb") as out:
        def obj(num: int, body: bytes, stream: bytes | None = None) -> None:
            while len(offsets) < num:
                offsets.append(0)
            offsets[num - 1] = out.tell()
            out.write(f"{num} 0 obj\n".encode() + body)
            if stream is not None:
                out.write(b"\nstream\n" + stream + b"\nendstream")
            out.write(b"\nendobj\n")

        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        # objects 1 catalog, 2 pages, 3 info; then per page: page, content, image
        num = 4
        w_pt, h_pt = (round(v * 72 / 25.4, 2) for v in A4_MM)
        for w, h, data in images:
            page, content, image = num, num + 1, num + 2
            num += 3
            draw = f"q {w_pt} 0 0 {h_pt} 0 0 cm /Im0 Do Q".encode()
            obj(page, f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt} {h_pt}] /Contents {content} 0 R "
                      f"/Resources << /XObject << /Im0 {image} 0 R >> >> >>".encode())
            obj(content, f"<< /Length {len(draw)} >>".encode(), draw)
            obj(image, f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray "
                       f"/BitsPerComponent 1 /Filter /FlateDecode /Length {len(data)} >>".encode(), data)
            page_ids.append(page)
        kids = " ".join(f"{p} 0 R" for p in page_ids)
        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(2, f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode())
        title_hex = (b"\xfe\xff" + title.encode("utf-16-be")).hex().upper()
        obj(3, f"<< /Title <{title_hex}> /Producer (dz-hub) /CreationDate ({_pdf_date(stamp)}) "
               f"/ModDate ({_pdf_date(stamp)}) >>".encode())
        xref = out.tell()
        out.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
        for off in offsets:
            out.write(f"{off:010d} 00000 n \n".encode())
        out.write(f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R /Info 3 0 R >>\nstartxref\n{xref}\n%%EOF\n"
                  .encode())
    part.replace(path)


def write_print_sheet(path: Path, rows: list[tuple[BatchAddress, RenderedCode]], stamp: date, title: str,
                      font_path: Path, code_mm: float = 40.0,
                      pool_map: Callable[..., Iterable[tuple[int, int, bytes]]] | None = None) -> int:
    """Write the sheet; the number of pages (an empty batch: one page saying so). ``pool_map``
    (``map(fn, iterable, …)`` of a process pool) draws the pages on several cores, in order."""
    layout = SheetLayout(code_mm)
    specs = page_specs(rows, title, layout) or [PageSpec(f"{title}　本批次无地址", ())]
    mapper = pool_map or map
    write_pdf(path, mapper(draw_page, specs, repeat(font_path), repeat(layout)), stamp, title)
    return len(specs)
