"""BCP text lines of package-format.md: fields TAB-separated, LF (or CRLF) ends, backslash
escapes ``\\t \\n \\r \\\\`` and nothing else, empty field = NULL."""

from __future__ import annotations

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escape(value: str | None) -> str:
    return "" if value is None else value.translate(_ESCAPES)


def line_text(values: list, eol: str = "\n") -> str:
    """One record. The fast path joins unescaped values and only escapes when the joined text
    shows a special character (almost never: generated values hold none)."""
    vals = ["" if v is None else v for v in values]
    text = "\t".join(vals)
    if "\\" in text or "\n" in text or "\r" in text or text.count("\t") != len(vals) - 1:
        text = "\t".join(v.translate(_ESCAPES) for v in vals)
    return text + eol


def unescape(field: str) -> str:
    """The value of an escaped field (raises ValueError on an unknown escape)."""
    if "\\" not in field:
        return field
    out, i, n = [], 0, len(field)
    while i < n:
        c = field[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("backslash at end of field")
            e = field[i + 1]
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(e) or _bad(e))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _bad(e: str) -> str:
    raise ValueError(f"bad escape \\{e}")
