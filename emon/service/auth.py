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
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from emon.config import Config

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
    # asking a device to report faster, or now
    "devices:command": frozenset({"operator"}),
    # compliance figures, closest approach (a distance, no positions), what-if
    "review:read": frozenset({"reclassering", "om", "operator"}),
    # evidence reports (with positions) and the evidence chain
    "evidence:read": frozenset({"reclassering", "om"}),
    # keeping a case's data beyond its retention period; exporting a person's data
    "holds:write": frozenset({"reclassering", "om"}),
    # suspending a zone for a time, or opening a corridor through it
    "exceptions:grant": frozenset({"operator", "om"}),
    "persons:export": frozenset(),
    # locations are kept apart: who may see where the offender was, and
    # (fewer people) where the victim was
    "locations:offender": frozenset({"operator", "police", "reclassering"}),
    "locations:victim": frozenset({"operator", "police"}),
    # the phone numbers of victims and offenders: for those who call them
    "contacts:read": frozenset({"operator", "police"}),
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        return self.role == "admin" or self.role in PERMISSIONS[permission]


class TokenBook:
    """Tokens kept as SHA-256 digests, compared in constant time; and, where an
    OpenID Connect provider is configured, its signed access tokens (JWT)."""

    def __init__(
        self, admin_token: str, tokens_file: Path | None = None, oidc: Oidc | None = None
    ) -> None:
        self.oidc = oidc
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
        if self.oidc is not None and token.count(".") == 2:
            return self.oidc.who(token)
        return None


@dataclass
class Oidc:
    """Access tokens of an OpenID Connect provider (Keycloak, Entra ID, ...):
    signature by the provider's keys (JWKS, from a URL or a file), issuer,
    audience and expiry checked; the role from a claim, the name from
    ``name``/``preferred_username``/``sub``. Configured with EMON_OIDC_ISSUER,
    EMON_OIDC_AUDIENCE, EMON_OIDC_JWKS (URL or file) and EMON_OIDC_ROLE_CLAIM
    (default ``emon_role``, else ``roles`` or Keycloak's ``realm_access.roles``;
    a list is searched for the first role emon knows)."""

    issuer: str
    audience: str
    jwks: str
    role_claim: str = "emon_role"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | Config) -> Oidc | None:
        config = env if isinstance(env, Config) else Config(env)
        issuer = config.get("EMON_OIDC_ISSUER")
        if not issuer:
            return None
        jwks = config.get("EMON_OIDC_JWKS")
        if not jwks:
            raise ValueError("EMON_OIDC_ISSUER is set: EMON_OIDC_JWKS must name its key set")
        return cls(issuer, config.get("EMON_OIDC_AUDIENCE"), jwks,
                   config.get("EMON_OIDC_ROLE_CLAIM"))  # fmt: skip

    @cached_property
    def _keys(self) -> Any:
        import jwt

        if self.jwks.startswith(("http://", "https://")):
            return jwt.PyJWKClient(self.jwks, cache_keys=True)
        return jwt.PyJWKSet.from_json(Path(self.jwks).read_text())

    def who(self, token: str) -> Principal | None:
        import jwt

        try:
            kid = jwt.get_unverified_header(token).get("kid")
            keys = self._keys
            if isinstance(keys, jwt.PyJWKClient):
                key = keys.get_signing_key_from_jwt(token).key
            else:
                key = next(k.key for k in keys.keys if kid is None or k.key_id == kid)
            claims = jwt.decode(token, key, algorithms=["RS256", "ES256", "PS256"],
                                audience=self.audience, issuer=self.issuer,
                                options={"require": ["exp", "iss", "aud", "sub"]})  # fmt: skip
        except (jwt.PyJWTError, StopIteration, OSError, ValueError):
            return None
        # the configured claim, else where Entra ID and Keycloak put roles
        granted = (
            claims.get(self.role_claim)
            or claims.get("roles")
            or (claims.get("realm_access") or {}).get("roles")
        )
        roles = granted if isinstance(granted, list) else [granted]
        role = next((r for r in roles if r in ROLES), None)
        if role is None:
            return None
        name = claims.get("name") or claims.get("preferred_username") or claims["sub"]
        return Principal(str(name), role)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
