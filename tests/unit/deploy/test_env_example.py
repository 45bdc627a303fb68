""".env.example lists every setting once, and each value it shows is the setting's real default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from courier_adapters.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]


def shown() -> dict[str, str]:
    entries = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("# COURIER_"):
            name, _, value = line[2:].partition("=")
            assert name not in entries, f"{name} twice"
            entries[name] = value
    return entries


def test_every_setting_is_listed_once() -> None:
    assert set(shown()) == {f"COURIER_{f.metadata['env']}" for f in dataclasses.fields(Settings)}


def test_every_value_shown_is_the_default() -> None:
    given = {name: value for name, value in shown().items() if value}
    assert load_settings(given, dotenv=None) == Settings()
