"""A validation report as plain text for people."""

from __future__ import annotations

from emon.geofence.validation import Report

WORDS = {
    "en": {
        "yes": "enforceable",
        "no": "NOT enforceable",
        "error": "ERROR",
        "warning": "warning",
        "suggest": "Suggestion",
    },
    "nl": {
        "yes": "handhaafbaar",
        "no": "NIET handhaafbaar",
        "error": "FOUT",
        "warning": "waarschuwing",
        "suggest": "Voorstel",
    },
}


def as_text(report: Report, lang: str = "en") -> str:
    w = WORDS.get(lang, WORDS["en"])
    lines = [f"{report.order_id}: {w['yes'] if report.enforceable else w['no']}"]
    for f in report.findings:
        where = f" [{f.zone_id}]" if f.zone_id else ""
        lines.append(f"  {w[f.severity]}{where} {f.code}: {f.message}")
    for s in report.suggestions:
        where = f" [{s.zone_id}]" if s.zone_id else ""
        lines.append(f"  {w['suggest']}{where}: {s.message}")
    return "\n".join(lines)
