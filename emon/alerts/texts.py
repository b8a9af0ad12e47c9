"""What devices are told, in Dutch and English.

A victim is told that there is danger and what to do, never where the
offender is or how far; an offender is told to turn back, never where the
victim is. No text holds a number (a distance would give a position away).
"""

from __future__ import annotations

from typing import Literal

Language = Literal["nl", "en"]
#: the language of a device whose person, order and configuration name none,
#: by the order's time zone: Dutch in the Netherlands, else English
BY_TIMEZONE: dict[str, Language] = {"Europe/Amsterdam": "nl"}
DEFAULT_LANGUAGE: Language = "en"


def language_of(timezone: str) -> Language:
    return BY_TIMEZONE.get(timezone, DEFAULT_LANGUAGE)


#: what a victim's device shows, by what is open for her
VICTIM: dict[Language, dict[str, str]] = {
    "en": {
        "alert": "Danger: the person you are protected from may be near. Go to a safe place "
        "now. The police have been alerted.",
        "prealert": "Be alert: the person you are protected from may be coming closer. Stay "
        "near other people or a safe place.",
        "panic": "Your alarm has been received. Help is on its way.",
        "clear": "The earlier warning has ended. Stay alert.",
    },
    "nl": {
        "alert": "Gevaar: de persoon tegen wie u beschermd wordt, is mogelijk dichtbij. Ga nu "
        "naar een veilige plek. De politie is gewaarschuwd.",
        "prealert": "Let op: de persoon tegen wie u beschermd wordt, komt mogelijk dichterbij. "
        "Blijf bij andere mensen of op een veilige plek.",
        "panic": "Uw alarm is ontvangen. Er komt hulp.",
        "clear": "De eerdere waarschuwing is voorbij. Blijf alert.",
    },
}
#: what an offender's device shows, by what is open for him
OFFENDER: dict[Language, dict[str, str]] = {
    "en": {
        "zone_prealert": "You are approaching an area you may not enter. Turn back now.",
        "contact_prealert": "You are too close to a person you may not approach. Move away now.",
        "clear": "The warning has ended.",
    },
    "nl": {
        "zone_prealert": "U nadert een gebied waar u niet mag komen. Keer nu om.",
        "contact_prealert": "U bent te dicht bij een persoon die u niet mag benaderen. Ga nu weg.",
        "clear": "De waarschuwing is voorbij.",
    },
}


def device_language(config: dict[str, object]) -> Language | None:
    """The config file's ``devices`` section: ``{"language": "nl"}`` (None:
    by each order's time zone)."""
    unknown = set(config) - {"language"}
    if unknown:
        raise ValueError(f"devices: unknown settings {sorted(unknown)}; known ['language']")
    language = config.get("language")
    if language is None:
        return None
    if language not in VICTIM:
        raise ValueError(f"devices: language must be one of {sorted(VICTIM)}, not {language!r}")
    return language


def victim_text(key: str, language: Language) -> str:
    return VICTIM[language][key]


def offender_text(key: str, language: Language) -> str:
    return OFFENDER[language][key]
