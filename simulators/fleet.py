"""A fleet of offenders and victims with random walks: load and equivalence tests.

Offenders wander around a home point, mostly kilometres from their victims'
zones, some of them straying in; victims wander too. Deterministic for a seed.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from emon.engine import Message
from emon.timeutil import Millis, format_ts
from simulators.scenarios import T0


def fleet_orders(
    n_orders: int, seed: int = 0, centre: tuple[float, float] = (52.1, 5.1)
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    orders = []
    for i in range(n_orders):
        lat = centre[0] + rng.uniform(-1.0, 1.0)
        lon = centre[1] + rng.uniform(-1.5, 1.5)
        zones: list[dict[str, Any]] = [
            {
                "zone_id": f"Z-{i}-home",
                "type": "exclusion",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "radius_m": 1000,
                "prealert_m": 500,
            }
        ]
        if i % 2 == 0:
            d = 0.01
            square = [
                [lon + d, lat + 0.03],
                [lon + 3 * d, lat + 0.03],
                [lon + 3 * d, lat + 0.05],
                [lon + d, lat + 0.05],
                [lon + d, lat + 0.03],
            ]
            zones.append(
                {
                    "zone_id": f"Z-{i}-work",
                    "type": "exclusion",
                    "geometry": {"type": "Polygon", "coordinates": [square]},
                }
            )
        orders.append(
            {
                "order_id": f"OM-{i:06d}",
                "case_id": f"ZAAK-{i}",
                "risk": ["low", "medium", "high"][i % 3],
                "valid_from": "2026-11-01T00:00:00Z",
                "valid_until": "2027-05-01T00:00:00Z",
                "timezone": "Europe/Amsterdam",
                "offender": {"person_id": f"P-{i}", "device_id": f"am-{i:06d}"},
                "victims": [
                    {
                        "person_id": f"V-{i}",
                        "device_id": f"vd-{i:06d}",
                        "address": {"type": "Point", "coordinates": [lon, lat]},
                    }
                ],
                "zones": zones,
                "contact_ban": {"distance_m": 500, "prealert_m": 1000},
            }
        )
    return orders


def fleet_messages(
    orders: list[dict[str, Any]],
    n_fixes: int,
    seed: int = 0,
    interval_s: float = 30.0,
    stray: float = 0.05,
    t0: Millis = T0,
) -> list[Message]:
    """Fixes round-robin over all devices; ``stray`` of the offenders walk
    into their zones, the rest keep 3-8 km away."""
    rng = np.random.default_rng(seed)
    n_orders = len(orders)
    homes = np.array([o["zones"][0]["geometry"]["coordinates"] for o in orders])
    m_per_deg_lat = 111_320.0
    angle = rng.uniform(0, 2 * np.pi, n_orders)
    radius = np.where(
        rng.random(n_orders) < stray,
        rng.uniform(0, 1500, n_orders),
        rng.uniform(3000, 8000, n_orders),
    )
    devices = [o["offender"]["device_id"] for o in orders] + [
        o["victims"][0]["device_id"] for o in orders
    ]
    n_dev = len(devices)
    seq = np.zeros(n_dev, dtype=np.int64)
    messages: list[Message] = []
    rounds = int(np.ceil(n_fixes / n_dev))
    interval_ms = int(interval_s * 1000)
    for r in range(rounds):
        t = t0 + int(r * interval_s * 1000)
        angle += rng.normal(0, 0.05, n_orders)
        lat_off = radius * np.sin(angle) / m_per_deg_lat
        lon_off = radius * np.cos(angle) / (m_per_deg_lat * np.cos(np.radians(homes[:, 1])))
        for k in range(n_dev):
            if len(messages) >= n_fixes:
                break
            i = k % n_orders
            if k < n_orders:
                lat, lon = homes[i, 1] + lat_off[i], homes[i, 0] + lon_off[i]
            else:  # the victim stays near home
                lat, lon = homes[i, 1] + 0.001, homes[i, 0]
            seq[k] += 1
            ts = t + k * interval_ms // n_dev  # a round's fixes spread over its interval
            payload = {
                "seq": int(seq[k]),
                "ts": format_ts(ts),
                "lat": float(lat),
                "lon": float(lon),
                "acc": 8.0,
            }
            messages.append(
                Message(ts + 150, f"emon/v1/fix/{devices[k]}", json.dumps(payload).encode())
            )
    return messages
