// The operator console: live queue, alert detail, actions, device health,
// orders and the OM's validation form. Plain JavaScript, no build step.
"use strict";

const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
const RISK_RANK = { high: 0, medium: 1, low: 2 };
const CLASSIFICATIONS = ["true_violation", "technical", "permitted_exception"];
const CALL_OUTCOMES = ["reached", "no_answer", "voicemail", "busy", "wrong_number"];
const TEMPLATE_ORDER = {
  order_id: "OM-PROPOSAL-1", case_id: "ZAAK-1", risk: "high",
  valid_from: "2026-12-01T00:00:00Z", valid_until: "2027-06-01T00:00:00Z",
  timezone: "Europe/Amsterdam",
  offender: { person_id: "P-1", device_id: "am-new", residence: { type: "Point", coordinates: [4.44, 51.905] } },
  victims: [{ person_id: "V-1", address: { type: "Point", coordinates: [4.49, 51.93] } }],
  zones: [{ zone_id: "Z-1", type: "exclusion", geometry: { type: "Point", coordinates: [4.49, 51.93] },
            radius_m: 500, prealert_m: 500, schedule: null }],
};

const state = {
  token: sessionStorage.getItem("emon-token") || "",
  who: null,
  alerts: new Map(),
  selected: null,
  detailMap: null,
  events: null,
  view: "alerts",
  // what an operator is typing for an alert: kept when an update redraws it
  drafts: new Map(),
};
window.emonSounds = 0;  // how many alarm sounds were played (tests read it)

