"""What each reader may see of an order: victims' addresses and phone numbers,
the offender's residence, places and number, by what the reader's role allows."""

from __future__ import annotations

import copy
from typing import Any

from emon.orders import Order


def as_seen_by(
    body: dict[str, Any], victim: bool, offender: bool, phones: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """An order as a reader may see it: the victims' addresses only with sight
    of the victim, the offender's residence and places only with sight of the
    offender, phone numbers only for those who call (``phones``). Returns the
    copy and what it still holds of these (for the audit). Zones stay:
    supervising an order means knowing its zones."""
    out = copy.deepcopy(body)
    shown: list[str] = []
    for victim_entry in out.get("victims") or []:
        if not isinstance(victim_entry, dict):
            continue
        for key, allowed, name in (("address", victim, "victim_addresses"),
                                   ("phone", phones, "victim_phones")):  # fmt: skip
            if key in victim_entry:
                if allowed:
                    shown.append(name)
                else:
                    victim_entry.pop(key)
    person = out.get("offender")
    if isinstance(person, dict):
        for key, allowed in (("residence", offender), ("places", offender), ("phone", phones)):
            if key in person:
                if allowed:
                    shown.append(f"offender_{key}")
                else:
                    person.pop(key)
    return out, sorted(set(shown))


def contacts(order: Order) -> list[dict[str, str]]:
    """Whom the centre can call about an order, with the number: the victims
    first (she is warned first), then the offender."""
    out = [{"party": "victim", "person_id": v.person_id, "phone": v.phone}
           for v in order.victims if v.phone]  # fmt: skip
    if order.offender.phone:
        out.append({"party": "offender", "person_id": order.offender.person_id,
                    "phone": order.offender.phone})  # fmt: skip
    return out
