"""`emon serve`: start everything, run until stopped, shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import uvicorn

from emon.alerts.delivery import Delivery, Outgoing
from emon.alerts.escalation import Ladder
from emon.alerts.routing import FirstTold, routing_from_config
from emon.alerts.texts import device_language
from emon.engine import policy_from
from emon.ingest.owntracks import keys_from_config
from emon.review.reminders import reminder_policy
from emon.service.api import create_app
from emon.service.auth import Oidc, TokenBook
from emon.service.cluster import join_cluster
from emon.service.console import ConsoleSettings
from emon.service.embedded import EmbeddedError, EmbeddedNats
from emon.service.mqtt import run_mqtt
from emon.service.retention import Retention, run_retention
from emon.service.runtime import Runtime
from emon.service.settings import Settings
from emon.service.storage_upkeep import run_upkeep
from emon.service.webhooks import CHANNELS as WEBHOOK_CHANNELS
from emon.service.webhooks import Webhook, Webhooks
from emon.storage import Writer, open_store
from emon.storage.anchor import (
    ANCHOR_TOPIC,
    ANCHORS_FILE,
    AnchorLog,
    anchor_key,
    anchor_once,
    run_anchoring,
)
from emon.timeutil import now_ms

log = logging.getLogger("emon")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its own shutdown, which would kill the
    process before storage is flushed; emon handles the signals itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


#: where the embedded broker looks for a port when none is set: 1883, then the
#: next free one (a machine that already runs Mosquitto on 1883 still starts)
EMBEDDED_PORTS = range(1883, 1900)


#: background jobs get this long (s) to end at a stop; the MQTT client alone
#: may wait 10 s for a broker to confirm its disconnect (aiomqtt's timeout)
TASKS_STOP_S = 5.0


class StartupError(Exception):
    """Something the user can change (a taken port, an unusable flag): one
    clear line and exit status 2, never a traceback."""


def _bindable(host: str, port: int) -> bool:
    """Free as the broker binds it (SO_REUSEADDR, as NATS does): a port whose
    last connections wait in TIME_WAIT after a stop is free to listen on."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def embedded_broker_port(explicit: int | None) -> int:
    if explicit is not None:
        if not _bindable("127.0.0.1", explicit):
            raise StartupError(
                f"MQTT port {explicit} on 127.0.0.1 is taken; choose another with "
                "--broker-port PORT (or EMON_BROKER_PORT), or use a running broker with --mqtt URL"
            )
        return explicit
    for port in EMBEDDED_PORTS:
        if _bindable("127.0.0.1", port):
            return port
    raise StartupError(
        f"MQTT ports {EMBEDDED_PORTS.start}-{EMBEDDED_PORTS.stop - 1} on 127.0.0.1 are all "
        "taken; choose one with --broker-port PORT, or use a running broker with --mqtt URL"
    )