// ---------------------------------------------------------------- helpers
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function age(fromIso, now) {
  const s = Math.max(0, Math.round(((now || Date.now()) - Date.parse(fromIso)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// a time in the operator's own zone, named; with its date unless it is today
// (an alert of last evening must not read like one of this morning)
function shortTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const locale = LANG === "nl" ? "nl-NL" : "en-GB";
  const today = when.toDateString() === new Date().toDateString();
  const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" };
  if (!today) Object.assign(options, { weekday: "short", day: "numeric", month: "short" });
  return when.toLocaleString(locale, options);
}

async function api(path, options) {
  const response = await fetch(path, {
    ...(options || {}),
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((body && body.detail) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function may(permission) {
  return state.who && state.who.permissions.includes(permission);
}

// ---------------------------------------------------------------- sound
function alarm() {
  window.emonSounds += 1;
  try {
    const ctx = alarm.ctx || (alarm.ctx = new AudioContext());
    for (const [start, freq] of [[0, 880], [0.25, 660], [0.5, 880]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + start);
      osc.stop(ctx.currentTime + start + 0.2);
    }
  } catch (e) { /* no audio device: the red row still stands out */ }
}

// ---------------------------------------------------------------- login
async function login(token) {
  state.token = token;
  try {
    state.who = await api("/api/v1/whoami");
  } catch (e) {
    document.getElementById("login-error").textContent = t("not_authorised");
    return;
  }
  sessionStorage.setItem("emon-token", token);
  document.getElementById("login").hidden = true;
  document.getElementById("views").hidden = false;
  document.getElementById("tabs").hidden = false;
  document.getElementById("who").textContent = `${state.who.name} (${state.who.role})`;
  for (const button of document.querySelectorAll("#tabs button")) {
    const needs = { alerts: "alerts:read", devices: "devices:read", orders: "orders:read", validate: "orders:validate", review: "review:read" };
    button.hidden = !may(needs[button.dataset.view]);
  }
  const first = [...document.querySelectorAll("#tabs button")].find((b) => !b.hidden);
  if (first) show(first.dataset.view);
  if (may("alerts:read")) await startAlerts();
}

// ---------------------------------------------------------------- views
function show(view) {
  state.view = view;
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.view === view);
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  if (view === "devices") refreshDevices();
  if (view === "orders") refreshOrders();
  if (view === "validate") openValidate();
  if (view === "review") openReview();
  if (view === "alerts" && state.detailMap) state.detailMap.invalidateSize();
}

// ---------------------------------------------------------------- live queue
async function startAlerts() {
  const alerts = await api("/api/v1/alerts");
  for (const alert of alerts) state.alerts.set(alert.alert_id, alert);
  renderQueue();
  connectStream();
}

function connectStream() {
  const live = document.getElementById("live");
  const stream = new EventSource(`/api/v1/alerts/stream?token=${encodeURIComponent(state.token)}`);
  state.events = stream;
  stream.onopen = () => { live.textContent = t("live"); live.className = "live on"; };
  stream.onerror = () => { live.textContent = t("offline"); live.className = "live off"; };
  stream.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    const known = state.alerts.get(alert.alert_id);
    state.alerts.set(alert.alert_id, alert);
    if (!known && alert.severity === "critical") alarm();
    // nobody took it on in time: unattended, and heard again
    else if ((alert.escalations || []).length > ((known && known.escalations) || []).length) alarm();
    renderQueue();
    if (state.selected === alert.alert_id) openAlert(alert.alert_id);
  });
}

function priority(a, b) {
  return (SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity])
    || ((RISK_RANK[a.risk] ?? 1) - (RISK_RANK[b.risk] ?? 1))
    || (Date.parse(a.detected_at) - Date.parse(b.detected_at));
}

function queueGroups() {
  const groups = new Map();
  for (const alert of state.alerts.values()) {
    if (alert.state === "resolved") continue;
    const key = alert.case_id || alert.order_id;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(alert);
  }
  const list = [...groups.entries()].map(([key, alerts]) => ({ key, alerts: alerts.sort(priority) }));
  return list.sort((x, y) => priority(x.alerts[0], y.alerts[0]));
}

function renderQueue() {
  const queue = document.getElementById("queue");
  const groups = queueGroups();
  queue.replaceChildren(...groups.map(renderGroup));
  document.getElementById("queue-empty").hidden = groups.length > 0;
  renderWaiting();
}

function renderGroup(group) {
  const [top, ...rest] = group.alerts;
  return el("li", { class: `group ${top.severity}`, "data-case": group.key },
    el("div", { class: "group-head" },
      el("span", {}, `${t("case")} ${group.key}`),
      el("span", { class: "muted" }, `${t("risk")} ${t(`risk_${top.risk || "medium"}`)}`),
      rest.length ? el("span", { class: "count" }, t("alerts_in_case", { n: group.alerts.length })) : null),
    group.alerts.map(renderAlertRow));
}

function renderAlertRow(alert) {
  return el("button", {
    class: `alert-row ${alert.severity} state-${alert.state}${state.selected === alert.alert_id ? " selected" : ""}`,
    "data-alert": alert.alert_id, "data-type": alert.type, "data-state": alert.state,
    onclick: () => openAlert(alert.alert_id),
  },
  el("span", { class: "sev" }, t(`sev_${alert.severity}`)),
  el("span", { class: "type" }, t(`type_${alert.type}`)),
  el("span", { class: "state" }, t(`state_${alert.state}`)),
  el("span", { class: "age", "data-since": alert.detected_at }, age(alert.detected_at)),
  alert.escalation ? el("span", { class: "badge escalated" }, t("escalated_badge")) : null,
  ...(alert.escalations || []).map((e) => el("span", { class: "badge unattended", "data-reason": e.reason }, t(`unattended_${e.reason}`))),
  alert.late ? el("span", { class: "badge" }, t("late")) : null,
  alert.assigned_to ? el("span", { class: "muted" }, t("assigned_to", { name: alert.assigned_to })) : null);
}

function renderWaiting() {
  const waiting = [...state.alerts.values()].filter((a) => a.state === "open");
  const box = document.getElementById("waiting");
  if (!waiting.length) { box.textContent = t("nothing_waiting"); box.className = ""; return; }
  const oldest = waiting.reduce((a, b) => (a.detected_at < b.detected_at ? a : b));
  box.textContent = t("waiting", { n: waiting.length, age: age(oldest.detected_at) });
  box.className = waiting.some((a) => a.severity === "critical") ? "critical" : "";
}

setInterval(() => {
  for (const node of document.querySelectorAll("[data-since]")) node.textContent = age(node.dataset.since);
  if (state.who) renderWaiting();
  if (state.case) renderTimers(state.case);
}, 1000);

// ---------------------------------------------------------------- alert detail
async function openAlert(alertId) {
  state.selected = alertId;
  for (const row of document.querySelectorAll(".alert-row")) row.classList.toggle("selected", row.dataset.alert === alertId);
  const detail = document.getElementById("detail");
  let caseFile;
  try {
    caseFile = await api(`/api/v1/alerts/${encodeURIComponent(alertId)}`);
  } catch (e) {
    detail.replaceChildren(el("p", { class: "error" }, e.message));
    return;
  }
  if (state.selected !== alertId) return;
  state.case = caseFile;
  renderDetail(caseFile);
}

function renderDetail(caseFile) {
  const alert = caseFile.alert;
  const detail = document.getElementById("detail");
  const mapBox = el("div", { class: "map", id: "alert-map", "data-testid": "alert-map" });
  detail.replaceChildren(
    el("h2", { class: alert.severity }, `${t(`type_${alert.type}`)} · ${t(`sev_${alert.severity}`)}`),
    el("dl", { class: "facts" },
      fact(t("order"), alert.order_id), fact(t("case"), alert.case_id || "–"),
      fact(t("device"), alert.device_id), fact(t("zone"), alert.zone_id || "–"),
      fact(t("started"), shortTime(alert.started_at)), fact(t("detected"), shortTime(alert.detected_at)),
      fact(t("ended"), alert.ended_at ? shortTime(alert.ended_at) : "–"),
      fact(t("state"), t(`state_${alert.state}`))),
    mapBox,
    caseFile.victim_position ? el("p", { class: "muted", "data-testid": "victim-position" }, t(`victim_pos_${caseFile.victim_position}`)) : null,
    el("section", { class: "decision", "data-testid": "decision" }, el("h3", {}, t("decision")), decisionText(caseFile.decision)),
    renderContacts(alert, caseFile.contacts || []),
    renderExceptions(caseFile.order),
    el("section", {}, el("h3", {}, t("timers")), el("ul", { id: "timers", "data-testid": "timers" })),
    renderActions(alert),
    el("section", {}, el("h3", {}, t("history")), renderHistory(alert)),
    el("section", {}, el("h3", {}, t("timeline")), renderTimeline(caseFile.timeline, alert.type)),
    renderFixes(caseFile.offender_track));
  if (state.detailMap) state.detailMap.remove();
  state.detailMap = makeMap(mapBox);
  drawCase(state.detailMap, caseFile);
  renderTimers(caseFile);
}

function renderExceptions(order) {
  const list = (order && order.exceptions) || [];
  if (!list.length) return "";
  return el("section", { class: "exceptions", "data-testid": "exceptions" }, el("h3", {}, t("exceptions")),
    el("ul", {}, list.map((x) => el("li", { "data-exception": x.exception_id },
      t(`exception_${x.kind}`, { zone: x.zone_id, from: shortTime(x.from), until: shortTime(x.until) }),
      ` · ${x.reason} · ${t("approved_by", { name: x.approved_by })}`))));
}

function fact(label, value) {
  return [el("dt", {}, label), el("dd", {}, value)];
}

function drawCase(map, caseFile) {
  if (!map) return;
  const order = caseFile.order;
  if (order) {
    for (const zone of order.zones) drawZone(map, zone);
    drawPoint(map, order.residence, "residence", "#555");
    for (const address of order.victim_addresses || []) drawPoint(map, address, t("legend_victim"), "#6a1b9a");
  }
  const seq = caseFile.decision.confirming_fix ? caseFile.decision.confirming_fix.seq : undefined;
  drawTrack(map, caseFile.offender_track, { colour: "#e65100", className: "track offender", highlightSeq: seq });
  for (const track of Object.values(caseFile.victim_tracks || {})) {
    drawTrack(map, track, { colour: "#6a1b9a", className: "track victim", dash: "2 4" });
  }
  fitMap(map);
}

function decisionText(d) {
  const lines = [];
  const fix = d.confirming_fix;
  if (fix && d.rule.startsWith("zone")) {
    lines.push(t("decision_zone", { seq: fix.seq, ts: shortTime(fix.ts), depth: d.depth_m, zone: d.zone_id, acc: d.accuracy_m, req: d.required_depth_m }));
  } else if (fix && d.rule.startsWith("contact")) {
    lines.push(t("decision_contact", { seq: fix.seq, ts: shortTime(fix.ts), depth: d.depth_m, acc: d.accuracy_m }));
  } else if (d.rule === "signal_lost") {
    lines.push(t("decision_silence"));
  } else {
    lines.push(t("decision_event"));
  }
  if (fix) {
    const p = d.policy;
    lines.push(t("decision_policy", { n: p.confirm_fixes, span: p.confirm_span_s, c: p.clear_fixes, hyst: p.exit_hysteresis_m }));
  }
  if (d.told) {
    const victim = d.told.victim === "after" ? t("told_victim_after", { s: d.told.victim_after_s }) : t(`told_victim_${d.told.victim}`);
    lines.push(`${t(`told_offender_${d.told.offender}`)} ${victim}`);
  }
  return lines.map((line) => el("p", { "data-testid": "decision-line" }, line));
}

function renderTimers(caseFile) {
  const list = document.getElementById("timers");
  if (!list) return;
  const alert = state.alerts.get(caseFile.alert.alert_id) || caseFile.alert;
  const items = [];
  for (const n of caseFile.notifications.filter((x) => x.victim)) {
    if (n.confirmable === false) items.push(el("li", { class: n.escalated ? "overdue" : "done" }, t(n.escalated ? "timer_unconfirmable" : "timer_sent_unconfirmable", { device: n.device_id })));
    else if (n.escalated) items.push(el("li", { class: "overdue" }, t("timer_escalated", { device: n.device_id })));
    else if (n.acked_at) items.push(el("li", { class: "done" }, t("timer_victim_acked", { device: n.device_id, age: age(n.sent_at, Date.parse(n.acked_at)) })));
    else items.push(el("li", { class: "running" }, t("timer_victim_waiting", { device: n.device_id, age: age(n.sent_at), n: n.attempts })));
  }
  if (caseFile.channels.includes("police") && alert.state !== "resolved") {
    if (alert.dispatch_confirmed) items.push(el("li", { class: "done" }, t("timer_police_confirmed", { name: alert.dispatch_confirmed.by })));
    else items.push(el("li", { class: "running" }, t("timer_police_waiting", { age: age(alert.detected_at) })));
  }
  if (!items.length) items.push(el("li", { class: "muted" }, t("timer_none")));
  list.replaceChildren(...items);
}

// an action on an alert (ack, resolve, a call logged...); the alert is shown again as it now is
async function postAction(alert, path, body, error) {
  try {
    const updated = await api(`/api/v1/alerts/${encodeURIComponent(alert.alert_id)}/${path}`, { method: "POST", body: JSON.stringify(body || {}) });
    state.alerts.set(updated.alert_id, updated);
    renderQueue();
    openAlert(updated.alert_id);
  } catch (e) {
    error.textContent = e.status === 403 ? t("forbidden") : e.message;
  }
}

// whom to call, with the number (given to operator and police only), and the call logged
function renderContacts(alert, contacts) {
  if (!contacts.length) return null;
  const error = el("p", { class: "error", "data-testid": "call-error" });
  return el("section", { class: "contacts", "data-testid": "contacts" }, el("h3", {}, t("contacts")),
    el("ul", {}, contacts.map((c) => {
      const outcome = el("select", { "aria-label": `${t("call_outcome")} (${t(`party_${c.party}`)})`, "data-testid": `call-outcome-${c.party}` },
        CALL_OUTCOMES.map((o) => el("option", { value: o }, t(`call_${o}`))));
      const log = may("alerts:act")
        ? [outcome, el("button", { "data-action": `call-${c.party}`, onclick: () => postAction(alert, "call", { party: c.party, outcome: outcome.value }, error) }, t("log_call"))]
        : [];
      return el("li", {}, `${t(`party_${c.party}`)} (${c.person_id}): `,
        el("a", { href: `tel:${c.phone.replace(/[^+0-9]/g, "")}`, "data-testid": `phone-${c.party}` }, c.phone), " ", ...log);
    })), error);
}

function renderActions(alert) {
  if (!may("alerts:act") && !may("alerts:confirm")) return null;
  const error = el("p", { class: "error", "data-testid": "action-error" });
  const act = (path, body) => postAction(alert, path, body, error);
  if (!may("alerts:act")) {
    return el("section", { class: "actions" }, el("h3", {}, t("actions")),
      el("button", { onclick: () => act("confirm"), "data-action": "confirm" }, t("ev_action_confirm")), error);
  }
  const assignee = el("input", { value: alert.assigned_to || state.who.name, size: 16, "aria-label": t("assign_to") });
  const draft = state.drafts.get(alert.alert_id) || { note: "", classification: "" };
  const note = el("textarea", { rows: 3, placeholder: t("note"), "data-testid": "resolve-note" });
  note.value = draft.note;
  const classification = el("select", { "data-testid": "resolve-class" },
    el("option", { value: "" }, t("choose")),
    CLASSIFICATIONS.map((c) => el("option", { value: c }, t(`cls_${c}`))));
  classification.value = draft.classification;
  const resolve = el("button", { class: "primary", "data-action": "resolve", disabled: true,
    onclick: () => { state.drafts.delete(alert.alert_id); act("resolve", { note: note.value.trim(), classification: classification.value }); } }, t("resolve"));
  const check = () => {
    state.drafts.set(alert.alert_id, { note: note.value, classification: classification.value });
    showDraft(alert.alert_id);
  };
  note.addEventListener("input", check);
  classification.addEventListener("change", check);
  resolve.disabled = !(draft.note.trim() && draft.classification);
  return el("section", { class: "actions" }, el("h3", {}, t("actions")),
    el("div", { class: "buttons" },
      el("button", { "data-action": "ack", disabled: alert.state !== "open", onclick: () => act("ack") }, t("acknowledge")),
      el("span", {}, t("assign"), " ", t("assign_to"), " "), assignee,
      el("button", { "data-action": "assign", onclick: () => act("assign", { to: assignee.value }) }, t("assign"))),
    el("label", {}, t("note")), note,
    el("label", {}, t("classification"), " ", classification),
    el("div", { class: "buttons" }, resolve),
    may("devices:command") ? renderCommands(alert.device_id, error) : "",
    error);
}

// ask the device to report faster, or now (emon/v1/cmd/{device})
function renderCommands(device, error) {
  const done = el("span", { class: "muted", "data-testid": "command-done" });
  const send = async (body) => {
    try {
      await api(`/api/v1/devices/${encodeURIComponent(device)}/commands`, { method: "POST", body: JSON.stringify(body) });
      done.textContent = t("command_sent", { device });
    } catch (e) {
      error.textContent = e.status === 403 ? t("forbidden") : e.message;
    }
  };
  const tenMinutes = () => new Date(Date.now() + 600_000).toISOString();
  return el("div", { class: "buttons", "data-testid": "commands" },
    el("button", { "data-action": "report_now", onclick: () => send({ command: "report_now" }) }, t("report_now")),
    el("button", { "data-action": "report_interval",
      onclick: () => send({ command: "report_interval", interval_s: 5, until: tenMinutes() }) }, t("report_often")),
    done);
}

// the draft into the form on the page now: a redraw may have replaced the
// elements the operator was typing into just as she typed
function showDraft(alertId) {
  const draft = state.drafts.get(alertId);
  if (!draft || state.selected !== alertId) return;
  const note = document.querySelector("[data-testid=resolve-note]");
  const classification = document.querySelector("[data-testid=resolve-class]");
  const resolve = document.querySelector("button[data-action=resolve]");
  if (note && note.value !== draft.note) note.value = draft.note;
  if (classification && classification.value !== draft.classification) classification.value = draft.classification;
  if (resolve) resolve.disabled = !(draft.note.trim() && draft.classification);
}

function renderHistory(alert) {
  const actions = alert.actions || [];
  if (!actions.length) return el("p", { class: "muted", "data-testid": "history" }, t("no_history"));
  return el("ol", { class: "history", "data-testid": "history" }, actions.map((a) =>
    el("li", {}, `${shortTime(a.at)} · ${t(`ev_action_${a.action}`)} · ${a.actor}`,
      a.to ? ` → ${a.to}` : "", a.classification ? ` · ${t(`cls_${a.classification}`)}` : "",
      a.outcome ? ` · ${t(`party_${a.party}`)}: ${t(`call_${a.outcome}`)}` : "",
      a.note ? el("q", {}, a.note) : null)));
}

// what began and ended, in the words of the alert's kind (a panic is no violation)
function conditionWords(type) {
  if (type.endsWith("_violation")) return "";
  return type.endsWith("_prealert") ? "_prealert" : "_event";
}

function renderTimeline(events, type) {
  const words = conditionWords(type || "");
  const text = (kind) => (kind.startsWith("condition_") ? t(`ev_${kind}${words}`) : t(`ev_${kind}`));
  return el("ol", { class: "timeline" }, events.map((e) =>
    el("li", {}, el("time", {}, shortTime(e.at)), " ", text(e.kind), e.device_id ? ` (${e.device_id})` : "")));
}

function renderFixes(track) {
  if (!track) return null;
  return el("section", {}, el("h3", {}, t("fixes")),
    el("table", { class: "fixes" },
      el("thead", {}, el("tr", {}, ["col_time", "col_seq", "col_acc", "col_delay"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, track.map((f) => el("tr", {}, el("td", {}, shortTime(f.ts)), el("td", {}, f.seq),
        el("td", {}, f.acc ?? "–"), el("td", {}, f.late_s))))));
}

// ---------------------------------------------------------------- devices
async function refreshDevices() {
  if (state.view !== "devices") return;
  const body = document.querySelector("#devices tbody");
  let rows;
  try { rows = await api("/api/v1/devices/health"); } catch (e) { body.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "error" }, e.message))); return; }
  body.replaceChildren(...rows.map((r) => el("tr", { class: r.score >= 600 ? "bad" : r.score > 0 ? "warn" : "", "data-device": r.device_id },
    el("td", {}, r.device_id), el("td", {}, t(`role_${r.role}`)), el("td", {}, r.order_id),
    el("td", {}, t(`risk_${r.risk}`)), el("td", {}, r.battery_pct === null ? "–" : `${r.battery_pct} %`),
    el("td", {}, r.last_fix_age_s === null ? "–" : `${Math.round(r.last_fix_age_s)} s`),
    el("td", {}, `${Math.round(r.last_contact_age_s)} s`),
    el("td", {}, r.accuracy_m === null ? "–" : `${r.accuracy_m} m`),
    el("td", { class: "problems" }, r.problems.length ? r.problems.map((p) => t(`prob_${p}`)).join(", ") : t("ok")))));
  clearTimeout(refreshDevices.timer);
  refreshDevices.timer = setTimeout(refreshDevices, 5000);
}

// ---------------------------------------------------------------- orders
async function refreshOrders() {
  const list = document.getElementById("orders");
  const orders = await api("/api/v1/orders");
  list.replaceChildren(...orders.map((o) => el("li", {},
    el("button", { class: "order-row", "data-order": o.order_id, onclick: () => openOrder(o.order_id) },
      `${o.order_id} · ${t("case")} ${o.case_id || "–"} · ${t(`risk_${o.risk}`)} · ${t("version")} ${o.version}`,
      o.enforceable ? "" : el("span", { class: "badge" }, "!")))));
}

async function openOrder(orderId) {
  const box = document.getElementById("order-detail");
  const order = await api(`/api/v1/orders/${encodeURIComponent(orderId)}`);
  const mapBox = el("div", { class: "map" });
  box.replaceChildren(el("h2", {}, order.order_id),
    el("p", {}, `${t("valid_until")} ${order.valid_until} · ${t("version")} ${order.version}`),
    mapBox, renderFindings({ enforceable: !order.warnings.some((w) => w.severity === "error"), findings: order.warnings, suggestions: [] }));
  if (state.orderMap) state.orderMap.remove();
  state.orderMap = makeMap(mapBox);
  for (const zone of order.zones) drawZone(state.orderMap, zone);
  fitMap(state.orderMap);
}

function renderFindings(report) {
  return el("div", { class: "report" },
    el("p", { class: report.enforceable ? "verdict ok" : "verdict bad", "data-testid": "verdict" },
      report.enforceable ? t("enforceable") : t("not_enforceable")),
    el("h3", {}, t("findings")),
    report.findings.length
      ? el("ul", {}, report.findings.map((f) => el("li", { class: f.severity, "data-code": f.code }, el("code", {}, f.code), " ", f.message)))
      : el("p", { class: "muted" }, t("no_findings")),
    report.suggestions.length ? el("h3", {}, t("suggestions")) : null,
    el("ul", {}, report.suggestions.map((s) => el("li", { class: "suggestion" }, s.message))));
}

// ---------------------------------------------------------------- OM validation form
function openValidate() {
  const area = document.getElementById("proposal");
  if (!area.value) area.value = JSON.stringify(TEMPLATE_ORDER, null, 2);
  if (!state.validateMap) state.validateMap = makeMap(document.getElementById("validate-map"));
  else state.validateMap.invalidateSize();
  drawProposal();
}

function proposal() {
  try {
    return JSON.parse(document.getElementById("proposal").value);
  } catch (e) {
    document.getElementById("findings").replaceChildren(el("p", { class: "error" }, t("invalid_json", { msg: e.message })));
    return null;
  }
}

function drawProposal(report) {
  const map = state.validateMap;
  const order = proposal();
  if (!map || !order) return;
  clearMap(map);
  for (const zone of order.zones || []) drawZone(map, zone);
  for (const victim of order.victims || []) drawPoint(map, victim.address, t("legend_victim"), "#6a1b9a");
  if (order.offender) drawPoint(map, order.offender.residence, "residence", "#555");
  for (const s of (report && report.suggestions) || []) {
    if (s.geometry) drawZone(map, { zone_id: s.zone_id, geometry: s.geometry, radius_m: s.radius_m }, "suggestion");
  }
  fitMap(map);
}

function startDrawing() {
  const map = state.validateMap;
  if (!map) return;
  const points = [];
  const line = L.polyline([], { color: "#c62828", dashArray: "4 4" }).addTo(map);
  document.getElementById("findings").replaceChildren(el("p", { class: "muted" }, t("drawing")));
  const onClick = (event) => { points.push(event.latlng); line.setLatLngs(points); };
  map.on("click", onClick);
  const finish = document.getElementById("finish-draw");
  finish.disabled = false;
  finish.onclick = () => {
    map.off("click", onClick);
    map.removeLayer(line);
    finish.disabled = true;
    if (points.length < 3) return;
    const ring = points.map((p) => [Number(p.lng.toFixed(6)), Number(p.lat.toFixed(6))]);
    ring.push(ring[0]);
    const order = proposal() || structuredClone(TEMPLATE_ORDER);
    const zone = (order.zones && order.zones[0]) || { zone_id: "Z-1", type: "exclusion", schedule: null };
    delete zone.radius_m;
    zone.geometry = { type: "Polygon", coordinates: [ring] };
    order.zones = [zone, ...(order.zones || []).slice(1)];
    document.getElementById("proposal").value = JSON.stringify(order, null, 2);
    drawProposal();
  };
}

async function runValidate() {
  const order = proposal();
  if (!order) return;
  const box = document.getElementById("findings");
  try {
    const report = await api(`/api/v1/orders/validate?lang=${LANG}`, { method: "POST", body: JSON.stringify(order) });
    box.replaceChildren(renderFindings(report));
    drawProposal(report);
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, e.message));
  }
}

