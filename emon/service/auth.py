"""Who may do what: bearer tokens with roles, least privilege per endpoint.

Roles follow the people who use emon: the monitoring centre's operators act
on alerts; police dispatch sees alerts; the reclassering reviews alerts and
orders; the OM validates and registers orders; admin does everything
(bootstrap and automation, via EMON_ADMIN_TOKEN). Tokens come from a JSON file
(``EMON_TOKENS``): ``{"tokens": [{"token": "...", "role": "operator", "name":
"A. de Vries"}]}``; the name is what operator actions are recorded under.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path

ROLES = ("admin", "operator", "police", "reclassering", "om")

#: permission -> roles that have it (admin has all)
PERMISSIONS: dict[str, frozenset[str]] = {
    "orders:validate": frozenset({"om", "reclassering"}),
    "orders:write": frozenset({"om"}),
    "orders:read": frozenset({"om", "reclassering", "operator"}),
    "alerts:read": frozenset({"operator", "police", "reclassering"}),
    "alerts:act": frozenset({"operator"}),
    "alerts:confirm": frozenset({"police"}),
    "devices:read": frozenset({"operator", "reclassering"}),
    # compliance figures, closest approach (a distance, no positions), what-if
    "review:read": frozenset({"reclassering", "om", "operator"}),
    # evidence reports (with positions) and the evidence chain
    "evidence:read": frozenset({"reclassering", "om"}),
    # keeping a case's data beyond its retention period; exporting a person's data
    "holds:write": frozenset({"reclassering", "om"}),
    "persons:export": frozenset(),
    # locations are kept apart: who may see where the offender was, and
    # (fewer people) where the victim was
    "locations:offender": frozenset({"operator", "police", "reclassering"}),
    "locations:victim": frozenset({"operator", "police"}),
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        return self.role == "admin" or self.role in PERMISSIONS[permission]


class TokenBook:
    """Tokens kept as SHA-256 digests, compared in constant time."""

    def __init__(self, admin_token: str, tokens_file: Path | None = None) -> None:
        self._by_digest: dict[str, Principal] = {}
        if admin_token:
            self._add(admin_token, Principal("admin", "admin"))
        if tokens_file is not None:
            data = json.loads(tokens_file.read_text())
            for entry in data.get("tokens", []):
                role = entry["role"]
                if role not in ROLES:
                    raise ValueError(f"{tokens_file}: unknown role {role!r}")
                self._add(entry["token"], Principal(entry.get("name", role), role))

    def _add(self, token: str, principal: Principal) -> None:
        self._by_digest[_digest(token)] = principal

    def who(self, token: str) -> Principal | None:
        digest = _digest(token)
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
