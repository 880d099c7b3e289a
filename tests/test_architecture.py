"""The house rules a newcomer relies on to find things: imports go one way, SQL lives in the
store, rooms stay small. Each is read from the source files, not from a list kept by hand."""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("indexer", "store", "search_ui")
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|"
    r"CREATE\s+(TABLE|INDEX|VIEW|VIRTUAL))\b",
    re.S,
)


def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules `path` imports anywhere (in functions too), but under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:  # a submodule, else a name from the module itself
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {module for module in found if module in known and module != name}


def test_no_module_imports_itself_back_through_others() -> None:
    table = modules()
    graph = {name: imports(path, name, set(table)) for name, path in table.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        pytest.fail("import circle: " + " -> ".join(error.args[1]))


def test_sql_text_lives_only_in_the_store() -> None:
    offenders = []
    for name, path in modules().items():
        if name.split(".")[0] == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and SQL.search(node.value):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_the_rooms_stay_small() -> None:
    top = [p.name for p in (ROOT / "indexer").glob("*.py")]
    assert len(top) <= 12, sorted(top)
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "search_ui").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 350
    }
    assert not long, long


def test_no_test_module_imports_another() -> None:
    """What test modules share lives in tests/helpers.py (and fixtures in conftest.py), so one test
    module can change or go without breaking another; a module may only run itself in a child."""
    tests = ROOT / "tests"
    names = {path.stem for path in tests.glob("test_*.py")}
    offenders = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                module = target.removeprefix("tests.")
                if module in names and target.startswith("tests.") and module != path.stem:
                    offenders.append(f"{path.name} imports {target}")
    assert not offenders, offenders


def classes() -> dict[str, tuple[str, list[str]]]:
    """Every class of the project's packages: name -> (module, the names of its bases)."""
    found = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(base).rpartition(".")[2] for base in node.bases]
                found[node.name] = (name, bases)
    return found


def test_every_error_type_is_exported_from_indexer_where_it_is_defined() -> None:
    import indexer

    table = classes()
    errors = {"SemsearchError"}
    while grown := {n for n, (_, bases) in table.items() if errors & set(bases)} - errors:
        errors |= grown
    assert len(errors) > 20
    exported = {name: module for name, module in indexer._EXPORTS.items() if name in errors}
    assert exported == {name: table[name][0] for name in errors}
    assert set(indexer._EXPORTS) == set(indexer.__all__)


def test_the_front_doors_public_methods_return_types_not_dicts() -> None:
    for room in ("collection", "workbench"):
        tree = ast.parse((ROOT / "indexer" / f"{room}.py").read_text())
        untyped = [
            f"{room}.{node.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
            and not node.name.startswith("_")
            and "dict[str, Any]" in ast.unparse(node.returns or ast.Constant(None))
        ]
        assert not untyped, untyped