// ---------------------------------------------------------------- review (reclassering, OM)
// the form is filled in last, once everything it shows is there: a review
// asked for at once must not be overwritten by the reminders arriving after it
async function openReview() {
  const select = document.getElementById("review-order");
  if (select.options.length) return;
  const today = new Date();
  document.getElementById("review-to").value = today.toISOString().slice(0, 10);
  document.getElementById("review-from").value = new Date(today - 28 * 86400000).toISOString().slice(0, 10);
  const [orders, reminders] = await Promise.all([
    api("/api/v1/orders"), api("/api/v1/reminders").catch(() => [])]);
  document.getElementById("review-figures").replaceChildren(
    el("h3", {}, t("reminders")),
    reminders.length
      ? el("ul", { "data-testid": "reminders" }, reminders.map((r) => el("li", { class: r.type === "order_lapsed" ? "error" : "" },
        `${t(`type_${r.type}`)}: ${r.order_id} (${t("case")} ${r.case_id || "–"}), ${t("valid_until")} ${r.valid_until}`)))
      : el("p", { class: "muted" }, t("no_reminders")));
  select.replaceChildren(...orders.map((o) => el("option", { value: o.order_id }, `${o.order_id} (${o.case_id || "–"})`)));
  const midnight = new Date();
  midnight.setUTCHours(0, 0, 0, 0);  // seven calendar days (UTC), today the last
  const since = new Date(midnight - 6 * 86400000).toISOString();
  api(`/api/v1/review/alert-load?from=${encodeURIComponent(since)}&by=day`)
    .then((load) => document.getElementById("review-load").replaceChildren(renderLoad(load)))
    .catch(() => {});
}

