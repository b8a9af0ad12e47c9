"""The same evaluation as per-fix PostGIS queries: what a careful user would write.

Zones are stored projected (EPSG:28992, RD New: the fleet is in the
Netherlands; a circle as its centre with radius plus pre-alert ring as the
distance to test, not as a polygon) with a GiST index and a b-tree on the
device; every fix is
decoded and projected client-side (pyproj), then prepared statements update
the device's last position and count the zones it is in or within the
pre-alert ring of (``ST_DWithin``) and the contact-ban partners within their
distance. Two ways of sending: one round trip per fix, and
psycopg's pipeline mode (no waiting for the answers). Commits every 1,000
fixes. Plans are made once (``plan_cache_mode = force_generic_plan``):
planning with PostGIS's selectivity estimates costs far more than executing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
from pyproj import Transformer

from emon.engine import Message
from emon.timeutil import parse_ts

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "emon_bench_postgis"
COMMIT_EVERY = 1000

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE zones (device_id text NOT NULL, zone_id text NOT NULL,
                    geom geometry(Geometry, 28992) NOT NULL, prealert double precision NOT NULL);
CREATE TABLE bans (device_id text NOT NULL, other text NOT NULL,
                   distance double precision NOT NULL);
CREATE TABLE positions (device_id text PRIMARY KEY, geom geometry(Point, 28992) NOT NULL);
"""
INDEXES = """
CREATE INDEX zones_device ON zones (device_id);
CREATE INDEX zones_geom ON zones USING gist (geom);
CREATE INDEX bans_device ON bans (device_id);
ANALYZE zones; ANALYZE bans;
"""
#: per fix: the device's last position, then the zones it is in or near, then
#: the contact-ban partners within their distance (three prepared statements:
#: faster than one statement with CTEs, whose plan PostgreSQL handles worse)
POINT = "ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 28992)"
EVALUATE = (
    f"INSERT INTO positions (device_id, geom) VALUES (%(d)s, {POINT}) "
    "ON CONFLICT (device_id) DO UPDATE SET geom = excluded.geom",
    f"SELECT count(*) FROM zones WHERE device_id = %(d)s AND ST_DWithin(geom, {POINT}, prealert)",
    "SELECT count(*) FROM bans JOIN positions p ON p.device_id = bans.other "
    f"WHERE bans.device_id = %(d)s AND ST_DWithin(p.geom, {POINT}, bans.distance)",
)


def available() -> bool:
    try:
        with psycopg.connect(ADMIN, connect_timeout=3) as db:
            row = db.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
            return row is not None
    except psycopg.Error:
        return False


def setup(orders: list[dict[str, Any]]) -> str:
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = ADMIN.rsplit("/", 1)[0] + "/" + DATABASE
    with psycopg.connect(url) as db:
        for statement in filter(str.strip, SCHEMA.split(";")):
            db.execute(statement)
        with db.cursor() as cur:
            for order in orders:
                offender = order["offender"]["device_id"]
                for zone in order["zones"]:
                    # a circle stays its centre, reached within radius + pre-alert ring
                    reach = float(zone.get("radius_m") or 0) + float(zone.get("prealert_m") or 0)
                    cur.execute(
                        "INSERT INTO zones VALUES (%s, %s, ST_Transform(ST_SetSRID("
                        "ST_GeomFromGeoJSON(%s), 4326), 28992), %s)",
                        (offender, zone["zone_id"], json.dumps(zone["geometry"]), reach),
                    )
                ban = order.get("contact_ban")
                if ban:
                    for victim in order["victims"]:
                        pair = (offender, victim["device_id"], float(ban["distance_m"]))
                        cur.execute("INSERT INTO bans VALUES (%s, %s, %s)", pair)
                        cur.execute("INSERT INTO bans VALUES (%s, %s, %s)", (pair[1], *pair[::2]))
        for statement in filter(str.strip, INDEXES.split(";")):
            db.execute(statement)
    return url


def warm_up(url: str, first_fixes: list[Message]) -> None:
    """Every device's first position in place and the tables analysed, as in
    a running system (and as emon's side starts): a plan made over an empty
    positions table would scan it."""
    to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    with psycopg.connect(url) as db, db.cursor() as cur:
        db.execute("TRUNCATE positions")
        cur.executemany(EVALUATE[0], [_parameters(m, to_rd) for m in first_fixes])
        db.commit()
        db.execute("ANALYZE positions")
        db.commit()


def run(url: str, messages: list[Message]) -> float:
    """Fixes per second through PostGIS, a round trip each, decoding and
    projection included."""
    to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    with psycopg.connect(url) as db, db.cursor() as cur:
        db.execute("SET plan_cache_mode = force_generic_plan")
        start = time.perf_counter()
        for k, message in enumerate(messages):
            parameters = _parameters(message, to_rd)
            for statement in EVALUATE:
                cur.execute(statement, parameters, prepare=True)
            cur.fetchone()
            if k % COMMIT_EVERY == COMMIT_EVERY - 1:
                db.commit()
        db.commit()
        return len(messages) / (time.perf_counter() - start)


def run_pipelined(url: str, messages: list[Message]) -> float:
    """One pipeline for each commit batch: the answers are read at its end."""
    to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    with psycopg.connect(url) as db:
        db.execute("SET plan_cache_mode = force_generic_plan")
        start = time.perf_counter()
        for first in range(0, len(messages), COMMIT_EVERY):
            with db.pipeline(), db.cursor() as cur:
                for message in messages[first : first + COMMIT_EVERY]:
                    parameters = _parameters(message, to_rd)
                    for statement in EVALUATE:
                        cur.execute(statement, parameters, prepare=True)
            db.commit()
        return len(messages) / (time.perf_counter() - start)


def _parameters(message: Message, to_rd: Transformer) -> dict[str, Any]:
    """Decoded, time checked and projected on the client, as the engine does."""
    fix = json.loads(message.payload)
    parse_ts(fix["ts"])
    x, y = to_rd.transform(fix["lon"], fix["lat"])
    return {"x": x, "y": y, "d": message.topic.rsplit("/", 1)[1]}
