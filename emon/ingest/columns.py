"""Columnar decoding of the hot topic, ``emon/v1/fix/{device_id}``.

Per message only the msgspec decode runs in Python; range checks and
timestamp parsing run over the whole micro-batch in numpy. The checks and the
rejection reasons are those of ``messages.Decoder`` (the reference for every
other topic), so a fix is accepted or rejected the same way on either road.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import msgspec
import numpy as np
from numpy.typing import NDArray

from emon import topics
from emon.ingest.messages import MAX_FIX_AGE_MS, MAX_MESSAGE_BYTES, Decoder, _FixPayload
from emon.timeutil import TimestampError, parse_ts

FIX_PREFIX = topics.FIX
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
    whole = _decode_together(payloads)
    if whole is not None:
        keep, raws = list(range(len(payloads))), whole
    else:
        keep, raws = _decode_one_by_one(decoder, recvs, topics, payloads)
    return _check(decoder, indices, recvs, topics, payloads, keep, raws)


def _decode_together(payloads: list[bytes]) -> list[_FixPayload] | None:
    """All payloads in one C call, as JSON lines; None unless every payload
    is one valid fix (then each is decoded one by one, to name the bad one).
    A payload with a newline of its own could span lines: it takes the slow road."""
    if not payloads or any(b"\n" in p for p in payloads):
        return None
    try:
        raws = _decoder.decode_lines(b"\n".join(payloads))
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None
    return raws if len(raws) == len(payloads) else None


def _decode_one_by_one(
    decoder: Decoder, recvs: list[int], topics: list[str], payloads: list[bytes]
) -> tuple[list[int], list[_FixPayload]]:
    keep: list[int] = []
    raws: list[_FixPayload] = []
    for k, payload in enumerate(payloads):
        raw = decoder._typed(_decoder, recvs[k], topics[k], payload)
        if raw is not None:
            raws.append(raw)
            keep.append(k)
    return keep, raws


def _check(
    decoder: Decoder,
    indices: list[int],
    recvs: list[int],
    topics: list[str],
    payloads: list[bytes],
    keep: list[int],
    raws: list[_FixPayload],
) -> FixColumns:
    """Range, time and device checks over the whole batch at once."""
    n = len(raws)
    numbers = np.array(list(map(_NUMBERS, raws)), dtype=np.float64).reshape(n, 4)  # None: NaN
    lat, lon, acc, batt = numbers.T
    seq = np.fromiter(map(_SEQ, raws), np.int64, n)
    recv = np.array(recvs, dtype=np.int64)[keep] if n else np.empty(0, np.int64)
    ts = _timestamps(list(map(_TS, raws)))
    with np.errstate(invalid="ignore"):
        good = (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0)
        good &= np.isnan(acc) | ((acc >= 0) & (acc < np.inf))
        good &= np.isnan(batt) | ((batt >= 0) & (batt <= 100))
    good &= np.isfinite(lat) & np.isfinite(lon)
    good &= ts != _BAD_TS
    good &= ts <= recv + decoder.future_skew_ms
    good &= ts >= recv - MAX_FIX_AGE_MS
    named = [j for j, d in enumerate(map(_DEVICE, raws)) if d is not None]
    for j in named:
        good[j] &= raws[j].device_id == topics[keep[j]][len(FIX_PREFIX) :]
    for bad in np.flatnonzero(~good).tolist():
        k = keep[bad]
        _reject_like_reference(decoder, recvs[k], topics[k], payloads[k])
    ok = np.flatnonzero(good)
    kept = np.array(keep, dtype=np.int64)[ok] if n else np.empty(0, np.int64)
    return FixColumns(
        message=np.array(indices, dtype=np.int64)[kept] if len(kept) else kept,
        device_id=[topics[k][len(FIX_PREFIX) :] for k in kept.tolist()],
        seq=seq[ok],
        ts=ts[ok],
        lat=lat[ok],
        lon=lon[ok],
        acc=acc[ok],
        batt=batt[ok],
    )


_NUMBERS = attrgetter("lat", "lon", "acc", "batt")
_SEQ = attrgetter("seq")
_TS = attrgetter("ts")
_DEVICE = attrgetter("device_id")
_BAD_TS = np.iinfo(np.int64).min


def _timestamps(texts: list[str]) -> NDArray[np.int64]:
    """RFC 3339 to epoch ms; numpy for the canonical ``...Z`` shape, the
    reference parser for anything else; _BAD_TS where unreadable."""
    if texts:
        strings = np.array(texts)
        length = np.char.str_len(strings)
        canonical = ((length == 20) | (length == 24)) & np.char.endswith(strings, "Z")
        canonical &= np.char.find(strings, "T") == 10
        if canonical.all():
            try:
                return np.char.rstrip(strings, "Z").astype("datetime64[ms]").astype(np.int64)
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