// how loud the system is over the last week: the figures, and alerts per device-day a day
function renderLoad(load) {
  const p = load.period;
  const pct = (share) => (share === null || share === undefined ? "–" : `${Math.round(share * 100)} %`);
  const secs = (q) => (q.p50 === null ? "–" : `${q.p50} s / ${q.p90} s`);
  const rows = [
    ["load_per_device_day", p.per_device_day === null ? "–" : p.per_device_day],
    ["load_true_share", pct(p.classified_share.true_violation)],
    ["load_technical_share", pct(p.classified_share.technical)],
    ["load_ack", secs(p.ack_s)], ["load_dispatch", secs(p.dispatch_s)],
    ["load_bulk", p.closed_in_bulk], ["load_no_note", p.closed_without_note], ["load_unhandled", p.ended_unhandled],
  ];
  const days = load.buckets.map((b) => b.per_device_day || 0);
  const top = Math.max(...days, 0.001);
  const width = 280, height = 90, step = width / Math.max(days.length, 1);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 14}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("load_chart"));
  load.buckets.forEach((b, i) => {
    const bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const h = Math.max(1, (days[i] / top) * height);
    for (const [k, v] of Object.entries({ x: i * step + 2, y: height - h, width: step - 4, height: h, class: "bar" })) bar.setAttribute(k, v);
    const tip = document.createElementNS("http://www.w3.org/2000/svg", "title");
    tip.textContent = `${b.from.slice(0, 10)}: ${b.alerts} (${days[i]} ${t("load_per_device_day")})`;
    bar.append(tip);
    const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    for (const [k, v] of Object.entries({ x: i * step + step / 2, y: height + 12, "text-anchor": "middle" })) label.setAttribute(k, v);
    label.textContent = b.from.slice(8, 10);
    svg.append(bar, label);
  });
  return el("section", { "data-testid": "alert-load" }, el("h3", {}, t("load_title")),
    el("table", { class: "figures" }, rows.map(([k, v]) => el("tr", { "data-load": k }, el("th", {}, t(k)), el("td", {}, String(v))))),
    el("figure", { class: "load-chart" }, svg, el("figcaption", {}, t("load_chart"))));
}

