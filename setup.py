"""Build hooks: the console's map library goes inside the package.

Leaflet comes from the npm registry (``package.json``, pinned by
``package-lock.json``). When an sdist or a wheel is built, its ``dist`` files
are copied into ``emon/console/vendor/leaflet`` (running ``npm ci`` first if
``node_modules`` is missing), so that an installed emon serves its map with
no npm, no repository and no CDN. An sdist carries the copy, so a wheel built
from it needs no npm either. Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
VENDORED = HERE / "emon" / "console" / "vendor" / "leaflet"
#: the files the console loads, and the marker images its CSS names
WANTED = ("leaflet.js", "leaflet.css", "images")


def vendor_leaflet() -> None:
    """Copy Leaflet from node_modules (refreshed at every build from a
    checkout); an unpacked sdist has only its own copy, which is kept."""
    dist = HERE / "node_modules" / "leaflet" / "dist"
    if not (dist / "leaflet.js").exists() and (VENDORED / "leaflet.js").exists():
        return
    npm = shutil.which("npm")
    if not (dist / "leaflet.js").exists() and npm and (HERE / "package-lock.json").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True
        )
    if not (dist / "leaflet.js").exists():
        print(
            "warning: no Leaflet (npm not found, no node_modules): "
            "the console of this build has no map",
            file=sys.stderr,
        )
        return
    VENDORED.mkdir(parents=True, exist_ok=True)
    for name in WANTED:
        source = dist / name
        if source.is_dir():
            shutil.copytree(source, VENDORED / name, dirs_exist_ok=True)
        else:
            shutil.copy2(source, VENDORED / name)


class BuildPy(build_py):
    def run(self) -> None:
        vendor_leaflet()
        super().run()


class Sdist(sdist):
    def run(self) -> None:
        vendor_leaflet()
        super().run()


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
