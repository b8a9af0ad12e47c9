"""The words of validation findings, in English and Dutch.

The people reading them (public prosecutors, reclassering) are Dutch; every
message says what is wrong, why it matters, and what would be enforceable.
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "invalid_geometry": {
        "en": "Zone {zone_id} cannot be used: {detail}.",
        "nl": "Zone {zone_id} is onbruikbaar: {detail}.",
    },
    "invalid_validity": {
        "en": "The order ends ({valid_until}) before or when it starts ({valid_from}).",
        "nl": "Het bevel eindigt ({valid_until}) voor of op het moment dat het ingaat ({valid_from}).",
    },
    "protected_margin": {
        "en": "The victim's address ({person_id}) lies only {measured:.0f} m inside the edge of "
        "exclusion zone {zone_id}; the guideline asks {required:.0f} m straight line, so that the "
        "alarm comes while the offender is still far enough away for police to act.",
        "nl": "Het adres van het slachtoffer ({person_id}) ligt maar {measured:.0f} m binnen de rand "
        "van gebiedsverbod {zone_id}; de richtlijn vraagt {required:.0f} m hemelsbreed, zodat het "
        "alarm komt terwijl de verdachte nog ver genoeg weg is om de politie te laten ingrijpen.",
    },
    "residence_clearance": {
        "en": "The offender's residence lies {where} exclusion zone {zone_id}; the guideline asks "
        "{required:.0f} m from its edge, or the zone alarms whenever he is at home.",
        "nl": "De woning van de verdachte ligt {where} gebiedsverbod {zone_id}; de richtlijn vraagt "
        "{required:.0f} m tot de rand, anders alarmeert de zone zodra hij thuis is.",
    },
    "zone_conflict": {
        "en": "Inclusion zone {zone_id} and exclusion zone {other} overlap while both apply "
        "({when}): the offender cannot comply in the overlap.",
        "nl": "Gebiedsgebod {zone_id} en gebiedsverbod {other} overlappen terwijl beide gelden "
        "({when}): in de overlap kan de verdachte zich er niet aan houden.",
    },
    "schedule_conflict": {
        "en": "Inclusion zones {zone_id} and {other} lie apart but apply at the same time ({when}): "
        "the offender cannot be in both.",
        "nl": "Gebiedsgeboden {zone_id} en {other} liggen uit elkaar maar gelden tegelijk ({when}): "
        "de verdachte kan niet op twee plaatsen zijn.",
    },
    "zone_too_narrow": {
        "en": "Zone {zone_id} is only {measured:.0f} m wide; below {required:.0f} m GPS error "
        "alone decides whether he is in or out.",
        "nl": "Zone {zone_id} is maar {measured:.0f} m breed; onder {required:.0f} m bepaalt de "
        "GPS-afwijking alleen of hij erin of eruit is.",
    },
    "zone_narrow": {
        "en": "Zone {zone_id} is {measured:.0f} m wide; below {required:.0f} m expect false "
        "alarms from GPS error in built-up areas.",
        "nl": "Zone {zone_id} is {measured:.0f} m breed; onder {required:.0f} m zijn valse alarmen "
        "door GPS-afwijking in bebouwd gebied te verwachten.",
    },
    "inclusion_too_small": {
        "en": "Inclusion zone {zone_id} is only {measured:.0f} m across; indoor GPS jitter at home "
        "needs {required:.0f} m, or he is reported absent while asleep.",
        "nl": "Gebiedsgebod {zone_id} is maar {measured:.0f} m breed; binnenshuis verspringt GPS, "
        "daarvoor is {required:.0f} m nodig, anders lijkt hij afwezig terwijl hij slaapt.",
    },
    "contact_ban_distance": {
        "en": "The contact ban distance is {measured:.0f} m; the guideline asks {required:.0f} m "
        "so that the victim's device warns in time to get to safety.",
        "nl": "De afstand van het contactverbod is {measured:.0f} m; de richtlijn vraagt "
        "{required:.0f} m zodat het slachtofferdevice op tijd waarschuwt.",
    },
    "contact_ban_prealert": {
        "en": "The contact ban's pre-alert ({measured:.0f} m) is not beyond its distance "
        "({required:.0f} m): there is no warning before the violation.",
        "nl": "De voorwaarschuwing van het contactverbod ({measured:.0f} m) ligt niet buiten de "
        "afstand ({required:.0f} m): er komt geen waarschuwing voor de overtreding.",
    },
    "contact_ban_without_device": {
        "en": "A contact ban needs a victim device to measure the distance to; no victim has one.",
        "nl": "Een contactverbod vraagt een slachtofferdevice om de afstand toe te meten; geen "
        "slachtoffer heeft er een.",
    },
    "offender_device_missing": {
        "en": "The offender has no device: nothing in this order can be enforced electronically.",
        "nl": "De verdachte heeft geen enkelband: niets van dit bevel is elektronisch te handhaven.",
    },
    "prealert_covers_residence": {
        "en": "The pre-alert ring of zone {zone_id} covers the offender's residence: he would be "
        "warned whenever he is at home.",
        "nl": "De voorwaarschuwingsring van zone {zone_id} omvat de woning van de verdachte: hij "
        "krijgt een waarschuwing zodra hij thuis is.",
    },
    "regular_place_excluded": {
        "en": "The offender's regular place '{name}' lies inside exclusion zone {zone_id}.",
        "nl": "De vaste plek '{name}' van de verdachte ligt in gebiedsverbod {zone_id}.",
    },
    "residence_cut_off": {
        "en": "Exclusion zones block {share:.0%} of the directions out of the offender's residence "
        "within {radius:.0f} m: check that he can still reach work, shops and care.",
        "nl": "Gebiedsverboden blokkeren {share:.0%} van de richtingen vanuit de woning van de "
        "verdachte binnen {radius:.0f} m: ga na of werk, winkels en zorg bereikbaar blijven.",
    },
    "zone_far_from_order": {
        "en": "Zone {zone_id} lies {measured:.0f} km from every address in the order{hint}.",
        "nl": "Zone {zone_id} ligt {measured:.0f} km van elk adres in het bevel{hint}.",
    },
    "suggest_radius": {
        "en": "A radius of {radius:.0f} m around the same centre keeps the victim's address "
        "{margin:.0f} m inside the edge.",
        "nl": "Een straal van {radius:.0f} m rond hetzelfde middelpunt houdt het adres van het "
        "slachtoffer {margin:.0f} m binnen de rand.",
    },
    "suggest_buffer": {
        "en": "The zone widened to {margin:.0f} m around the victim's address (geometry given).",
        "nl": "De zone verruimd tot {margin:.0f} m rond het adres van het slachtoffer (geometrie "
        "bijgevoegd).",
    },
    "suggest_reshape": {
        "en": "No zone can keep {margin:.0f} m around the victim and {clearance:.0f} m from the "
        "offender's residence: {d:.0f} m apart. Consider a contact ban with a victim device (a "
        "zone that moves with the victim); the geometry given is the zone reshaped away from the "
        "residence.",
        "nl": "Geen zone houdt {margin:.0f} m rond het slachtoffer en {clearance:.0f} m van de "
        "woning van de verdachte: ze liggen {d:.0f} m uit elkaar. Overweeg een contactverbod met "
        "slachtofferdevice (een zone die met het slachtoffer meebeweegt); de bijgevoegde geometrie "
        "is de zone weg van de woning gevormd.",
    },
    "suggest_contact_distance": {
        "en": "A contact ban distance of {distance:.0f} m.",
        "nl": "Een afstand van {distance:.0f} m voor het contactverbod.",
    },
}


def say(code: str, lang: str, **values: Any) -> str:
    template = TEXTS[code].get(lang) or TEXTS[code]["en"]
    return template.format(**values)