async function runReview() {
  const orderId = document.getElementById("review-order").value;
  const from = `${document.getElementById("review-from").value}T00:00:00Z`;
  const to = `${document.getElementById("review-to").value}T23:59:59Z`;
  const query = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  const base = `/api/v1/orders/${encodeURIComponent(orderId)}`;
  const box = document.getElementById("review-figures");
  let report, closest;
  try {
    [report, closest] = await Promise.all([api(`${base}/compliance?${query}`), api(`${base}/closest-approach?${query}`)]);
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, e.message));
    return;
  }
  const maxWeek = Math.max(1, ...report.weeks.map((w) => w.violations || 0));
  box.replaceChildren(
    el("table", { class: "figures" }, Object.entries(report.figures).map(([k, v]) =>
      el("tr", { "data-figure": k }, el("th", {}, t(`fig_${k}`)), el("td", {}, v)))),
    el("p", { "data-testid": "trend" }, `${t("trend")}: ${t(`trend_${report.trend}`)}`),
    el("h3", {}, t("weeks")),
    el("div", { class: "bars" }, report.weeks.map((w) => el("div", { class: "bar-row" },
      el("span", {}, w.week), el("span", { class: "bar", style: `width:${(100 * (w.violations || 0)) / maxWeek}%` }),
      el("span", {}, w.violations || 0)))),
    el("h3", {}, t("closest")),
    el("ul", { "data-testid": "closest" }, closest.victims.map((v) => el("li", {},
      v.closest_m === null ? `${v.person_id}: ${t("closest_none")}`
        : `${v.person_id}: ${v.closest_m} m, ${shortTime(v.at)} (${t(v.between_fixes ? "between_fixes" : "at_fix")})`))));
  const detail = document.getElementById("review-detail");
  const links = (path) => may("evidence:read")
    ? ["html", "pdf", "geojson", "csv"].map((fmt) => el("button", { class: "link", "data-format": fmt, onclick: () => download(`${path}${path.includes("?") ? "&" : "?"}format=${fmt}`, fmt) }, fmt.toUpperCase()))
    : [];
  const rows = (list) => el("table", { class: "review-list" },
    el("thead", {}, el("tr", {}, ["type", "started", "ended", "hours", "classification", ""].map((h) => el("th", {}, h === "type" ? "" : t(h) || h)))),
    el("tbody", {}, list.map((a) => el("tr", { "data-alert": a.alert_id },
      el("td", {}, t(`type_${a.type}`)), el("td", {}, a.started_at.replace("T", " ").slice(0, 19)),
      el("td", {}, a.ended_at ? a.ended_at.replace("T", " ").slice(0, 19) : "–"), el("td", {}, a.hours),
      el("td", {}, a.classification ? t(`cls_${a.classification}`) : "–"),
      el("td", {}, links(`/api/v1/alerts/${encodeURIComponent(a.alert_id)}/evidence`))))));
  detail.replaceChildren(
    el("h2", {}, orderId),
    may("evidence:read") ? el("p", {}, `${t("evidence_period")}: `, links(`${base}/evidence?${query}`)) : null,
    el("h3", {}, t("violations_list")), rows(report.violations),
    el("h3", {}, t("events_list")), rows(report.device_events));
}

