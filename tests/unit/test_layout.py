"""The package structure stays a tree: no package of emon imports one that imports it back."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "emon"


def package_imports() -> dict[str, set[str]]:
    deps: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        package = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "emon" and len(parts) > 1 and parts[1] != package:
                    deps[package].add(parts[1])
    return deps


def test_no_import_cycle_between_packages():
    deps = package_imports()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in deps.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted({tuple(sorted((a, b))) for a in deps for b in deps[a] if reaches(b, a)})
    assert cycles == []


def test_review_and_storage_do_not_reach_into_the_live_service():
    deps = package_imports()
    assert "service" not in deps["review"] and "service" not in deps["storage"]
    assert "cli" not in deps["service"] and "cli" not in deps["review"]
