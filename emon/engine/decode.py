"""A micro-batch of raw messages into what the engine applies: plain fix
messages decoded column-wise (one pass, no per-fix JSON object), every other
message through the reference decoder, and all fixes as one ``FixBatch`` in
message order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from emon.engine.base import Message
from emon.engine.fastpath import FixBatch
from emon.geofence.frame import to_ecef
from emon.ingest.columns import decode_fixes, is_plain_fix
from emon.ingest.messages import Ack, Beacon, Decoder, Event, Fix


def decode_batch(
    decoder: Decoder,
    index: Mapping[str, int],
    default_accuracy_m: float,
    messages: Sequence[Message],
) -> tuple[FixBatch, dict[int, list[Event | Ack | Beacon]]]:
    """Plain fix messages column-wise; every other message through the
    reference decoder. Returns the fixes in message order (``index``: device
    id -> row, -1 for an unknown device; ``default_accuracy_m`` where a fix
    gives none), and the other messages' items (their fixes in the batch)."""
    plain = [i for i, m in enumerate(messages) if is_plain_fix(m.topic, m.payload)]
    plain_set = set(plain)
    columns = decode_fixes(
        decoder,
        plain,
        [messages[i].recv for i in plain],
        [messages[i].topic for i in plain],
        [messages[i].payload for i in plain],
    )
    others = {
        i: decoder.decode(m.recv, m.topic, m.payload)
        for i, m in enumerate(messages)
        if i not in plain_set
    }
    extra = [(i, f) for i, items in others.items() for f in items if isinstance(f, Fix)]
    n_extra = len(extra)
    message = np.concatenate(
        [columns.message, np.fromiter((i for i, _ in extra), np.int64, n_extra)]
    )
    order = np.argsort(message, kind="stable")
    device_ids = columns.device_id + [f.device_id for _, f in extra]

    def merged(values: NDArray[Any], attr: str, dtype: Any) -> NDArray[Any]:
        more = np.fromiter(
            (np.nan if getattr(f, attr) is None else getattr(f, attr) for _, f in extra),
            dtype,
            n_extra,
        )
        return np.concatenate([values, more])[order]

    lat = merged(columns.lat, "lat", np.float64)
    lon = merged(columns.lon, "lon", np.float64)
    acc = merged(columns.acc, "acc", np.float64)
    ids = [device_ids[k] for k in order.tolist()]
    recv_of = np.fromiter((m.recv for m in messages), np.int64, len(messages))
    batch = FixBatch(
        message=message[order],
        device_id=ids,
        dev=np.fromiter((index.get(d, -1) for d in ids), np.int64, len(ids)),
        seq=merged(columns.seq, "seq", np.int64),
        ts=merged(columns.ts, "ts", np.int64),
        recv=recv_of[message[order]] if len(message) else np.empty(0, np.int64),
        lat=lat,
        lon=lon,
        xyz=to_ecef(lat, lon) if len(lat) else np.empty((0, 3)),
        acc_given=acc,
        acc=np.where(np.isnan(acc), default_accuracy_m, acc),
        batt=merged(columns.batt, "batt", np.float64),
        buffered=np.concatenate(
            [
                np.zeros(len(columns.message), bool),
                np.fromiter((f.buffered for _, f in extra), bool, n_extra),
            ]
        )[order],
    )
    return batch, {i: [x for x in items if not isinstance(x, Fix)] for i, items in others.items()}