async function download(path, fmt) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) return;
  const url = URL.createObjectURL(await response.blob());
  if (fmt === "html") { window.open(url, "_blank"); return; }
  const a = el("a", { href: url, download: `evidence.${fmt}` });
  document.body.append(a);
  a.click();
  a.remove();
}

// ---------------------------------------------------------------- start
// every handler is in place before the first await: a login pressed while the
// configuration is still loading waits for it, instead of submitting the form
// as a page load (which lost the login, and the token typed)
async function loadConfig() {
  try {
    Object.assign(MAP_CONFIG, await (await fetch("/api/v1/console/config")).json());
  } catch (e) { /* defaults */ }
  const chosen = localStorage.getItem("emon-lang") || MAP_CONFIG.lang || "nl";
  document.getElementById("lang").value = chosen;
  setLang(chosen);
}

async function start() {
  const configured = loadConfig();
  document.getElementById("lang").addEventListener("change", (e) => {
    localStorage.setItem("emon-lang", e.target.value);
    setLang(e.target.value);
    renderQueue();
    if (state.case) renderDetail(state.case);
  });
  document.getElementById("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    await configured;
    login(document.getElementById("token").value.trim());
  });
  for (const button of document.querySelectorAll("#tabs button")) button.addEventListener("click", () => show(button.dataset.view));
  document.getElementById("draw").addEventListener("click", startDrawing);
  document.getElementById("run-validate").addEventListener("click", runValidate);
  document.getElementById("review-form").addEventListener("submit", (e) => { e.preventDefault(); runReview(); });
  document.getElementById("proposal").addEventListener("change", () => drawProposal());
  await configured;
  if (state.token) login(state.token);
}

start();
