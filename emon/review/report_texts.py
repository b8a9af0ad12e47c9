"""The words of evidence reports, in English and Dutch (the reader chooses)."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "nl"]

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "evidence": "Evidence", "order": "Order", "period": "Period", "generated": "Generated",
        "chain": "Evidence chain", "head": "Chain head", "map": "Map",
        "version": "version {v}, as in force then", "to": "to",
        "alerts": "Alerts and why emon raised them", "no_alerts": "No alerts in this period.",
        "exceptions": "Authorised exceptions (what they cover raised no alert)", "none": "None.",
        "fixes": "Fixes (raw, with accuracy)",
        "messages": "Received messages with their chain links",
        "order_then": "The order as it stood", "state": "State",
        "started": "Started (event time)", "detected": "Detected", "ended": "Ended",
        "late": "Late", "rule": "Rule", "zone": "Zone", "confirming": "Confirming fix",
        "confirming_at": "#{seq} at {ts}", "depth": "Depth into the condition (m)",
        "accuracy": "Accuracy (m)", "required": "Depth required (m)", "thresholds": "Thresholds",
        "told": "Who was told", "told_text": "agencies: {agencies}; offender: {offender}; "
        "victim: {victim} (after {after} s where held back)",
        "thresholds_text": "confirmed after {n} fixes over at least {span} s; cleared after {c} "
        "fixes {h} m outside",
        "action": "Action {a}", "by": "{at} by {actor}: {note}",
        "intact": "intact: {checked} links checked ({first}-{last}); each of the {shown} rows "
        "shown here verified against its own link",
        "not_intact": "NOT INTACT: {n} problems: {problems}",
        "exception_header": "zone|kind|from|until|reason|approved by",
        "fix_header": "device|seq|time|received|lat|lon|accuracy m",
        "message_header": "received|topic|payload|link|SHA-256",
    },
    "nl": {
        "evidence": "Bewijs", "order": "Maatregel", "period": "Periode", "generated": "Opgesteld",
        "chain": "Bewijsketen", "head": "Kop van de keten", "map": "Kaart",
        "version": "versie {v}, zoals toen van kracht", "to": "tot",
        "alerts": "Meldingen en waarom emon ze gaf", "no_alerts": "Geen meldingen in deze periode.",
        "exceptions": "Toegestane uitzonderingen (wat zij dekken gaf geen melding)",
        "none": "Geen.", "fixes": "Posities (onbewerkt, met nauwkeurigheid)",
        "messages": "Ontvangen berichten met hun schakels in de keten",
        "order_then": "De maatregel zoals die toen gold", "state": "Status",
        "started": "Begonnen (tijd van de gebeurtenis)", "detected": "Vastgesteld",
        "ended": "Beëindigd", "late": "Laat", "rule": "Regel", "zone": "Zone",
        "confirming": "Bevestigende positie", "confirming_at": "#{seq} om {ts}",
        "depth": "Diepte in de overtreding (m)", "accuracy": "Nauwkeurigheid (m)",
        "required": "Vereiste diepte (m)", "thresholds": "Drempels",
        "told": "Wie is ingelicht", "told_text": "instanties: {agencies}; dader: {offender}; "
        "slachtoffer: {victim} (na {after} s waar uitgesteld)",
        "thresholds_text": "bevestigd na {n} posities over minstens {span} s; beëindigd na {c} "
        "posities {h} m erbuiten",
        "action": "Handeling {a}", "by": "{at} door {actor}: {note}",
        "intact": "intact: {checked} schakels gecontroleerd ({first}-{last}); elk van de {shown} "
        "hier getoonde rijen gecontroleerd tegen de eigen schakel",
        "not_intact": "NIET INTACT: {n} problemen: {problems}",
        "exception_header": "zone|soort|van|tot|reden|goedgekeurd door",
        "fix_header": "apparaat|volgnr|tijd|ontvangen|lat|lon|nauwkeurigheid m",
        "message_header": "ontvangen|onderwerp|inhoud|schakel|SHA-256",
    },
}  # fmt: skip


def labels(lang: str) -> dict[str, str]:
    return LABELS["nl" if lang == "nl" else "en"]