def bind_http(host: str, port: int) -> socket.socket:
    """Bind the API's port before anything starts, so a taken port is a clear
    error and nothing claims to be serving."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise StartupError(
            f"HTTP port {port} on {host} cannot be used ({exc.strerror or exc}); "
            "choose another with --http HOST:PORT (or EMON_HTTP)"
        ) from exc
    sock.set_inheritable(True)
    return sock


Companion = Callable[[Runtime, Settings, Callable[[], None]], Coroutine[Any, Any, None]]


async def serve(settings: Settings, companion: Companion | None = None) -> None:
    """Run the service; ``companion`` (the demo) runs beside it with the
    runtime, the settings and a function that stops everything."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("uvicorn.access", "nats"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        host, http_port = settings.http_host_port
    except ValueError as exc:
        raise StartupError(str(exc)) from exc
    try:  # every setting is checked before anything starts
        config = settings.service_config()
        owntracks_keys = keys_from_config(config.get("owntracks", {}))
        policy = policy_from(config.get("policy", {}))
        oidc = Oidc.from_env(settings.env)
        routing = routing_from_config(config.get("routing", {}))
        first_told = FirstTold.from_config(config.get("first_told", {}))
        ladder = Ladder.from_config(config.get("escalation", {}))
        language = device_language(config.get("devices", {}))
        retention = Retention.from_config(config.get("retention", {}))
        reminders = reminder_policy(config.get("reminders", {}))
        webhooks = Webhooks(
            [
                Webhook(w["url"], tuple(w.get("channels", WEBHOOK_CHANNELS)), w.get("secret"))
                for w in config.get("webhooks", [])
            ]
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StartupError(f"configuration: {type(exc).__name__}: {exc}") from exc
    http_socket = bind_http(host, http_port)
    port = embedded_broker_port(settings.broker_port) if settings.mqtt_url is None else 0
    token_source = settings.ensure_admin_token()
    broker = None
    if settings.mqtt_url is None:
        try:
            broker = await asyncio.to_thread(EmbeddedNats.start, settings.workdir, port)
        except EmbeddedError as exc:
            raise StartupError(f"{exc}; choose another port with --broker-port PORT") from exc
        settings.mqtt_url = f"mqtt://127.0.0.1:{port}"
        settings.nats_urls = [broker.url]
        log.warning(
            "the embedded broker (NATS, MQTT on 127.0.0.1:%d) is for a demo on one machine: "
            "any local program may read and publish every topic; use Mosquitto with "
            "`emon provision`, or NATS servers of your own, for real devices",
            port,
        )
    store = open_store(
        settings.database_url, settings.workdir, settings.timescaledb, settings.compress_after_days
    )
    store.migrate()
    log.info("storage: %s", store.describe())
    writer = Writer(store, settings.workdir / "emon-spool.jsonl")
    anchors = AnchorLog(
        settings.workdir / ANCHORS_FILE,
        anchor_key(settings.workdir, settings.env.raw("EMON_ANCHOR_KEY")),
    )
    runtime = Runtime.open(
        store,
        writer,
        delivery=Delivery(
            routing,
            resend_after_s=settings.resend_after_s,
            max_attempts=settings.max_attempts,
            owntracks_keys=owntracks_keys,
            first_told=first_told,
            language=language,
        ),
        owntracks_keys=owntracks_keys,
        webhooks=webhooks,
        batch_max=settings.batch_max,
        batch_wait_s=settings.batch_wait_s,
        queue_limit=settings.queue_limit,
        retention=retention,
        reminders=reminders,
        policy=policy,
        ladder=ladder,
    )
    health: dict[str, Any] = {"mqtt": False}
    connected = asyncio.Event()
    nats_connected = asyncio.Event()
    member = None
    if settings.nats_urls:  # a worker: its slot before anything is chained
        member = await join_cluster(
            settings.nats_urls, runtime, nats_connected, settings.partitions,
            settings.nats_replicas, settings.recovery_window_s,
            # late bound: the server is made below, long before a slot can lapse
            lambda: setattr(server, "should_exit", True),
        )  # fmt: skip
        member.health = health
        if not settings.mqtt_client_id_set:  # a session of its own per slot
            settings.mqtt_client_id = f"emon-worker-{member.slot}"
    replayed = runtime.recover(settings.recovery_window_s)
    tokens = TokenBook(settings.admin_token, settings.env.get("EMON_TOKENS"), oidc)
    console = ConsoleSettings.from_config(config.get("console", {}), settings.env)
    app = create_app(runtime, tokens, health, console)
    https_cert = settings.env.raw("EMON_HTTP_CERT")
    # a stop must not wait on idle clients (over TLS a close waits for the peer)
    server = _Server(
        uvicorn.Config(
            app, host=host, port=http_port, log_level="warning", timeout_graceful_shutdown=3,
            ssl_certfile=https_cert, ssl_keyfile=settings.env.raw("EMON_HTTP_KEY"),
        )
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))

    async def watch_connection() -> None:
        while True:
            await asyncio.sleep(0.2)
            health["mqtt"] = connected.is_set()
            if settings.nats_urls:
                health["nats"] = nats_connected.is_set()

    def publish_head(payload: bytes) -> None:
        runtime.outbox.put_nowait(Outgoing(ANCHOR_TOPIC, payload))

    slot = member.slot if member is not None else 0
    writing = asyncio.create_task(writer.run())
    tasks = [
        _supervised(name, job, health)
        for name, job in (
            (
                "mqtt",
                run_mqtt(
                    settings.mqtt_url,
                    runtime,
                    settings.mqtt_client_id,
                    connected,
                    settings.env,
                    intake=not settings.nats_urls,
                ),
            ),
            *([("cluster", member.run())] if member is not None else []),
            ("ingest", runtime.run_ingest()),
            ("timers", runtime.run_timers()),
            ("retention", run_retention(store, runtime.retention)),
            ("storage_upkeep", run_upkeep(store, now_ms)),
            ("connection", watch_connection()),
            ("webhooks", webhooks.run()),
            ("anchoring", run_anchoring(store, anchors, publish_head, now_ms, slot=slot)),
        )
    ]
    database = settings.database_url or f"sqlite:///{settings.workdir / 'emon.db'}"
    nats_text = (
        f"NATS {', '.join(map(_redact, settings.nats_urls))}, " if settings.nats_urls else ""
    )
    serving = asyncio.create_task(server.serve(sockets=[http_socket]))
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if server.started:
            print(
                f"emon serving: {'https' if https_cert else 'http'}://{host}:{http_port} "
                "(console /, API docs /docs), "
                f"MQTT {_redact(settings.mqtt_url)}{' (embedded)' if broker else ''}, "
                f"{nats_text}"
                f"database {_redact(database)}; "
                f"{len(runtime.orders)} orders, {replayed} messages recovered",
                flush=True,
            )
            if token_source != "environment":
                verb = "written to" if token_source == "made" else "kept in"
                print(f"admin token {verb} {settings.admin_token_file}", flush=True)
            if companion is not None:

                async def accompany() -> None:
                    await connected.wait()
                    await companion(runtime, settings, lambda: setattr(server, "should_exit", True))

                tasks.append(asyncio.create_task(accompany()))
        await serving
    finally:
        log.info("stopping: HTTP first, then the background jobs, then storage")
        if not serving.done():
            server.should_exit = True
            with contextlib.suppress(Exception):
                await serving
        http_socket.close()
        for task in tasks:
            task.cancel()
        _, stuck = await asyncio.wait(tasks, timeout=TASKS_STOP_S)
        for task in stuck:  # cancelled once more: the rest of the stop goes on meanwhile
            log.warning("background task %s did not end within %.0f s of the stop",
                        task.get_name(), TASKS_STOP_S)  # fmt: skip
            task.cancel()
        inbox = runtime.ingest.inbox
        if inbox.qsize():
            pending = [inbox.get_nowait() for _ in range(inbox.qsize())]
            runtime.process(pending)
        log.info("stopping: background jobs ended; storing what is pending")
        await writer.close()
        await writing
        log.info("stopping: everything stored")
        # the last head, now that everything is stored: a truncation after a
        # clean stop shows too
        try:
            anchor_once(store.chain_head(slot), anchors, lambda payload: None, now_ms())
            if member is not None:
                await member.leave()  # everything is stored: the others take over now
                with contextlib.suppress(Exception):
                    await member.client.close()
        finally:  # the broker's ports are free when the process ends, whatever happened
            store.close()
            if broker is not None:
                broker.stop()


def _supervised(
    name: str, job: Coroutine[Any, Any, None], health: dict[str, Any]
) -> asyncio.Task[None]:
    """A background job that runs for as long as the service does: should it
    ever end, /healthz says so (degraded, with the reason) and the log too."""

    def ended(task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        reason = f"stopped: {type(error).__name__}: {error}" if error else "stopped"
        health.setdefault("tasks", {})[name] = reason
        log.error("background task %s %s", name, reason, exc_info=error)

    task = asyncio.create_task(job, name=f"emon-{name}")
    task.add_done_callback(ended)
    return task


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def run(settings: Settings) -> int:
    # `kill -USR1` prints every thread's stack to stderr: what a stuck
    # service waits on, without stopping it
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        asyncio.run(serve(settings))
    except StartupError as exc:
        print(f"emon serve: {exc}", file=sys.stderr)
        return 2
    return 0
