"""One address's QR code as a captioned PNG, and its verification by an independent decoder.

segno encodes (error correction M, which segno raises to a higher level when the same version
holds it; a quiet zone of 4 modules); Pillow lays the modules out and prints the address name
under the code in a CJK font; the PNG is then decoded again by zxing-cpp, a decoder that shares
no code with segno, and compared with the URL it should hold. A code that does not decode to its
URL is never delivered.

The PNG is 1 bit per pixel: black and white is what sign makers print, it is a fifth of the size
of a grey one (a million codes: ~1.3 GB instead of ~4.7 GB), and its zlib pass is twice as fast.
The same inputs give the same bytes (no timestamps in PNG, one segno and Pillow version).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import segno
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

from dz_assets.ecode import mask

# segno's own mask choice in pure Python was ~75 % of a code's encoding time; the numpy one
# gives the same codes (dz_assets/ecode/mask.py). Installed on import, so the render workers
# (spawned processes importing this module) have it too.
mask.install()

QUIET_ZONE = 4  # modules of white around the code: the minimum ISO/IEC 18004 asks for
ERROR_LEVEL = "m"
# Debian's fonts-wqy-microhei (scripts/services.sh installs it): a CJK font under a free licence.
SYSTEM_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc"),
)
CAPTION_LINES = 3  # a longer name is shortened with "…": 3 lines hold ~45 characters at scale 10


class FontMissing(RuntimeError):
    """No CJK font: a caption would print empty boxes, so nothing is rendered."""


class CodeMismatch(RuntimeError):
    """A rendered code did not decode to its URL (names the address)."""

    def __init__(self, dzbm: str, url: str, decoded: str | None) -> None:
        super().__init__(f"QR code of {dzbm} decodes to {decoded!r}, not {url!r}: batch not delivered")
        self.dzbm, self.url, self.decoded = dzbm, url, decoded

    def __reduce__(self):  # raised in a worker process, re-raised in the parent
        return (CodeMismatch, (self.dzbm, self.url, self.decoded))


def find_font(configured: Path | None = None) -> Path:
    candidates = (configured,) if configured else SYSTEM_FONTS
    for path in candidates:
        if path is not None and path.is_file():
            return path
    raise FontMissing(
        f"CJK caption font not found ({', '.join(str(p) for p in candidates if p)}): install Debian's "
        "fonts-wqy-microhei (scripts/services.sh does) or set DZ_QR_FONT")


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def code_url(template: str, dzbm: str) -> str:
    return template.replace("{dzbm}", dzbm)


def modules(url: str) -> np.ndarray:
    """The code's modules (1 = dark) with its quiet zone, as a square uint8 array."""
    qr = segno.make_qr(url, error=ERROR_LEVEL)
    n = len(qr.matrix)
    m = np.frombuffer(b"".join(qr.matrix), dtype=np.uint8).reshape(n, n)
    return np.pad(m, QUIET_ZONE)


def code_image(url: str, side_px: int | None = None, scale: int = 10) -> Image.Image:
    """The code alone in mode ``1``: ``scale`` pixels per module, or resized to ``side_px``."""
    m = modules(url)
    img = Image.fromarray(np.where(m, 0, 255).astype(np.uint8), "L")
    side = side_px or m.shape[0] * scale
    return img.resize((side, side), Image.Resampling.NEAREST).convert("1", dither=Image.Dither.NONE)


_advances: dict[tuple[int, str], float] = {}


def _advance(font: ImageFont.FreeTypeFont, ch: str) -> float:
    """A character's advance, cached: measuring each candidate line anew (``getlength(line +
    ch)``) was quadratic and took most of a print page's time."""
    key = (id(font), ch)
    width = _advances.get(key)
    if width is None:
        width = _advances[key] = font.getlength(ch)
    return width


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int, lines: int = CAPTION_LINES) -> list[str]:
    """Break ``text`` into at most ``lines`` lines of ``width`` pixels (CJK breaks anywhere; the
    sum of advances: the caption fonts have no kerning between CJK glyphs)."""
    out, line, used = [], "", 0.0
    for ch in text:
        w = _advance(font, ch)
        if used + w <= width:
            line, used = line + ch, used + w
            continue
        out.append(line)
        line, used = ch, w
        if len(out) == lines:
            break
    else:
        if line:
            out.append(line)
        return out
    last, ellipsis = out[-1], _advance(font, "…")
    while last and sum(_advance(font, c) for c in last) + ellipsis > width:
        last = last[:-1]
    return [*out[:-1], last + "…"]


def caption(img: Image.Image, text: str, font_path: Path, font_px: int) -> Image.Image:
    """``img`` with ``text`` centred under it, in lines as wide as the code less its quiet zone."""
    font = _font(str(font_path), font_px)
    w, h = img.size
    margin = max(font_px // 2, 1)
    lines = wrap(text, font, w - 2 * margin)
    line_h = int(font_px * 1.25)
    out = Image.new("L", (w, h + line_h * max(len(lines), 1) + margin), 255)
    out.paste(img, (0, 0))
    draw = ImageDraw.Draw(out)
    draw.fontmode = "1"  # no grey edges: the PNG is black and white
    for i, line in enumerate(lines):
        draw.text((w // 2, h + i * line_h), line, font=font, fill=0, anchor="ma")
    return out.convert("1", dither=Image.Dither.NONE)


def decode(png: bytes) -> list[str]:
    """What zxing-cpp reads in a PNG (QR codes only)."""
    with Image.open(io.BytesIO(png)) as img:
        return [r.text for r in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)]


@dataclass(frozen=True)
class RenderedCode:
    dzbm: str
    url: str
    png: bytes
    sha256: str


@dataclass(frozen=True)
class Renderer:
    """Renders and verifies codes; picklable, so each worker process builds its own fonts."""

    url_template: str
    font_path: Path
    scale: int = 10

    @property
    def font_px(self) -> int:
        return max(12, round(self.scale * 2.4))  # 24 px at scale 10: 2.4 mm at 254 dpi, legible

    def render(self, dzbm: str, dzmc: str) -> RenderedCode:
        """The captioned, verified PNG of one address; raises CodeMismatch if it does not decode."""
        url = code_url(self.url_template, dzbm)
        img = caption(code_image(url, scale=self.scale), dzmc or "", self.font_path, self.font_px)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        png = buf.getvalue()
        decoded = decode(png)
        if decoded != [url]:
            raise CodeMismatch(dzbm, url, decoded[0] if decoded else None)
        return RenderedCode(dzbm, url, png, hashlib.sha256(png).hexdigest())
