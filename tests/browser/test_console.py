"""The operator console in a real headless Chromium (Debian's), driven by Playwright.

One `emon serve` on embedded defaults and one browser for the module; the
tests run in order, as an operator's shift would: an alert arrives, is
looked at on the map, acknowledged and resolved; the device board; the OM's
validation form; the language switch. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.integration.serve import Device, Serve, approach, order_for

CHROMIUM = "/usr/bin/chromium"
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
TOKENS = {
    "operator": ("op-token-1", "A. de Vries"),
    "police": ("police-token-1", "Meldkamer Rotterdam"),
    "reclassering": ("rn-token-1", "J. Jansen"),
    "om": ("om-token-1", "Officier van Justitie"),
}
SUFFIX = "UI1"
VICTIM_PHONE = "+31 6 1234 5678"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    workdir = tmp_path_factory.mktemp("console")
    tokens = [{"token": tok, "role": role, "name": name} for role, (tok, name) in TOKENS.items()]
    (workdir / "tokens.json").write_text(json.dumps({"tokens": tokens}))
    # tiles from a port where nothing listens: the map must fall back to its plain background
    env = {"EMON_TOKENS": str(workdir / "tokens.json"), "EMON_LANG": "nl",
           "EMON_TILES": "http://127.0.0.1:9/{z}/{x}/{y}.png"}  # fmt: skip
    service = Serve(workdir, env=env).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("EMON_REQUIRE_SERVICES"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def operator(serve: Serve, browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"http://127.0.0.1:{serve.http_port}/")
    page.fill("#token", TOKENS["operator"][0])
    page.click("#login button")
    page.wait_for_selector("#live.on")
    yield page
    page.close()


def shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def stored_rows(serve: Serve, sql: str, params: tuple, done: Any) -> list[tuple]:
    """Rows of the service's database, once ``done(rows)`` or after 5 s
    (the writer stores in the background)."""
    deadline = time.time() + 5
    while True:
        with sqlite3.connect(serve.workdir / "emon.db") as db:
            rows = db.execute(sql, params).fetchall()
        if done(rows) or time.time() > deadline:
            return rows
        time.sleep(0.2)


def the_violation(serve: Serve) -> dict[str, Any]:
    """The one zone violation of the module's order, as the API lists it."""
    (alert,) = [a for a in serve.http.get("/api/v1/alerts").json()
                if a["order_id"] == f"OM-{SUFFIX}" and a["type"] == "zone_violation"]  # fmt: skip
    return alert


