// Maps with Leaflet (from npm, served by emon): zones, tracks, accuracy circles.
// Without reachable tiles the map keeps a plain background; what emon draws stays.
"use strict";

const MAP_CONFIG = { tiles: "", attribution: "", map: false };

function makeMap(element) {
  if (!window.L) {
    element.classList.add("plain");
    element.textContent = t("no_map");
    return null;
  }
  const map = L.map(element, { preferCanvas: false }).setView([52.1, 5.3], 8);
  element.classList.add("plain");
  if (MAP_CONFIG.tiles) {
    let failed = 0;
    const layer = L.tileLayer(MAP_CONFIG.tiles, { maxZoom: 19, attribution: MAP_CONFIG.attribution });
    layer.on("tileload", () => element.classList.remove("plain"));
    layer.on("tileerror", () => {
      failed += 1;
      if (failed >= 3) element.classList.add("plain");
    });
    layer.addTo(map);
  }
  map.emonLayers = L.featureGroup().addTo(map);
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  legend().addTo(map);
  return map;
}

// what each mark means, by shape and line as well as colour
const LEGEND = [
  ["legend_exclusion", "area", "#c62828", "solid"], ["legend_inclusion", "area", "#1565c0", "solid"],
  ["legend_prealert", "line", "#c62828", "dashed"], ["legend_track", "line", "#e65100", "solid"],
  ["legend_victim_track", "line", "#6a1b9a", "dotted"], ["legend_residence", "dot", "#555", "solid"],
  ["legend_victim", "dot", "#6a1b9a", "solid"], ["legend_confirming", "ring", "#000", "solid"],
];

function legend() {
  const control = L.control({ position: "bottomright" });
  control.onAdd = () => {
    const box = L.DomUtil.create("div", "legend");
    box.setAttribute("data-testid", "legend");
    box.setAttribute("aria-label", t("legend_title"));
    for (const [key, shape, colour, line] of LEGEND) {
      const row = L.DomUtil.create("div", "legend-row", box);
      const mark = L.DomUtil.create("span", `legend-mark ${shape}`, row);
      mark.style.borderColor = colour;
      mark.style.borderStyle = line;
      if (shape === "area" || shape === "dot") mark.style.background = `${colour}33`;
      row.append(document.createTextNode(t(key)));
    }
    return box;
  };
  return control;
}

function clearMap(map) {
  if (map) map.emonLayers.clearLayers();
}

const ZONE_STYLE = {
  exclusion: { color: "#c62828", weight: 2, fillOpacity: 0.12 },
  inclusion: { color: "#1565c0", weight: 2, fillOpacity: 0.08 },
  suggestion: { color: "#2e7d32", weight: 3, dashArray: "6 4", fillOpacity: 0.05 },
};

function drawZone(map, zone, style) {
  if (!map) return;
  const look = { ...(ZONE_STYLE[style || zone.type] || ZONE_STYLE.exclusion), className: `zone zone-${style || zone.type}` };
  const g = zone.geometry || {};
  if (g.type === "Point" && zone.radius_m) {
    const centre = [g.coordinates[1], g.coordinates[0]];
    L.circle(centre, { radius: zone.radius_m, ...look }).bindTooltip(zone.zone_id || "").addTo(map.emonLayers);
    if (zone.prealert_m) {
      L.circle(centre, { radius: zone.radius_m + zone.prealert_m, ...look, fillOpacity: 0, dashArray: "4 6", weight: 1 })
        .addTo(map.emonLayers);
    }
  } else if (g.type === "Polygon" || g.type === "MultiPolygon") {
    L.geoJSON(g, { style: () => look }).bindTooltip(zone.zone_id || "").addTo(map.emonLayers);
  }
}

function drawTrack(map, fixes, options) {
  if (!map || !fixes || !fixes.length) return;
  const colour = options.colour;
  const line = fixes.map((f) => [f.lat, f.lon]);
  L.polyline(line, { color: colour, weight: 2, dashArray: options.dash, className: options.className }).addTo(map.emonLayers);
  for (const f of fixes) {
    const highlighted = options.highlightSeq !== undefined && f.seq === options.highlightSeq;
    if (f.acc) {
      L.circle([f.lat, f.lon], { radius: f.acc, color: colour, weight: 0.5, fillOpacity: 0.06, interactive: false })
        .addTo(map.emonLayers);
    }
    L.circleMarker([f.lat, f.lon], {
      radius: highlighted ? 7 : 3, color: highlighted ? "#000" : colour, weight: highlighted ? 3 : 1,
      fillColor: colour, fillOpacity: 0.9, className: highlighted ? "fix confirming" : "fix",
    }).bindTooltip(`#${f.seq} ${shortTime(f.ts)} ±${f.acc ?? "?"} m`).addTo(map.emonLayers);
  }
}

function drawPoint(map, geometry, label, colour) {
  if (!map || !geometry || geometry.type !== "Point") return;
  const [lon, lat] = geometry.coordinates;
  L.circleMarker([lat, lon], { radius: 6, color: colour, fillOpacity: 0.6 }).bindTooltip(label).addTo(map.emonLayers);
}

function fitMap(map) {
  if (!map) return;
  map.invalidateSize();
  const bounds = map.emonLayers.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.15), { animate: false });
}
