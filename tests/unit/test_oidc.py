"""OpenID Connect access tokens: signature, issuer, audience, expiry, role."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from emon.service.api import create_app
from emon.service.auth import Oidc, TokenBook
from emon.service.runtime import Runtime
from emon.storage import SqliteStore, Writer
from emon.storage.base import shown_alert

ISSUER = "https://login.example.nl/realms/emon"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def client(tmp_path):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig"}]}))
    store = SqliteStore(tmp_path / "emon.db")
    store.migrate()
    runtime = Runtime.open(store, Writer(store, tmp_path / "spool.jsonl"))
    runtime.alert_book.show(shown_alert({
        "alert_id": "A-1", "type": "panic", "state": "open", "order_id": "O",
        "started_at": "2026-11-28T12:00:00.000Z", "detected_at": "2026-11-28T12:00:00.000Z"}))  # fmt: skip
    book = TokenBook("", None, Oidc(ISSUER, "emon", str(tmp_path / "jwks.json")))
    return TestClient(create_app(runtime, book, {"mqtt": True})), runtime


def token(key=KEY, **claims) -> str:
    body = {"iss": ISSUER, "aud": "emon", "sub": "u-17", "exp": int(time.time()) + 300,
            "name": "A. de Vries", "emon_role": "operator", **claims}  # fmt: skip
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


def status(client, bearer: str) -> int:
    return client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {bearer}"}).status_code


def test_a_valid_token_gives_its_role_and_name(client):
    http, runtime = client
    assert status(http, token()) == 200
    http.post("/api/v1/alerts/A-1/ack", headers={"Authorization": f"Bearer {token()}"})
    assert runtime.alerts["A-1"]["actions"][-1]["actor"] == "A. de Vries"
    police = token(emon_role=None, roles=["offline_access", "police"])
    assert status(http, police) == 200
    assert http.post("/api/v1/alerts/A-1/ack",
                     headers={"Authorization": f"Bearer {police}"}).status_code == 403  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        token(exp=int(time.time()) - 10),  # expired
        token(aud="another-app"),
        token(iss="https://evil.example"),
        token(OTHER),  # signed by a key the provider does not have
        token(emon_role="superuser"),  # no role emon knows
        jwt.encode(
            {
                "iss": ISSUER,
                "aud": "emon",
                "sub": "x",
                "exp": int(time.time()) + 60,
                "emon_role": "admin",
            },
            key=None,
            algorithm="none",
        ),
        "not.a.token",
    ],
)
def test_a_bad_token_is_refused(client, bad):
    http, _ = client
    assert status(http, bad) == 401


def test_oidc_is_configured_from_the_environment():
    assert Oidc.from_env({}) is None
    oidc = Oidc.from_env({"EMON_OIDC_ISSUER": ISSUER, "EMON_OIDC_JWKS": "https://x/certs"})
    assert oidc is not None and oidc.audience == "emon" and oidc.role_claim == "emon_role"
