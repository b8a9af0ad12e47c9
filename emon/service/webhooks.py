"""Alerts to HTTP endpoints (a dispatch system, a case system), with retries.

Each webhook takes the channels it wants (police, reclassering, monitoring,
and supervisor: the alerts nobody took on in time; all of them by default);
every message emon publishes on ``emon/v1/alerts/{channel}`` is POSTed to it as
JSON, signed with HMAC-SHA256 in ``X-Emon-Signature`` when a secret is set.
Failures are retried with exponential backoff; a message that still fails is
logged and counted, never silently dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass, field

import httpx

log = logging.getLogger("emon.webhooks")

#: every channel a webhook may take
CHANNELS = ("police", "reclassering", "monitoring", "supervisor")


@dataclass(frozen=True)
class Webhook:
    url: str
    channels: tuple[str, ...] = CHANNELS
    secret: str | None = None


@dataclass
class Webhooks:
    targets: list[Webhook]
    attempts: int = 5
    first_backoff_s: float = 1.0
    queue: asyncio.Queue[tuple[Webhook, bytes]] = field(default_factory=asyncio.Queue)
    delivered: int = 0
    failed: int = 0

    def submit(self, channel: str, payload: bytes) -> None:
        for target in self.targets:
            if channel in target.channels:
                self.queue.put_nowait((target, payload))

    async def run(self, workers: int = 4) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            await asyncio.gather(*(self._worker(client) for _ in range(workers)))

    async def _worker(self, client: httpx.AsyncClient) -> None:
        while True:
            target, payload = await self.queue.get()
            await self._send(client, target, payload)

    async def _send(self, client: httpx.AsyncClient, target: Webhook, payload: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        if target.secret:
            digest = hmac.new(target.secret.encode(), payload, hashlib.sha256).hexdigest()
            headers["X-Emon-Signature"] = f"sha256={digest}"
        delay = self.first_backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                response = await client.post(target.url, content=payload, headers=headers)
                if response.status_code < 300:
                    self.delivered += 1
                    return
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
            if attempt < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        self.failed += 1
        log.error("webhook %s failed after %d attempts: %s", target.url, self.attempts, reason)
