"""Serving the operator console: its own files, and the map library from npm.

The console is plain HTML and JavaScript in ``emon/console`` (no build step).
Leaflet comes from the npm registry: an installed package carries a copy in
``emon/console/vendor/leaflet`` (made when the package is built, see
``setup.py``); a checkout serves it from ``node_modules`` (``npm ci``, run by
``make setup``). Nothing is fetched from a CDN at run time. The tile URL is
configuration: without reachable tiles the map falls back to a plain
background, zones and tracks still drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from emon.config import Config

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
REPOSITORY = Path(__file__).resolve().parents[2]
#: PDOK's BRT-Achtergrondkaart (the Dutch base map) in web mercator
PDOK_BRT = (
    "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png"
)
PDOK_ATTRIBUTION = "Kaartgegevens &copy; Kadaster (PDOK)"


#: the copy a built package carries
PACKAGED_LEAFLET = CONSOLE_DIR / "vendor" / "leaflet"


@dataclass
class ConsoleSettings:
    #: an XYZ tile URL; empty: no tiles, the plain background only
    tiles: str = PDOK_BRT
    attribution: str = PDOK_ATTRIBUTION
    #: the interface language a browser gets before it chooses (nl or en)
    lang: str = "nl"
    node_modules: Path = REPOSITORY / "node_modules"

    @classmethod
    def from_config(cls, config: dict[str, Any], env: Config | None = None) -> ConsoleSettings:
        """The environment (EMON_TILES, EMON_LANG, EMON_NODE_MODULES), then the
        config file's ``console`` section."""
        env = env or Config()
        settings = cls(
            tiles=PDOK_BRT if env.env.get("EMON_TILES") is None else env.env["EMON_TILES"],
            lang=env.get("EMON_LANG"),
            node_modules=env.get("EMON_NODE_MODULES") or REPOSITORY / "node_modules",
        )
        for key in ("tiles", "attribution", "lang"):
            if key in config:
                setattr(settings, key, str(config[key]))
        return settings

    def public(self) -> dict[str, Any]:
        return {
            "tiles": self.tiles,
            "attribution": self.attribution,
            "lang": self.lang,
            "map": self.leaflet is not None,
        }

    @property
    def leaflet(self) -> Path | None:
        for dist in (PACKAGED_LEAFLET, self.node_modules / "leaflet" / "dist"):
            if (dist / "leaflet.js").exists():
                return dist
        return None


def mount_console(app: FastAPI, settings: ConsoleSettings) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(CONSOLE_DIR / "index.html")

    leaflet = settings.leaflet
    if leaflet is not None:
        app.mount("/console/vendor/leaflet", StaticFiles(directory=leaflet), name="leaflet")
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR), name="console")
