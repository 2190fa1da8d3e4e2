"""Masking of ID numbers and names in findings for analysts: one small function, so that the role
and masking work (which decides who sees what) can swap it for its own."""

from __future__ import annotations

from typing import Any

ID_FIELDS_SUFFIX = "GMSFHM"  # GMSFHM, BJHRGMSFHM, JHRGMSFHM, SARYGMSFHM, subject_gmsfhm
NAME_FIELDS_SUFFIX = "XM"  # XM, JHRXM, subject_xm


def mask_id(value: str | None) -> str | None:
    """First and last four characters kept: ``5117**********1234``."""
    if not value:
        return value
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """First character kept, the rest ``*``."""
    if not value:
        return value
    return value[0] + "*" * (len(value) - 1)


def mask_value(key: str, value: Any) -> Any:
    """``value`` masked as its field name says (nested evidence objects and lists included)."""
    if isinstance(value, dict):
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(key, v) for v in value]
    name = key.upper()
    if isinstance(value, str) and name.endswith(ID_FIELDS_SUFFIX):
        return mask_id(value)
    if isinstance(value, str) and (name.endswith("_" + NAME_FIELDS_SUFFIX) or name == NAME_FIELDS_SUFFIX
                                   or name == "JHR" + NAME_FIELDS_SUFFIX):
        return mask_name(value)
    return value


def mask_finding(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding with every ID number and name masked, in its columns and its evidence."""
    return {k: mask_value(k, v) for k, v in finding.items()}