def as_role(serve: Serve, role: str) -> httpx.Client:
    token = TOKENS[role][0]
    return httpx.Client(base_url=str(serve.http.base_url),
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip


def test_a_violation_reaches_the_queue_within_a_second(serve: Serve, operator: Page) -> None:
    order = order_for(SUFFIX)
    order["victims"][0]["phone"] = VICTIM_PHONE
    assert serve.http.put(f"/api/v1/orders/OM-{SUFFIX}", json=order).status_code == 200
    offender = Device(serve.mqtt_port)
    try:
        approach(offender, SUFFIX, [3000, 1400, 1300, 900], lead_ms=-20_000)
        operator.wait_for_selector(".alert-row[data-type=zone_prealert]", timeout=5000)
        sounds_before = operator.evaluate("window.emonSounds")
        started = time.monotonic()
        approach(offender, SUFFIX, [600], first_seq=5)
        operator.wait_for_selector(".alert-row[data-type=zone_violation]", timeout=1000)
        elapsed = time.monotonic() - started
    finally:
        offender.close()
    assert elapsed < 1.0
    row = operator.locator(".alert-row[data-type=zone_violation]")
    assert "critical" in (row.get_attribute("class") or "")
    assert operator.evaluate("window.emonSounds") == sounds_before + 1
    # one group for the case, both alerts in it, the critical one on top
    group = operator.locator(f"li.group[data-case='{order_for(SUFFIX)['case_id']}']")
    assert group.count() == 1
    types = group.locator(".alert-row").evaluate_all("rows => rows.map(r => r.dataset.type)")
    assert types == ["zone_violation", "zone_prealert"]
    assert group.locator(".count").inner_text() == "2 meldingen"  # every row is listed
    assert "wachtend" in operator.inner_text("#waiting")
    shot(operator, "queue")


def test_the_detail_shows_zone_track_decision_and_timers(operator: Page) -> None:
    operator.click(".alert-row[data-type=zone_violation]")
    operator.wait_for_selector("#alert-map path.zone-exclusion")
    assert operator.locator("#alert-map path.track.offender").count() == 1
    assert operator.locator("#alert-map path.confirming").count() == 1
    assert operator.locator("#alert-map.plain").count() == 1  # no tiles: plain background
    decision = operator.inner_text("[data-testid=decision]")
    assert "Z-1" in decision and "#5" in decision
    assert "meteen gewaarschuwd" in decision  # who was told when (the victim at once)
    timers = operator.inner_text("[data-testid=timers]")
    assert f"vd-{SUFFIX}" in timers and "Politie" in timers
    assert operator.locator("table.fixes tbody tr").count() == 5
    facts = operator.inner_text("dl.facts")
    assert "status" in facts and "state" not in facts  # Dutch labels only
    assert "UTC" in facts  # times name their zone (the browser's here)
    assert "Overtreding begon" in operator.inner_text(".timeline")
    # a scale bar, and a legend that says what each mark is
    assert operator.locator("#alert-map .leaflet-control-scale").count() == 1
    legend = operator.inner_text("#alert-map [data-testid=legend]")
    assert "verboden gebied" in legend and "vooralarmring" in legend and "beslissende fix" in legend
    # her device sent no fix: the map says so rather than leave her out unexplained
    assert "stuurde er rond deze melding geen" in operator.inner_text(
        "[data-testid=victim-position]"
    )
    shot(operator, "alert-detail")


def test_an_exception_granted_is_shown_with_the_alert(serve: Serve, operator: Page) -> None:
    grant = {"zone_id": "Z-1", "kind": "suspension", "from": "2099-01-01T09:00:00Z",
             "until": "2099-01-01T12:00:00Z", "reason": "zitting rechtbank"}  # fmt: skip
    granted = as_role(serve, "operator").post(f"/api/v1/orders/OM-{SUFFIX}/exceptions", json=grant)
    assert granted.status_code == 200, granted.text
    # a pre-alert's timeline speaks of a pre-alert, not of a violation
    operator.click(".alert-row[data-type=zone_prealert]")
    operator.wait_for_selector(".timeline li:has-text('Vooralarm begon')")
    assert "Overtreding" not in operator.inner_text(".timeline")
    operator.click(".alert-row[data-type=zone_violation]")
    operator.wait_for_selector(".timeline li:has-text('Overtreding begon')")  # its detail, drawn
    operator.wait_for_selector("[data-testid=exceptions]")
    shown = operator.inner_text("[data-testid=exceptions]")
    assert "opgeschort" in shown and "zitting rechtbank" in shown and "A. de Vries" in shown


def test_the_operator_asks_the_device_for_a_position_now(serve: Serve, operator: Page) -> None:
    device = Device(serve.mqtt_port, f"emon/v1/cmd/am-{SUFFIX}")
    try:
        operator.click("[data-action=report_now]")
        operator.wait_for_selector("[data-testid=command-done]:has-text('am-')")
        _, command = device.expect(lambda t, b: b.get("command") == "report_now")
        assert command["command_id"]
    finally:
        device.close()


def test_acknowledge_and_resolve_are_stored(serve: Serve, operator: Page) -> None:
    operator.click("button[data-action=ack]")
    operator.wait_for_selector(".alert-row[data-type=zone_violation][data-state=acknowledged]")
    resolve = operator.locator("button[data-action=resolve]")
    assert resolve.is_disabled()
    operator.fill("[data-testid=resolve-note]", "Politie ter plaatse, betrokkene aangehouden")
    assert resolve.is_disabled()  # a classification is required too
    operator.select_option("[data-testid=resolve-class]", "true_violation")
    resolve.click()
    operator.wait_for_selector(".alert-row[data-type=zone_violation]", state="detached")
    operator.wait_for_selector("[data-testid=history] li:nth-child(2)")
    history = operator.inner_text("[data-testid=history]")
    assert "A. de Vries" in history and "Echte overtreding" in history
    shot(operator, "resolved")

    alert = the_violation(serve)
    assert alert["state"] == "resolved" and alert["classification"] == "true_violation"
    assert [a["action"] for a in alert["actions"]] == ["ack", "resolve"]
    stored = stored_rows(serve, "SELECT action, actor FROM actions WHERE alert_id = ? ORDER BY at",
                         (alert["alert_id"],), lambda rows: len(rows) == 2)  # fmt: skip
    assert stored == [("ack", "A. de Vries"), ("resolve", "A. de Vries")]


def test_the_operator_calls_the_victim_and_logs_the_outcome(serve: Serve, operator: Page) -> None:
    """From the alert to the number to the logged outcome, on the same page."""
    link = operator.locator("[data-testid=phone-victim]")
    assert link.inner_text() == VICTIM_PHONE
    assert link.get_attribute("href") == "tel:+31612345678"
    operator.select_option("[data-testid=call-outcome-victim]", "no_answer")
    operator.click("button[data-action=call-victim]")
    operator.wait_for_selector("[data-testid=history] li:nth-child(3)")
    history = operator.inner_text("[data-testid=history]")
    assert "Gebeld" in history and "Slachtoffer: Niet opgenomen" in history
    shot(operator, "call-logged")
    alert = the_violation(serve)
    call = alert["actions"][-1]
    assert (call["action"], call["party"], call["outcome"]) == ("call", "victim", "no_answer")
    # the reclassering reads the case, the call in it, without the number
    case = as_role(serve, "reclassering").get(f"/api/v1/alerts/{alert['alert_id']}").json()
    assert "contacts" not in case and VICTIM_PHONE not in json.dumps(case)


def test_locations_are_kept_apart_by_role_and_reads_are_audited(serve: Serve) -> None:
    alert = the_violation(serve)
    path = f"/api/v1/alerts/{alert['alert_id']}"
    reclassering = as_role(serve, "reclassering").get(path).json()
    assert "offender_track" in reclassering and "victim_tracks" not in reclassering
    assert "victim_addresses" not in reclassering["order"]
    police = as_role(serve, "police").get(path).json()
    assert "victim_tracks" in police and police["order"]["victim_addresses"]
    assert as_role(serve, "om").get(path).status_code == 403
    expected = {("J. Jansen", "offender_track"),
                ("Meldkamer Rotterdam", "offender_track,victim_tracks")}  # fmt: skip
    readers = stored_rows(
        serve, "SELECT actor, detail FROM audit WHERE subject = ? AND action = 'read_locations'",
        (alert["alert_id"],), lambda rows: expected <= set(rows),
    )  # fmt: skip
    assert ("J. Jansen", "offender_track") in readers
    assert ("Meldkamer Rotterdam", "offender_track,victim_tracks") in readers


def test_device_board_lists_the_worst_first(operator: Page) -> None:
    operator.click("#tabs button[data-view=devices]")
    operator.wait_for_selector(f"#devices tr[data-device=vd-{SUFFIX}]")
    devices = operator.locator("#devices tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.device)"
    )
    # the victim device never sent a fix: it comes before the working ankle monitor
    assert devices.index(f"vd-{SUFFIX}") < devices.index(f"am-{SUFFIX}")
    assert "nog geen fix" in operator.inner_text(f"#devices tr[data-device=vd-{SUFFIX}]")
    shot(operator, "devices")


def test_the_om_sees_findings_and_a_suggested_zone(serve: Serve, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"http://127.0.0.1:{serve.http_port}/")
    page.fill("#token", TOKENS["om"][0])
    page.click("#login button")
    page.wait_for_selector("#tabs button[data-view=validate]:not([hidden])")
    assert page.locator("#tabs button[data-view=alerts]").is_hidden()  # the OM sees no alerts
    page.click("#tabs button[data-view=validate]")
    page.click("#run-validate")  # the template: a 500 m zone around the victim's home
    page.wait_for_selector("[data-testid=verdict].bad")
    assert page.locator("[data-code=protected_margin]").count() == 1
    page.wait_for_selector("#validate-map path.zone-suggestion")
    shot(page, "validate")
    # draw a polygon instead: it replaces the zone in the proposal
    page.click("#draw")
    box = page.locator("#validate-map").bounding_box()
    assert box is not None
    for dx, dy in ((0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)):
        page.mouse.click(box["x"] + box["width"] * dx, box["y"] + box["height"] * dy)
    page.click("#finish-draw")
    proposal = json.loads(page.input_value("#proposal"))
    ring = proposal["zones"][0]["geometry"]["coordinates"][0]
    assert proposal["zones"][0]["geometry"]["type"] == "Polygon" and len(ring) == 5
    assert "radius_m" not in proposal["zones"][0]
    page.click("#run-validate")
    page.wait_for_selector("[data-testid=verdict]")
    page.close()


def test_the_reclassering_reviews_figures_and_takes_evidence(
    serve: Serve, browser: Browser
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page.goto(f"http://127.0.0.1:{serve.http_port}/")
    page.fill("#token", TOKENS["reclassering"][0])
    page.click("#login button")
    page.wait_for_selector("#tabs button[data-view=review]:not([hidden])")
    page.click("#tabs button[data-view=review]")
    page.wait_for_selector(f"#review-order option[value=OM-{SUFFIX}]", state="attached")
    # how loud the system is: the false-alarm share of the last week, a bar a day
    page.wait_for_selector("[data-testid=alert-load]")
    assert page.inner_text("tr[data-load=load_true_share] td") == "100 %"  # resolved as true above
    assert page.inner_text("tr[data-load=load_technical_share] td") == "0 %"
    assert page.locator("[data-testid=alert-load] svg rect.bar").count() == 7
    assert page.get_attribute("[data-testid=alert-load] svg", "aria-label")
    page.select_option("#review-order", f"OM-{SUFFIX}")
    page.click("#review-form button")
    page.wait_for_selector("tr[data-figure=violations]")
    assert page.inner_text("tr[data-figure=violations] td") == "1"
    assert page.inner_text("tr[data-figure=true_violations] td") == "1"  # resolved as such above
    assert "geen gelijktijdige posities" in page.inner_text("[data-testid=closest]")
    row = page.locator("#review-detail tr[data-alert]").first
    with page.expect_download() as download:
        row.locator("button[data-format=pdf]").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    with page.expect_popup() as popup:
        row.locator("button[data-format=html]").click()
    report = popup.value
    report.wait_for_load_state()
    assert "zone_violation" in report.content()
    assert page.locator("[data-testid=alert-load]").count() == 1  # beside the order's figures
    shot(page, "review")
    page.close()


def _english_left(page: Page) -> list[str]:
    """English texts of the console found in the page's text (Dutch chosen):
    every English label that differs from its Dutch one, and any key left
    untranslated (``type_foo``: a word with an underscore)."""
    text = page.inner_text("body")
    english = page.evaluate(
        "() => Object.entries(TEXT.en).filter(([k, v]) => TEXT.nl[k] !== v)"
        ".map(([k, v]) => v.replace(/\\{[a-z_]+\\}/g, '').trim())"
    )
    found = [e for e in english if len(e) >= 4 and re.search(rf"(?<!\w){re.escape(e)}(?!\w)", text)]
    return found + re.findall(r"(?<![\w-])[a-z]+_[a-z_]+(?![\w-])", text)


def test_the_dutch_console_holds_no_english(serve: Serve, operator: Page, browser: Browser) -> None:
    """Walked as an operator (queue and an alert, devices, orders) and as the
    OM and the reclassering: nothing English but proper names."""
    operator.click("#tabs button[data-view=alerts]")
    operator.click(".alert-row[data-type=zone_prealert]")
    operator.wait_for_selector("[data-testid=decision]")
    left = {"alerts": _english_left(operator)}
    operator.click("#tabs button[data-view=devices]")
    operator.wait_for_selector("[data-testid=devices] tr, #devices tr", state="attached")
    left["devices"] = _english_left(operator)
    operator.click("#tabs button[data-view=orders]")
    operator.wait_for_selector("[data-testid=orders] li")
    operator.click("[data-testid=orders] li")
    left["orders"] = _english_left(operator)
    for role, view in (("om", "validate"), ("reclassering", "review")):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"http://127.0.0.1:{serve.http_port}/")
        page.fill("#token", TOKENS[role][0])
        page.click("#login button")
        page.wait_for_selector(f"#tabs button[data-view={view}]:not([hidden])")
        page.click(f"#tabs button[data-view={view}]")
        page.wait_for_timeout(500)
        left[role] = _english_left(page)
        page.close()
    operator.click("#tabs button[data-view=alerts]")
    assert {where: found for where, found in left.items() if found} == {}


def test_the_interface_speaks_dutch_and_english(operator: Page) -> None:
    operator.click("#tabs button[data-view=alerts]")
    assert operator.inner_text("#tabs button[data-view=alerts]") == "Meldingen"
    operator.select_option("#lang", "en")
    assert operator.inner_text("#tabs button[data-view=alerts]") == "Alerts"
    assert operator.inner_text(".alert-row[data-type=zone_prealert] .type") == "Zone pre-alert"
    shot(operator, "english")
    operator.select_option("#lang", "nl")
    assert operator.inner_text(".alert-row[data-type=zone_prealert] .type") == "Zone-vooralarm"
