"""Write device traffic in the contract's replay format (one JSON line a message)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emon.timeutil import Millis, format_ts


@dataclass
class Recording:
    """Messages as a broker would have delivered them, with reception times."""

    lines: list[tuple[Millis, int, dict[str, Any]]] = field(default_factory=list)
    _seq: dict[str, int] = field(default_factory=dict)

    def next_seq(self, device_id: str) -> int:
        self._seq[device_id] = self._seq.get(device_id, 0) + 1
        return self._seq[device_id]

    def raw(self, recv: Millis, topic: str, payload: Any) -> None:
        self.lines.append((recv, len(self.lines), {"topic": topic, "payload": payload}))

    def fix(
        self,
        device_id: str,
        ts: Millis,
        lat: float,
        lon: float,
        acc: float | None = 8.0,
        recv: Millis | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        payload = self.fix_payload(device_id, ts, lat, lon, acc, **extra)
        self.raw(ts + 300 if recv is None else recv, f"emon/v1/fix/{device_id}", payload)
        return payload

    def fix_payload(
        self, device_id: str, ts: Millis, lat: float, lon: float, acc: float | None, **extra: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "seq": self.next_seq(device_id),
            "ts": format_ts(ts),
            "lat": round(lat, 7),
            "lon": round(lon, 7),
        }
        if acc is not None:
            payload["acc"] = round(acc, 1)
        payload.update(extra)
        return payload

    def batch(self, device_id: str, recv: Millis, payloads: list[dict[str, Any]]) -> None:
        self.raw(recv, f"emon/v1/fixes/{device_id}", payloads)

    def event(self, device_id: str, ts: Millis, kind: str, recv: Millis | None = None) -> None:
        payload = {"seq": self.next_seq(device_id + "#event"), "ts": format_ts(ts), "type": kind}
        self.raw(ts + 300 if recv is None else recv, f"emon/v1/event/{device_id}", payload)

    def sorted_lines(self) -> list[dict[str, Any]]:
        """In reception order (ties keep the order they were recorded in)."""
        return [
            {"recv": format_ts(recv), **body} for recv, _, body in sorted(self.lines, key=_by_recv)
        ]

    def write(self, path: Path) -> Path:
        with path.open("w") as out:
            for line in self.sorted_lines():
                out.write(json.dumps(line) + "\n")
        return path


def _by_recv(line: tuple[Millis, int, dict[str, Any]]) -> tuple[Millis, int]:
    return line[0], line[1]
