"""SQL only with parameters, checked on the source: ruff's S608 (SQL built by string formatting) is enabled for
services/ and not ignored there, and every call that runs SQL gets its text from constants only — string
literals, UPPER_CASE constants, f-strings and concatenations of those, or local names only ever assigned
such — except the few documented below. A value can reach SQL only as a $n parameter."""

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[2]
SQL_CALLS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "prepare", "cursor", "copy_from_query"}
# (file, the SQL argument as written): why it is safe. Anything new here needs the same scrutiny.
DOCUMENTED = {
    ("services/shared/postgres.py", "f'CREATE SCHEMA IF NOT EXISTS {schema}'"): "schema checked by _checked_schema",
    ("services/shared/postgres.py", "sql"): "the migration files shipped in the package, applied at start-up",
}


def sources() -> Iterator[Path]:
    for path in sorted((ROOT / "services").rglob("*.py")):
        if "contracts" not in path.relative_to(ROOT).parts:
            yield path


class Assignments(ast.NodeVisitor):
    """What each local name of one function is ever assigned (None: something not a plain expression)."""

    def __init__(self) -> None:
        self.values: dict[str, list[ast.expr | None]] = {}

    def bind(self, target: ast.expr, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            self.values.setdefault(target.id, []).append(value)
        elif isinstance(target, ast.Tuple):
            items = value.elts if isinstance(value, ast.Tuple) and len(value.elts) == len(target.elts) else None
            for i, element in enumerate(target.elts):
                self.bind(element, items[i] if items else None)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.bind(target, node.value)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.bind(node.target, node.value if isinstance(node.op, ast.Add) else None)

    def visit_For(self, node: ast.For) -> None:
        # `for ddl in _PLUMBING`: each value comes from a constant collection.
        from_constant = isinstance(node.iter, ast.Name | ast.Attribute) and is_upper(node.iter)
        self.bind(node.target, node.iter if from_constant else None)
        self.generic_visit(node)


def is_upper(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return bool(name) and name.lstrip("_").isupper()


def constant(
    node: ast.expr | None, local: dict[str, list[ast.expr | None]], seen: frozenset[str] = frozenset()
) -> bool:
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Name | ast.Attribute) and is_upper(node):
        return True
    if isinstance(node, ast.Name):
        values = local.get(node.id)
        return bool(values) and node.id not in seen and all(constant(v, local, seen | {node.id}) for v in values)
    if isinstance(node, ast.JoinedStr):
        return all(constant(v.value, local, seen) for v in node.values if isinstance(v, ast.FormattedValue))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return constant(node.left, local, seen) and constant(node.right, local, seen)
    if isinstance(node, ast.IfExp):
        return constant(node.body, local, seen) and constant(node.orelse, local, seen)
    return False


def own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a module or function, not descending into the functions defined in it."""
    for child in ast.iter_child_nodes(scope):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield child
            yield from own_nodes(child)


def sql_built_from_values() -> Iterator[tuple[str, int, str]]:
    for path in sources():
        tree = ast.parse(path.read_text())
        for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]:
            local = Assignments()
            if scope is not tree:
                for statement in scope.body:
                    local.visit(statement)
            for node in own_nodes(scope):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SQL_CALLS
                    and node.args
                    and not constant(node.args[0], local.values)
                ):
                    yield str(path.relative_to(ROOT)), node.lineno, ast.unparse(node.args[0])


def test_no_sql_is_built_from_values():
    found = {(path, text): line for path, line, text in sql_built_from_values()}
    unexplained = {f"{path}:{line}: {text}" for (path, text), line in found.items() if (path, text) not in DOCUMENTED}
    assert not unexplained, "SQL text built from something other than constants (use $n parameters):\n" + "\n".join(
        sorted(unexplained)
    )
    stale = set(DOCUMENTED) - set(found)
    assert not stale, f"documented exceptions that no longer exist (remove them): {stale}"


def test_the_checker_catches_values_in_sql():
    code = (
        "async def f(conn, name):\n"
        "    await conn.fetch(f'SELECT * FROM t WHERE n = {name}')\n"
        "    await conn.execute('DELETE FROM t WHERE n = ' + name)\n"
        "    await conn.execute('SELECT %s' % name)\n"
        "    await conn.execute('SELECT {}'.format(name))\n"
        "    q = 'SELECT 1'\n"
        "    q += name\n"
        "    await conn.fetch(q)\n"
        "    ok = 'SELECT 1' + (' FOR UPDATE' if name else '')\n"
        "    await conn.fetch(ok, name)\n"
        "    await conn.fetch(f'SELECT {_COLUMNS} FROM t WHERE n = $1', name)\n"
    )
    fn = ast.parse(code).body[0]
    local = Assignments()
    for statement in fn.body:
        local.visit(statement)
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") in SQL_CALLS]
    assert [constant(c.args[0], local.values) for c in calls] == [False, False, False, False, False, True, True]


def test_ruff_flags_sql_string_building_in_services():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    selected = config.get("select", []) + config.get("extend-select", [])
    assert "S" in selected or "S608" in selected, "flake8-bandit's S608 must be selected"
    assert not {"S", "S6", "S60", "S608"} & set(config.get("ignore", [])), "S608 must not be ignored"
    for pattern, ignored in config.get("per-file-ignores", {}).items():
        if pattern.startswith(("services", "*", "**")):
            assert not {"S", "S6", "S60", "S608"} & set(ignored), f"S608 ignored for {pattern}"
