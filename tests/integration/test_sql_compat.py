"""Every SQL statement the project issues from files (migrations, loaders, apply, the redirect's
lookups, the compiled dbt models) parses with PostgreSQL's own parser (pglast) and uses no
extension and no function outside the list README gives for the domestic PostgreSQL-compatible
databases (openGauss, KingbaseES): "Database compatibility"."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pglast.parser import parse_sql_json

from dz_assets.settings import PROJECT_ROOT
from dz_assets.transform import DBT_PROJECT_DIR, run_dbt

README = PROJECT_ROOT / "README.md"
SQL_ROOTS = (PROJECT_ROOT / "dz_assets", PROJECT_ROOT / "redirect_api", PROJECT_ROOT / "dz_console")
_HEAD = re.compile(r"^-- name: \w+\s*$", re.M)
_PARAM = re.compile(r"%\(\w+\)s|%[sbt]")
_TEMPLATE = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")
# Template parts that stand for a list or a condition rather than one identifier.
_TEMPLATE_AS = {"sets": "x_ = null", "cols": "x_", "exprs": "null"}
_CONDITION = re.compile(r"join$|^pending$")


def _prepared(text: str) -> str:
    """Driver placeholders and psycopg.sql template parts replaced by something parseable."""
    def part(m: re.Match) -> str:
        name = m.group(1)
        return "true" if _CONDITION.search(name) else _TEMPLATE_AS.get(name, f"{name}_x")
    text = _TEMPLATE.sub(part, text).replace("{{", "{").replace("}}", "}")
    return _PARAM.sub("null", text).replace("%%", "%")


def _statements_from_files() -> list[tuple[str, str]]:
    out = []
    for root in SQL_ROOTS:
        for path in sorted(root.rglob("*.sql")):
            for i, part in enumerate(_HEAD.split(path.read_text(encoding="utf-8"))):
                if part.strip():
                    out.append((f"{path.relative_to(PROJECT_ROOT)}#{i}", _prepared(part)))
    return out


def _compiled_models(dsn: str) -> list[tuple[str, str]]:
    # the data tests compiled with the models read the relations' newest stamp: build them first
    assert run_dbt(["run", "--quiet"], dsn, check=False).returncode == 0
    assert run_dbt(["compile", "--quiet"], dsn, check=False).returncode == 0
    compiled = DBT_PROJECT_DIR / "target" / "compiled"
    return [(str(p.relative_to(compiled)), p.read_text(encoding="utf-8")) for p in sorted(compiled.rglob("*.sql"))]


def allowed_functions() -> set[str]:
    """The functions README lists (backquoted names followed by "()" in its compatibility list)."""
    text = README.read_text(encoding="utf-8").split("## Database compatibility", 1)[1]
    return set(re.findall(r"`([a-z_0-9]+)\(\)`", text))


def _walk(node, functions: list[str], problems: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "FuncCall":
                name = [n["String"]["sval"] for n in value["funcname"]]
                functions.append(".".join(name[1:] if name[0] == "pg_catalog" else name))
            elif key == "CreateExtensionStmt":
                problems.append(f"extension {value['extname']}")
            _walk(value, functions, problems)
    elif isinstance(node, list):
        for item in node:
            _walk(item, functions, problems)


def _check(statements: list[tuple[str, str]]) -> list[str]:
    allowed = allowed_functions()
    assert len(allowed) > 20, "README's function list not found"
    bad = []
    for where, text in statements:
        try:
            tree = json.loads(parse_sql_json(text))
        except Exception as exc:  # noqa: BLE001 (pglast's ParseError, named in the message)
            bad.append(f"{where}: does not parse: {exc}")
            continue
        functions: list[str] = []
        problems: list[str] = []
        _walk(tree, functions, problems)
        problems += [f"function {f}()" for f in sorted(set(functions))
                     if f not in allowed and not f.startswith("meta.")]
        bad += [f"{where}: {p}" for p in problems]
    return bad


def test_project_sql_files_stay_in_the_subset():
    statements = _statements_from_files()
    assert len(statements) > 30
    assert _check(statements) == []


def test_compiled_dbt_models_stay_in_the_subset(pg_dsn):
    statements = _compiled_models(pg_dsn)
    assert len(statements) > 40
    assert _check(statements) == []


def test_the_check_finds_what_it_should():
    assert _check([("x", "create extension pgcrypto"), ("y", "select digest('a', 'sha256')")]) == [
        "x: extension pgcrypto", "y: function digest()"]
    with pytest.raises(AssertionError):
        assert _check([("z", "select from where")]) == []


def test_readme_entries_are_justified():
    text = README.read_text(encoding="utf-8").split("## Database compatibility", 1)[1]
    for line in text.splitlines():
        if re.search(r"`[a-z_0-9]+\(\)`", line):
            assert ":" in line or "—" in line, f"list entry without its reason: {line}"


def test_pglast_is_a_test_extra():
    assert "pglast" in Path(PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
