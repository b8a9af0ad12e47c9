"""Columnar decoding of the hot topic, ``emon/v1/fix/{device_id}``.

Per message only the msgspec decode runs in Python; range checks and
timestamp parsing run over the whole micro-batch in numpy. The checks and the
rejection reasons are those of ``messages.Decoder`` (the reference for every
other topic), so a fix is accepted or rejected the same way on either road.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np
from numpy.typing import NDArray

from emon.ingest.messages import MAX_MESSAGE_BYTES, Decoder, _FixPayload
from emon.timeutil import TimestampError, parse_ts

FIX_PREFIX = "emon/v1/fix/"
_decoder = msgspec.json.Decoder(_FixPayload)


@dataclass(slots=True)
class FixColumns:
    """Accepted fixes of single-fix messages, in message order."""

    message: NDArray[np.int64]  # index of the message in the batch
    device_id: list[str]
    seq: NDArray[np.int64]
    ts: NDArray[np.int64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    acc: NDArray[np.float64]  # NaN: none given
    batt: NDArray[np.float64]  # NaN: none given


def is_plain_fix(topic: str, payload: bytes) -> bool:
    return (
        topic.startswith(FIX_PREFIX)
        and len(topic) > len(FIX_PREFIX)
        and "/" not in topic[len(FIX_PREFIX) :]
        and len(payload) <= MAX_MESSAGE_BYTES
    )


def decode_fixes(
    decoder: Decoder, indices: list[int], recvs: list[int], topics: list[str], payloads: list[bytes]
) -> FixColumns:
    """Decode plain fix messages (see ``is_plain_fix``); rejections are logged."""
    keep: list[int] = []
    raws: list[_FixPayload] = []
    for k, payload in enumerate(payloads):
        try:
            raws.append(_decoder.decode(payload))
            keep.append(k)
        except msgspec.ValidationError as exc:
            decoder._reject_schema(recvs[k], topics[k], exc, payload)
        except msgspec.DecodeError as exc:
            decoder._reject(recvs[k], topics[k], "invalid_json", str(exc), payload)
    n = len(raws)
    lat = np.fromiter((r.lat for r in raws), np.float64, n)
    lon = np.fromiter((r.lon for r in raws), np.float64, n)
    acc = np.fromiter((np.nan if r.acc is None else r.acc for r in raws), np.float64, n)
    has_acc = np.fromiter((r.acc is not None for r in raws), bool, n)
    recv = np.fromiter((recvs[k] for k in keep), np.int64, n)
    ts = _timestamps([r.ts for r in raws])
    good = (
        (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0) & (~has_acc | ((acc >= 0) & (acc < np.inf)))
    )
    good &= ts != _BAD_TS
    good &= ts <= recv + decoder.future_skew_ms
    for j, raw in enumerate(raws):
        if raw.device_id is not None:
            good[j] &= raw.device_id == topics[keep[j]][len(FIX_PREFIX) :]
    for bad in np.flatnonzero(~good).tolist():
        k = keep[bad]
        _reject_like_reference(decoder, recvs[k], topics[k], payloads[k])
    ok = np.flatnonzero(good)
    return FixColumns(
        message=np.array([indices[keep[j]] for j in ok], dtype=np.int64),
        device_id=[topics[keep[j]][len(FIX_PREFIX) :] for j in ok],
        seq=np.fromiter((raws[j].seq for j in ok), np.int64, len(ok)),
        ts=ts[ok],
        lat=lat[ok],
        lon=lon[ok],
        acc=acc[ok],
        batt=np.fromiter(
            (np.nan if raws[j].batt is None else raws[j].batt for j in ok), float, len(ok)
        ),
    )


_BAD_TS = np.iinfo(np.int64).min


def _timestamps(texts: list[str]) -> NDArray[np.int64]:
    """RFC 3339 to epoch ms; numpy for the canonical ``...Z`` shape, the
    reference parser for anything else; _BAD_TS where unreadable."""
    canonical = all(len(t) in (20, 24) and t[10] == "T" and t[-1] == "Z" for t in texts)
    if canonical:
        try:
            return np.array([t[:-1] for t in texts], dtype="datetime64[ms]").astype(np.int64)
        except ValueError:
            pass
    out = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        try:
            out[i] = parse_ts(text)
        except TimestampError:
            out[i] = _BAD_TS
    return out


def _reject_like_reference(decoder: Decoder, recv: int, topic: str, payload: bytes) -> None:
    """A fix found bad in bulk: let the reference decoder name the reason."""
    decoder.decode(recv, topic, payload)
