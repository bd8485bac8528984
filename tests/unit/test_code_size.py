"""Holds the line on size (STYLE.md): no file under pymace/ (Python, OpenCL C, headers) over 500 lines, no
function there over 60. EXEMPT lists today's offenders with the reason each may stay for now; it may only
shrink: an entry that no longer needs its exemption fails too, so that it is deleted. ruff checks arguments,
statements and complexity (pyproject.toml [tool.ruff.lint])."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60

# "path" (a file) or "path:qualified.function" -> why it may exceed the limit for now
EXEMPT: dict[str, str] = {}


def _files():
    return sorted(p for p in (ROOT / "pymace").rglob("*") if p.suffix in (".py", ".cl", ".h"))


def _functions(path: Path):
    """(qualified name, lines) of every function and method in a Python file."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    yield name, child.end_lineno - child.lineno + 1
                yield from walk(child, f"{name}.")

    yield from walk(ast.parse(path.read_text(), str(path)), "")


def offenders() -> dict[str, str]:
    """Every file and function over its limit: key as in EXEMPT -> its size."""
    found = {}
    for path in _files():
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_FILE_LINES:
            found[rel] = f"{lines} lines (limit {MAX_FILE_LINES})"
        if path.suffix == ".py":
            for name, length in _functions(path):
                if length > MAX_FUNCTION_LINES:
                    found[f"{rel}:{name}"] = f"{length} lines (limit {MAX_FUNCTION_LINES})"
    return found


def test_files_and_functions_are_within_their_limits():
    found = offenders()
    over = {k: v for k, v in found.items() if k not in EXEMPT}
    assert not over, "over the size limits (split them): " + "; ".join(f"{k}: {v}" for k, v in sorted(over.items()))
    stale = sorted(set(EXEMPT) - set(found))
    assert not stale, f"exempt but within the limits now: delete {stale} from EXEMPT"


def test_the_check_sees_functions_and_methods():
    names = dict(_functions(Path(__file__)))
    assert "test_the_check_sees_functions_and_methods" in names and "_functions.walk" in names
    assert all(reason.strip() for reason in EXEMPT.values())
