"""The shape of the province delivery code: ODS writes live in ``dz_assets/ods``, imports at the top."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dz_assets

ROOT = Path(dz_assets.__file__).parent
DELIVERY = ROOT / "province" / "delivery"

# DDL on an ``ods`` relation: creating, altering, renaming, dropping, analysing or locking one.
ODS_DDL = re.compile(r"(create|alter|drop|lock)\s+table|alter\s+index|\banalyze\b", re.I)


def test_the_table_swap_and_builds_are_ods_writes():
    """The FULL's ``__load`` tables and their swap are written by ``dz_assets/ods`` alone; the
    province loader fills them (COPY, dedupe) and keeps its bookkeeping in ``meta``."""
    offenders = []
    for path in sorted(DELIVERY.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ODS_DDL.search(node.value):
                offenders.append(f"{path.name}:{node.lineno}: {node.value[:60]}")
    assert offenders == []


def _local_imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    out.append(f"{path.name}:{inner.lineno} in {node.name}")
    return out


def test_the_delivery_path_imports_at_module_level():
    """No function-local imports hide what the delivery path depends on (none breaks an
    optional dependency or an import cycle)."""
    assert [x for p in sorted(DELIVERY.glob("*.py")) for x in _local_imports(p)] == []
