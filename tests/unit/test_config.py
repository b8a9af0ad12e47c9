"""Configuration declared once: the README says what emon/config.py declares, and bad values are named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emon.config import KEYS, SECTIONS, Config, load_file
from emon.service.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(EMON_[A-Z_]+)` \| ([^|]+) \| ([^|]+) \| (.+) \|$", re.M)
SECTION_ROW = re.compile(r"^\| `([a-z_]+)` \| (.+) \|$", re.M)


def test_the_readme_table_is_the_declared_configuration():
    text = README.read_text()
    documented = {m.group(1): (m.group(2).strip(), m.group(3).strip(), m.group(4).strip())
                  for m in ROW.finditer(text)}  # fmt: skip
    declared = {k.name: (k.kind, f"`{k.default}`" if k.default else "-", k.doc) for k in KEYS}
    assert documented == declared
    sections = {m.group(1): m.group(2).strip() for m in SECTION_ROW.finditer(text)}
    assert {k: sections.get(k) for k in SECTIONS} == SECTIONS


def test_every_variable_emon_reads_is_declared():
    source = "\n".join(p.read_text() for p in (README.parent / "emon").rglob("*.py"))
    used = set(re.findall(r"\"(EMON_[A-Z_]+)\"", source))
    assert used <= {k.name for k in KEYS}


def test_settings_come_from_an_injected_environment():
    env = Config({"EMON_HTTP": "127.0.0.1:9999", "EMON_QUEUE_LIMIT": "5", "EMON_BROKER_PORT": "2883",
                  "EMON_RESEND_AFTER_S": "2.5"})  # fmt: skip
    settings = Settings.from_args(None, None, None, env=env)
    assert (settings.http, settings.queue_limit, settings.broker_port, settings.resend_after_s) == (
        "127.0.0.1:9999", 5, 2883, 2.5)  # fmt: skip
    defaults = Settings.from_args(None, None, None, env=Config({}))
    assert (defaults.http, defaults.queue_limit, defaults.mqtt_client_id) == (
        "127.0.0.1:8080", 100_000, "emon-engine")  # fmt: skip


@pytest.mark.parametrize("name, value", [("EMON_BROKER_PORT", "abc"), ("EMON_QUEUE_LIMIT", "0"),
                                         ("EMON_RESEND_AFTER_S", "nan"),
                                         ("EMON_RESEND_AFTER_S", "-3")])  # fmt: skip
def test_a_bad_value_is_named(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_args(None, None, None, env=Config({name: value}))


def test_an_unknown_config_section_is_an_error_not_ignored(tmp_path):
    path = tmp_path / "emon.json"
    path.write_text('{"routnig": {}}')
    with pytest.raises(ValueError, match="routnig"):
        load_file(path)
