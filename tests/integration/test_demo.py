"""`emon demo` on a fresh folder: the expected alerts within half a minute."""

from __future__ import annotations

import subprocess
import sys

from tests.integration.serve import free_port


def test_demo_shows_every_case_in_30_seconds(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emon",
            "demo",
            "--duration",
            "30",
            "--http",
            f"127.0.0.1:{free_port()}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    summary = out.rsplit("alerts seen:", 1)[1]
    for kind in (
        "panic",
        "zone_violation 2",
        "zone_prealert 2",
        "contact_violation",
        "signal_lost",
    ):
        assert kind in summary.replace("\n", " "), out
    assert "Your alarm has been received" in out and "Turn back now" in out
    assert "Traceback" not in result.stderr
    assert (tmp_path / "emon-demo" / "emon.db").exists()
