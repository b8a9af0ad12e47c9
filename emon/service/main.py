"""`emon serve`: start everything, run until stopped, shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from emon.review.reminders import reminder_policy
from emon.service.api import create_app
from emon.service.auth import Oidc, TokenBook
from emon.service.console import ConsoleSettings
from emon.service.delivery import ALL, Delivery, routing_from_config
from emon.service.mqtt import run_mqtt
from emon.service.retention import Retention
from emon.service.runtime import Runtime
from emon.service.settings import Settings
from emon.service.store import Writer, open_store
from emon.service.webhooks import Webhook, Webhooks

log = logging.getLogger("emon")
ANONYMOUS = "amqtt.plugins.authentication.AnonymousAuthPlugin"


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its own shutdown, which would kill the
    process before storage is flushed; emon handles the signals itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return int(s.getsockname()[1])
            except OSError:
                continue
    raise RuntimeError("no free port")


async def start_embedded_broker(port: int) -> Any:
    """amqtt in-process: enough for one machine and a demo, not for production
    (a few thousand messages a second); production uses Mosquitto via --mqtt."""
    from amqtt.broker import Broker

    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    return broker


Companion = Callable[[Runtime, Settings, Callable[[], None]], Coroutine[Any, Any, None]]


async def serve(settings: Settings, companion: Companion | None = None) -> None:
    """Run the service; ``companion`` (the demo) runs beside it with the
    runtime, the settings and a function that stops everything."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("amqtt", "transitions", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    made = settings.ensure_admin_token()
    broker = None
    if settings.mqtt_url is None:
        port = free_port(1883)
        broker = await start_embedded_broker(port)
        settings.mqtt_url = f"mqtt://127.0.0.1:{port}"
    store = open_store(settings.database_url, settings.workdir)
    store.migrate()
    writer = Writer(store, settings.workdir / "emon-spool.jsonl")
    config = settings.service_config()
    webhooks = Webhooks(
        [
            Webhook(w["url"], tuple(w.get("channels", ALL)), w.get("secret"))
            for w in config.get("webhooks", [])
        ]
    )
    runtime = Runtime(
        store,
        writer,
        Delivery(
            routing_from_config(config.get("routing", {})),
            resend_after_s=settings.resend_after_s,
            max_attempts=settings.max_attempts,
        ),
        webhooks=webhooks,
        batch_max=settings.batch_max,
        batch_wait_s=settings.batch_wait_s,
        queue_limit=settings.queue_limit,
        retention=Retention.from_config(config.get("retention", {})),
        reminders=reminder_policy(config.get("reminders", {})),
    )
    replayed = runtime.recover(settings.recovery_window_s)
    health: dict[str, Any] = {"mqtt": False}
    connected = asyncio.Event()
    host, http_port = settings.http_host_port
    tokens_file = os.environ.get("EMON_TOKENS")
    tokens = TokenBook(settings.admin_token, Path(tokens_file) if tokens_file else None,
                       Oidc.from_env(os.environ))  # fmt: skip
    console = ConsoleSettings.from_config(config.get("console", {}))
    app = create_app(runtime, tokens, health, console)
    https_cert = os.environ.get("EMON_HTTP_CERT") or None
    # a stop must not wait on idle clients (over TLS a close waits for the peer)
    server = _Server(
        uvicorn.Config(
            app, host=host, port=http_port, log_level="warning", timeout_graceful_shutdown=3,
            ssl_certfile=https_cert, ssl_keyfile=os.environ.get("EMON_HTTP_KEY") or None,
        )
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))

    async def watch_connection() -> None:
        while True:
            await connected.wait()
            health["mqtt"] = True
            while connected.is_set():
                await asyncio.sleep(0.5)
            health["mqtt"] = False

    writing = asyncio.create_task(writer.run())
    tasks = [
        asyncio.create_task(
            run_mqtt(settings.mqtt_url, runtime, settings.mqtt_client_id, connected)
        ),
        asyncio.create_task(runtime.run_ingest()),
        asyncio.create_task(runtime.run_timers()),
        asyncio.create_task(runtime.run_retention()),
        asyncio.create_task(watch_connection()),
        asyncio.create_task(webhooks.run()),
    ]
    database = settings.database_url or f"sqlite:///{settings.workdir / 'emon.db'}"
    print(
        f"emon serving: {'https' if https_cert else 'http'}://{host}:{http_port} "
        "(console /, API docs /docs), "
        f"MQTT {_redact(settings.mqtt_url)}{' (embedded)' if broker else ''}, "
        f"database {_redact(database)}; "
        f"{len(runtime.orders)} orders, {replayed} messages recovered",
        flush=True,
    )
    if made:
        print(f"admin token written to {settings.workdir / 'emon-admin-token'}", flush=True)
    if companion is not None:

        async def accompany() -> None:
            await connected.wait()
            await companion(runtime, settings, lambda: setattr(server, "should_exit", True))

        tasks.append(asyncio.create_task(accompany()))
    try:
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if runtime.inbox.qsize():
            pending = [runtime.inbox.get_nowait() for _ in range(runtime.inbox.qsize())]
            runtime.process(pending)
        await writer.close()
        await writing
        store.close()
        if broker is not None:
            await broker.shutdown()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def run(settings: Settings) -> int:
    asyncio.run(serve(settings))
    return 0
