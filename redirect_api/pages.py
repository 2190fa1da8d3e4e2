"""Server-rendered Chinese pages for residents: the page frame, and the notice a browser gets when
a scanned doorplate gets no token (spec/ecode-redirect.md: same status as the JSON answer).

Plain ``string.Template`` over the files in ``templates/``, every value HTML-escaped; the pages
load nothing (no script, no CDN, no web font: the system's CJK fonts are named in the CSS).
"""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path
from string import Template

from dz_assets.catalog import load_catalogue

_TEMPLATES = Path(__file__).parent / "templates"
# The address states of the code table (DZZT): 2 停用, 3 注销.
_DZZT_OF_REASON = {"disabled": "2", "cancelled": "3"}
# (title, what happened, what to do) per reason of the contract.
NOTICE_TEXT = {
    "disabled": ("该门牌地址已{state}",
                 "您扫描的门牌对应的标准地址状态为「{state}」，暂不能查看门牌信息。",
                 "如该门牌仍在使用或信息有误，请联系辖区派出所或所在社区（村）核实处理。"),
    "cancelled": ("该门牌地址已{state}",
                  "您扫描的门牌对应的标准地址已「{state}」，该门牌不再使用。",
                  "如您认为有误，请联系辖区派出所或所在社区（村）核实；如已更换新门牌，请扫描新门牌上的二维码。"),
    "unknown": ("未找到该门牌地址",
                "标准地址库中没有与该二维码对应的地址：门牌可能尚未登记，或二维码有误。",
                "请核对门牌上的地址编码后重新扫描，或联系辖区派出所或所在社区（村）登记。"),
    "outside": ("该地址不在达州市",
                "您扫描的门牌不属于达州市二维码数字门牌系统的服务范围。",
                "请通过四川e码小程序查看该地址的信息。"),
}
STATE_OF_REASON = {"unknown": "未登记", "outside": "非达州市地址"}


@cache
def template(name: str) -> Template:
    return Template((_TEMPLATES / name).read_text(encoding="utf-8"))


def render_page(title: str, body: str) -> str:
    return template("page.html").substitute(title=escape(title), body=body)


@cache
def state_word(reason: str) -> str:
    """The address state in the code table's own words (停用, 注销), else a plain description."""
    code = _DZZT_OF_REASON.get(reason)
    if code is None:
        return STATE_OF_REASON.get(reason, reason)
    return load_catalogue().code_table("DZZT").codes[code]


def render_notice(dzbm: str, reason: str, status: int) -> str:
    """The page for a scan that gets no token (unknown, outside, disabled or cancelled)."""
    state = state_word(reason)
    title, text, advice = (s.format(state=state) for s in NOTICE_TEXT.get(reason, NOTICE_TEXT["unknown"]))
    body = template("notice.html").substitute(title=escape(title), text=escape(text), advice=escape(advice),
                                              dzbm=escape(dzbm), state=escape(state), reason=escape(reason),
                                              status=status)
    return render_page(title, body)


def prefers_html(accept: str | None) -> bool:
    """True when ``Accept`` names ``text/html`` before any JSON type (a browser), as the contract
    says; an entry with ``q=0`` is a refusal, not a preference, and is passed over."""
    if not accept:
        return False
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        if _refused(params):
            continue
        if media == "text/html":
            return True
        if media == "application/json" or media.endswith("+json"):
            return False
    return False


def _refused(params: str) -> bool:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip()) == 0.0
            except ValueError:
                return False
    return False
