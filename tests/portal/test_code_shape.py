"""The code stays small enough to hold in one's head (issue 15).

No module over 600 lines outside migrations, and no function over 60 lines,
unless a comment at the top of the function (a line starting with
`# Longer than 60 lines:`, before or right after its docstring) says why it
must be longer. The allow-lists below name what was still too long when the
rule came in: shrink them, never grow them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("requests_app", "retention", "portal")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
REASON = "# Longer than 60 lines:"

# Still too long when the rule came in (to be split; do not add to these lists).
LONG_MODULES_ALLOWED: set[str] = set()  # every module is within the limit now
LONG_FUNCTIONS_ALLOWED: set[str] = set()  # every function is within the limit now


def _sources():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, path.relative_to(ROOT).as_posix()


def _functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _says_why(node, lines: list[str]) -> bool:
    """A `# Longer than 60 lines:` comment between the `def` and the first statement after
    the docstring (comments are not in the AST, so the source lines are read)."""
    body = node.body
    first = body[1] if len(body) > 1 and isinstance(body[0], ast.Expr) else body[0]
    head = lines[node.lineno - 1 : first.lineno - 1]
    return any(line.strip().startswith(REASON) for line in head)


def test_no_module_is_longer_than_600_lines():
    too_long = {
        name for path, name in _sources() if len(path.read_text().splitlines()) > MAX_MODULE_LINES
    }
    assert too_long - LONG_MODULES_ALLOWED == set()


def test_no_function_is_longer_than_60_lines_without_saying_why():
    too_long = set()
    for path, name in _sources():
        text = path.read_text()
        lines = text.splitlines()
        for node in _functions(ast.parse(text)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if node.end_lineno - start + 1 > MAX_FUNCTION_LINES and not _says_why(node, lines):
                too_long.add(f"{name}::{node.name}")
    assert too_long - LONG_FUNCTIONS_ALLOWED == set()


def test_the_rule_sees_a_long_function_and_its_reason():
    """The check itself can fail: a 61-line function is caught, unless it says why."""
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    bare = ast.parse(f"def f():\n{body}\n")
    explained = f"def f():\n    {REASON} a table.\n{body}\n"
    assert not _says_why(bare.body[0], f"def f():\n{body}\n".splitlines())
    assert _says_why(ast.parse(explained).body[0], explained.splitlines())
