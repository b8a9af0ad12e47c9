"""An evidence bundle as a self-contained HTML page, a PDF, and GIS files.

The map is drawn in metres around the order's first zone (an azimuthal
equidistant projection, exact in distance from its centre) by matplotlib,
embedded in the HTML as a data URI and in the PDF as an image: neither needs
anything from the network to be read years later.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from shapely.geometry import Point

from emon.geofence.lonlat import read_lonlat
from emon.geofence.metric import Metric
from emon.review.evidence import Bundle
from emon.review.report_texts import labels
from emon.timeutil import format_ts

WGS84 = "EPSG:4326"
FORMATS = ("html", "pdf", "geojson", "gpkg", "csv")


# -- data -----------------------------------------------------------------------------
def fixes_frame(bundle: Bundle) -> gpd.GeoDataFrame:
    rows = [dict(f, role="offender") for f in bundle.fixes]
    rows += [dict(f, role="victim") for f in bundle.victim_fixes]
    geometry = [Point(r["lon"], r["lat"]) for r in rows]
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=WGS84)


def zones_frame(bundle: Bundle) -> gpd.GeoDataFrame:
    rows, geometry = [], []
    for zone in bundle.order.get("zones", []):
        g = zone["geometry"]
        if g.get("type") == "Point":
            metric = Metric(*g["coordinates"][:2])
            shape_ = metric.unproject(metric.zone(g, zone.get("radius_m")))
        else:
            shape_ = read_lonlat(g)
        rows.append({"zone_id": zone["zone_id"], "type": zone["type"],
                     "radius_m": zone.get("radius_m"), "order_id": bundle.order_id,
                     "order_version": bundle.order_version})  # fmt: skip
        geometry.append(shape_)
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=WGS84)


def write(
    bundle: Bundle, out: Path, formats: tuple[str, ...] = FORMATS, lang: str = "en"
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    fixes, zones = fixes_frame(bundle), zones_frame(bundle)
    if "html" in formats:
        written.append(out / "report.html")
        written[-1].write_text(to_html(bundle, lang))
    if "pdf" in formats:
        written.append(out / "report.pdf")
        written[-1].write_bytes(to_pdf(bundle, lang))
    if "geojson" in formats:
        written.append(out / "fixes.geojson")
        written[-1].write_text(fixes.to_json(drop_id=True))
        written.append(out / "zones.geojson")
        written[-1].write_text(zones.to_json(drop_id=True))
    if "gpkg" in formats:
        written.append(out / "evidence.gpkg")
        if len(fixes):
            fixes.to_file(written[-1], layer="fixes", driver="GPKG")
        zones.to_file(written[-1], layer="zones", driver="GPKG")
    if "csv" in formats:
        written.append(out / "fixes.csv")
        fixes.drop(columns="geometry").to_csv(written[-1], index=False)
    return written


def to_bytes(bundle: Bundle, fmt: str, lang: str = "en") -> tuple[bytes, str]:
    """One format in memory, with its media type (for the HTTP API)."""
    if fmt == "html":
        return to_html(bundle, lang).encode(), "text/html; charset=utf-8"
    if fmt == "pdf":
        return to_pdf(bundle, lang), "application/pdf"
    if fmt == "geojson":
        return fixes_frame(bundle).to_json(drop_id=True).encode(), "application/geo+json"
    if fmt == "csv":
        text = fixes_frame(bundle).drop(columns="geometry").to_csv(index=False)
        return text.encode(), "text/csv; charset=utf-8"
    raise ValueError(f"unknown format {fmt!r} (one of html, pdf, geojson, csv)")


# -- the map ----------------------------------------------------------------------------
def map_png(bundle: Bundle) -> bytes:
    zones = zones_frame(bundle)
    fixes = fixes_frame(bundle)
    centre = _centre(bundle, zones, fixes)
    metric = Metric(*centre)
    fig = Figure(figsize=(7, 6), dpi=120)  # no pyplot: safe in the API's worker threads
    ax = fig.subplots()
    for zone in zones.itertuples():
        geometry = metric.project(zone.geometry)
        colour = "#c62828" if zone.type == "exclusion" else "#1565c0"
        for part in getattr(geometry, "geoms", [geometry]):
            x, y = part.exterior.xy
            ax.fill(x, y, color=colour, alpha=0.12)
            ax.plot(x, y, color=colour, lw=1.5, label=f"{zone.zone_id} ({zone.type})")
    confirming = {a["decision"].get("confirming_fix", {}).get("seq") for a in bundle.alerts}
    for role, colour in (("offender", "#e65100"), ("victim", "#6a1b9a")):
        track = fixes[fixes["role"] == role]
        if not len(track):
            continue
        points = metric.project(shapely.points(track["lon"], track["lat"]))
        x, y = shapely.get_x(points), shapely.get_y(points)
        ax.plot(x, y, "-o", color=colour, ms=3, lw=1, label=role)
        for px, py, acc in zip(x, y, track["acc_m"].fillna(0), strict=True):
            ax.add_patch(Circle((px, py), acc, color=colour, alpha=0.08, lw=0))
        if role == "offender":
            marked = track["seq"].isin(confirming).to_numpy()
            ax.plot(x[marked], y[marked], "o", mfc="none", mec="black", ms=9, mew=2,
                    label="confirming fix")  # fmt: skip
    ax.set_aspect("equal")
    ax.set_xlabel("metres east")
    ax.set_ylabel("metres north")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _centre(
    bundle: Bundle, zones: gpd.GeoDataFrame, fixes: gpd.GeoDataFrame
) -> tuple[float, float]:
    if len(zones):
        c = zones.geometry.iloc[0].centroid
        return float(c.x), float(c.y)
    if len(fixes):
        return float(fixes["lon"].iloc[0]), float(fixes["lat"].iloc[0])
    return 0.0, 0.0


# -- HTML -------------------------------------------------------------------------------
def _facts(bundle: Bundle, L: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (L["order"], f"{bundle.order_id} ({L['version'].format(v=bundle.order_version)})"),
        (L["period"], f"{_ts(bundle.start)} {L['to']} {_ts(bundle.end)}"),
        (L["generated"], _ts(bundle.generated_at)),
        (L["chain"], _chain_text(bundle.chain, L)),
        (L["head"], bundle.chain.get("head") or "-"),
    ]


def _fix_rows(bundle: Bundle) -> list[list[Any]]:
    return [[f["device_id"], f["seq"], f["ts"], f["received"], f"{f['lat']:.6f}",
             f"{f['lon']:.6f}", f["acc_m"]] for f in bundle.fixes]  # fmt: skip


def to_html(bundle: Bundle, lang: str = "en") -> str:
    L = labels(lang)
    image = base64.b64encode(map_png(bundle)).decode()
    e = html.escape
    parts = [
        f"<!doctype html><html lang='{'nl' if lang == 'nl' else 'en'}'><head><meta charset='utf-8'>"
        f"<title>{L['evidence']} {e(bundle.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{L['evidence']}: {e(bundle.title)}</h1>",
        _table(_facts(bundle, L)),
        f"<h2>{L['map']}</h2><img alt='map' src='data:image/png;base64,{image}'>",
        f"<h2>{L['alerts']}</h2>",
    ]
    for alert in bundle.alerts:
        parts.append(f"<h3>{e(alert['type'])} ({e(alert['severity'])}) {e(alert['alert_id'])}</h3>")
        parts.append(_table(_alert_rows(alert, L)))
    if not bundle.alerts:
        parts.append(f"<p>{L['no_alerts']}</p>")
    rows = exception_rows(bundle)
    parts.append(f"<h2>{L['exceptions']}</h2>")
    parts.append(_grid(L["exception_header"].split("|"), rows) if rows else f"<p>{L['none']}</p>")
    parts.append(f"<h2>{L['fixes']}</h2>")
    parts.append(_grid(L["fix_header"].split("|"), _fix_rows(bundle)))
    parts.append(f"<h2>{L['messages']}</h2>")
    parts.append(_grid(L["message_header"].split("|"),
                       [[m["received"], m["topic"], m["payload"], m["chain_seq"], m["hash"]]
                        for m in bundle.messages]))  # fmt: skip
    parts.append(f"<h2>{L['order_then']}</h2>")
    parts.append(f"<pre>{e(_pretty(bundle.order))}</pre></body></html>")
    return "\n".join(parts)


def exception_rows(bundle: Bundle) -> list[list[Any]]:
    """The exceptions of the order as it stood (suspensions, corridors)."""
    return [[x.get("zone_id"), x.get("kind"), x.get("from"), x.get("until"), x.get("reason"),
             x.get("approved_by")] for x in bundle.order.get("exceptions", [])]  # fmt: skip


def _alert_rows(alert: dict[str, Any], L: dict[str, str]) -> list[tuple[str, str]]:
    d = alert["decision"]
    rows = [(L["state"], alert["state"]), (L["started"], alert["started_at"]),
            (L["detected"], alert["detected_at"]), (L["ended"], alert.get("ended_at") or "-"),
            (L["late"], str(alert.get("late", False))), (L["rule"], d["rule"])]  # fmt: skip
    if d.get("zone_id"):
        rows.append((L["zone"], d["zone_id"]))
    if d.get("confirming_fix"):
        fix = d["confirming_fix"]
        rows.append((L["confirming"], L["confirming_at"].format(seq=fix["seq"], ts=fix["ts"])))
    for key, label in (("depth_m", "depth"), ("accuracy_m", "accuracy"),
                       ("required_depth_m", "required")):  # fmt: skip
        if key in d:
            rows.append((L[label], str(d[key])))
    if d.get("told"):
        told = d["told"]
        rows.append((L["told"], L["told_text"].format(
            agencies=", ".join(told.get("agencies", [])), offender=told.get("offender"),
            victim=told.get("victim"), after=told.get("victim_after_s", 0))))  # fmt: skip
    p = d["policy"]
    rows.append((L["thresholds"], L["thresholds_text"].format(
        n=p["confirm_fixes"], span=p["confirm_span_s"], c=p["clear_fixes"],
        h=p["exit_hysteresis_m"])))  # fmt: skip
    for action in alert.get("actions", []):
        note = f"{action.get('note', '')} {action.get('classification') or ''}"
        by = L["by"].format(at=action["at"], actor=action["actor"], note=note)
        rows.append((L["action"].format(a=action["action"]), by))
    return rows


def _chain_text(chain: dict[str, Any], L: dict[str, str]) -> str:
    shown = chain.get("shown") or {"checked": 0, "problems": []}
    if chain["intact"]:
        return L["intact"].format(checked=chain["checked"], first=chain["first_seq"],
                                  last=chain["last_seq"], shown=shown["checked"])  # fmt: skip
    problems = chain["problems"] + shown["problems"]
    return L["not_intact"].format(n=len(problems), problems=problems[:5])


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table class='facts'>{cells}</table>"


def _grid(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table class='grid'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _ts(ms: int) -> str:
    return format_ts(ms)


_CSS = """body{font:13px/1.4 system-ui,sans-serif;margin:2rem;color:#111;max-width:70rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .4rem;
text-align:left;vertical-align:top}
table.grid td{font:11px ui-monospace,monospace;word-break:break-all}
table.facts th{background:#f2f4f6;width:14rem}img{max-width:100%;border:1px solid #ccc}
pre{background:#f6f8fa;padding:.6rem;font-size:11px}"""


# -- PDF --------------------------------------------------------------------------------
def to_pdf(bundle: Bundle, lang: str = "en") -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    L = labels(lang)
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7, leading=8)
    e = html.escape

    def table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
        cells = [[Paragraph(e(str(c)), small) for c in row] for row in rows]
        t = Table(cells, colWidths=widths, repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))  # fmt: skip
        return t

    story: list[Any] = [
        Paragraph(e(f"{L['evidence']}: {bundle.title}"), styles["Title"]),
        table([list(row) for row in _facts(bundle, L)], [4 * cm, 13 * cm]),
        Spacer(1, 0.4 * cm),
        Image(io.BytesIO(map_png(bundle)), width=14 * cm, height=12 * cm),
        Paragraph(L["alerts"], styles["Heading2"]),
    ]
    for alert in bundle.alerts:
        story.append(Paragraph(e(f"{alert['type']} ({alert['severity']}) {alert['alert_id']}"),
                               styles["Heading3"]))  # fmt: skip
        story.append(table([list(r) for r in _alert_rows(alert, L)], [5 * cm, 12 * cm]))
    if not bundle.alerts:
        story.append(Paragraph(L["no_alerts"], small))
    story.append(Paragraph(L["exceptions"], styles["Heading2"]))
    rows = exception_rows(bundle)
    story.append(table([L["exception_header"].split("|"), *rows]) if rows
                 else Paragraph(L["none"], small))  # fmt: skip
    story.append(Paragraph(L["fixes"], styles["Heading2"]))
    story.append(table([L["fix_header"].split("|"), *_fix_rows(bundle)]))
    story.append(Paragraph(L["messages"], styles["Heading2"]))
    received, topic, _, link, digest = L["message_header"].split("|")
    story.append(table([[received, topic, link, digest]]
                       + [[m["received"], m["topic"], m["chain_seq"], m["hash"]]
                          for m in bundle.messages],
                       [3.5 * cm, 4 * cm, 1.5 * cm, 8 * cm]))  # fmt: skip
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=f"{L['evidence']} {bundle.title}").build(story)
    return buffer.getvalue()
