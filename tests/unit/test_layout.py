"""The package structure stays a tree: no package of emon imports one that imports it back."""

from __future__ import annotations

import ast
import re
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


#: about this many lines a module: past it, a module holds more than one job
MAX_MODULE_LINES = 400
_SQL = re.compile(r"\b(SELECT .+ FROM|INSERT INTO|DELETE FROM|UPDATE \w+ SET)\b")


def test_no_module_holds_more_than_one_job_by_its_size():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in ROOT.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_every_query_is_a_named_method_of_storage():
    """SQL lives in emon/storage only: the rest asks storage by name."""
    outside = [
        f"{path.relative_to(ROOT)}:{k}"
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] != "storage"
        for k, line in enumerate(path.read_text().splitlines(), 1)
        if _SQL.search(line)
    ]
    assert outside == []


def test_the_engine_exports_what_callers_use_and_keeps_the_rest():
    """Outside the engine, only ``emon.engine`` itself and the engine's data
    types are imported; the rule modules are the engine's own."""
    own = {"base", "core", "decode", "zone_rules", "contact_rules", "device_events",
           "event_memory", "timers", "silence", "fastpath"}  # fmt: skip
    reaching_in = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "engine":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["emon", "engine"] and len(parts) > 2 and parts[2] in own:
                    reaching_in.append(f"{rel}: {node.module}")
    assert reaching_in == []
