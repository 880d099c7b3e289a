"""A real corpus with no download: the Python standard library's own documentation.

Documents are the pydoc topics (the language reference sections that `help()` shows), the
built-in functions and types (`sorted`, `open`), and the docstrings of public modules, classes,
functions and methods, read from the standard library's source with `ast` (nothing is imported,
so no module's import side effects run).

    python -m indexer.demo_corpus OUT.jsonl [--min-chars 80]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SKIP_PARTS = {
    "test",
    "tests",
    "idlelib",
    "lib2to3",
    "turtledemo",
    "site-packages",
    "ensurepip",
    "__pycache__",
    "pydoc_data",
    "dist-packages",
}


def topic_documents() -> Iterator[dict[str, Any]]:
    """The pydoc help topics (language reference sections)."""
    from pydoc_data.topics import topics

    for name, text in sorted(topics.items()):
        yield {
            "id": f"topic:{name}",
            "title": f"{name} (language reference)",
            "text": text.strip(),
            "metadata": {
                "kind": "topic",
                "module": "reference",
                "package": "reference",
                "lines": text.count("\n") + 1,
            },
        }


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return f"{node.name}({ast.unparse(node.args)})"


def _walk(tree: ast.Module, module: str) -> Iterator[tuple[str, str, str, str]]:
    """(qualified name, kind, heading, docstring) of the module and its public definitions."""
    doc = ast.get_docstring(tree)
    if doc:
        yield module, "module", module, doc
    stack: list[tuple[ast.AST, str]] = [(tree, module)]
    while stack:
        parent, prefix = stack.pop()
        for node in ast.iter_child_nodes(parent):
            if not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("_"):
                continue
            name = f"{prefix}.{node.name}"
            doc = ast.get_docstring(node)
            if isinstance(node, ast.ClassDef):
                doc = doc or _init_docstring(node)  # e.g. ThreadPoolExecutor documents __init__
                if doc:
                    yield name, "class", f"class {name}", doc
                stack.append((node, name))
            elif doc:
                kind = "method" if isinstance(parent, ast.ClassDef) else "function"
                yield name, kind, f"{prefix}.{_signature(node)}", doc


def _init_docstring(node: ast.ClassDef) -> str | None:
    for child in node.body:
        if isinstance(child, ast.FunctionDef) and child.name == "__init__":
            return ast.get_docstring(child)
    return None


def builtin_documents(min_chars: int) -> Iterator[dict[str, Any]]:
    """The built-in functions and types (`sorted`, `open`, `dict` ...): they are written in C, so
    their docstrings come from the running interpreter's `builtins` module (nothing imported)."""
    import builtins
    import inspect

    for name in sorted(dir(builtins)):
        if name.startswith("_"):
            continue
        value = getattr(builtins, name)
        doc = inspect.getdoc(value)
        if not doc or len(doc) < min_chars:
            continue
        kind = "class" if isinstance(value, type) else "function"
        yield {
            "id": f"builtins.{name}",
            "title": f"{name} (built-in {kind})",
            "text": doc,
            "metadata": {
                "kind": kind,
                "module": "builtins",
                "package": "builtins",
                "lines": doc.count("\n") + 1,
            },
        }


def docstring_documents(min_chars: int) -> Iterator[dict[str, Any]]:
    """Docstrings of public modules and definitions in the standard library's sources."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        private = any(p.startswith("_") and p != "__init__.py" for p in relative.parts)
        if SKIP_PARTS & set(relative.parts) or private:
            continue
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        except (SyntaxError, UnicodeDecodeError) as error:
            print(f"demo corpus: skipped {path}: {error}", file=sys.stderr)
            continue
        for name, kind, heading, doc in _walk(tree, module):
            if len(doc) < min_chars:
                continue
            yield {
                "id": name,
                "title": heading,
                "text": doc,
                "metadata": {
                    "kind": kind,
                    "module": module,
                    "package": module.split(".")[0],
                    "lines": doc.count("\n") + 1,
                },
            }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSONL file to write")
    parser.add_argument("--min-chars", type=int, default=80, help="shortest docstring kept")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(args.out, "w", encoding="utf-8") as handle:
        documents = [
            *topic_documents(),
            *builtin_documents(args.min_chars),
            *docstring_documents(args.min_chars),
        ]
        for doc in documents:
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
            count += 1
    print(f"demo corpus: {count} documents written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
