"""A service for API tests: SQLite in a folder, a token book of one token a role."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from emon.service.api import create_app
from emon.service.auth import TokenBook
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer

#: one token a role (the admin's is t-admin)
TOKENS = {"operator": "t-op", "police": "t-po", "reclassering": "t-re", "om": "t-om"}


def service_app(folder: Path) -> tuple[TestClient, Runtime]:
    book = folder / "tokens.json"
    book.write_text(json.dumps({"tokens": [
        {"token": t, "role": r, "name": f"{r} person"} for r, t in TOKENS.items()
    ]}))  # fmt: skip
    store = SqliteStore(folder / "emon.db")
    store.migrate()
    runtime = Runtime.open(store, Writer(store, folder / "spool.jsonl"))
    app = create_app(runtime, TokenBook("t-admin", book), {"mqtt": True})
    return TestClient(app), runtime
