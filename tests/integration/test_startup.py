"""Starting `emon serve` as a newcomer does: taken ports, a pinned broker port, a kept token."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.integration.serve import free_port


def serve(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EMON_")}
    return subprocess.Popen(
        [sys.executable, "-m", "emon", "serve", *args],
        cwd=workdir,
        env={**clean, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_serving(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.time() + 30
    lines = []
    while time.time() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith("admin token"):  # the last line `emon serve` prints once it serves
            return "".join(lines)
        assert process.poll() is None, "".join(lines) + (
            process.stderr.read() if process.stderr else ""
        )
    raise AssertionError("".join(lines))


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)


def refused(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EMON_")}
    return subprocess.run([sys.executable, "-m", "emon", "serve", *args], cwd=workdir, env=clean,
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def test_a_taken_http_port_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = refused(tmp_path, "--http", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert "emon serving" not in result.stdout
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert f"HTTP port {port}" in line and "--http" in line
    assert "Traceback" not in result.stderr


def test_a_taken_broker_port_names_the_flag(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = refused(tmp_path, "--http", f"127.0.0.1:{free_port()}", "--broker-port", str(port))
    assert result.returncode == 2 and "emon serving" not in result.stdout
    assert f"MQTT port {port}" in result.stderr and "--broker-port" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "emon-admin-token").exists()  # nothing made before refusing


def test_the_broker_port_is_pinned_and_the_admin_token_kept_across_restarts(tmp_path: Path) -> None:
    http, mqtt = free_port(), free_port()
    args = ("--http", f"127.0.0.1:{http}", "--broker-port", str(mqtt))
    first = serve(tmp_path, *args)
    try:
        out = wait_serving(first)
        assert re.search(rf"MQTT mqtt://127\.0\.0\.1:{mqtt} \(embedded\)", out), out
        assert "admin token written to" in out
        assert first.stderr is not None
        token_file = tmp_path / "emon-admin-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        ok = httpx.get(f"http://127.0.0.1:{http}/api/v1/whoami",
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert ok.status_code == 200 and ok.json()["role"] == "admin"
    finally:
        stop(first)
    # and it said loudly that the embedded broker is for a demo, open to local programs
    log = first.stderr.read() if first.stderr else ""
    assert "for a demo on one machine" in log and "any local program" in log
    again = serve(tmp_path, *args)
    try:
        out = wait_serving(again)
        assert "admin token kept in" in out
        assert (tmp_path / "emon-admin-token").read_text().strip() == token
        ok = httpx.get(f"http://127.0.0.1:{http}/api/v1/whoami",
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert ok.status_code == 200
    finally:
        stop(again)
