"""`pip install emon` as a newcomer does it: a wheel in a fresh venv, no extras, no npm.

The wheel is built from this checkout (its build copies Leaflet from the npm
registry's package into the package), installed into a new virtual
environment without the dev extras, and run from an empty folder far from
the repository: the demo must finish, and the console and the API docs must
load every script and stylesheet they name from the installed emon alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.integration.serve import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None and not (REPOSITORY / "node_modules").exists():
        if os.environ.get("EMON_REQUIRE_SERVICES"):
            pytest.fail("npm is needed to build the wheel (the console's map library)")
        pytest.skip("npm is not installed")
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root), str(REPOSITORY)],
        check=True,
        timeout=600,
    )
    (wheel,) = root.glob("emon-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "emon/console/vendor/leaflet/leaflet.js" in names
    assert "emon/console/vendor/leaflet/images/marker-icon.png" in names
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)],
        check=True,
        timeout=900,
    )
    return venv / "bin"


def _clean_env() -> dict[str, str]:
    """No checkout on the path, no node_modules pointer: only what was installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMON_")}
    env.pop("PYTHONPATH", None)
    return env


def test_installed_demo_runs(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(installed / "emon"), "demo", "--duration", "20", "--http", f"127.0.0.1:{free_port()}"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = result.stdout.rsplit("alerts seen:", 1)[1]
    assert "panic" in summary and "zone_prealert" in summary, result.stdout


def test_installed_console_and_docs_load_everything_they_name(
    installed: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [str(installed / "emon"), "serve", "--http", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while "emon serving" not in (tmp_path / "serve.log").read_text():
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.time() < deadline, "emon serve did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as client:
            for page in ("/", "/docs"):
                html = client.get(page)
                assert html.status_code == 200, page
                assets = ASSET.findall(html.text)
                assert assets, page
                for url in assets:
                    # nothing from outside the machine (tiles are the console's setting)
                    assert url.startswith("/"), f"{page} loads {url}"
                    answer = client.get(url)
                    assert answer.status_code == 200 and answer.content, f"{page}: {url}"
            assert "/console/vendor/leaflet/leaflet.js" in client.get("/").text
            config = client.get("/api/v1/console/config").json()
            assert config["map"] is True
            assert client.get("/openapi.json").json()["info"]["title"] == "emon"
    finally:
        process.terminate()
        process.wait(timeout=30)
